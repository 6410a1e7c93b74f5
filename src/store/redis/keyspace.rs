//! Naming keys and walking them: key names, `SCAN` (of every master on a
//! cluster, each with its own cursor), and reading records in batches.

use std::collections::HashSet;

use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

use super::connection::Conn;
use super::{parse_record, RedisStore, SCAN_BATCH};
use crate::store::{SessionRecord, StoreError};

impl RedisStore {
    /// Reads session records by full key; returns the readable ones and the
    /// indexes of keys that no longer exist. On a cluster the crate splits
    /// the `MGET` by slot and puts the answers back in order.
    pub(super) async fn read_sessions(
        &self,
        conn: &mut Conn,
        keys: &[String],
    ) -> Result<(Vec<SessionRecord>, Vec<usize>), StoreError> {
        if keys.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let values: Vec<Option<String>> = self.bounded(redis::cmd("MGET").arg(keys), conn).await?;
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for (i, value) in values.into_iter().enumerate() {
            match value {
                Some(raw) => found.extend(parse_record(&keys[i], &raw)),
                None => missing.push(i),
            }
        }
        Ok((found, missing))
    }

    /// Every key under `prefix + kind + "*"`, by `SCAN` (never `KEYS`, which
    /// blocks Redis for every other instance), each step bounded. On a
    /// cluster every master is scanned to its end: a cursor belongs to one
    /// node, so one `SCAN` sent "anywhere" would see a third of the keys.
    pub(super) async fn scan(
        &self,
        conn: &mut Conn,
        kind: &str,
    ) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}{kind}*", glob_escape(&self.inner.prefix));
        // SCAN may return a key more than once.
        let mut keys = HashSet::new();
        let routes = match conn {
            Conn::Cluster(_) => self
                .master_routes(conn)
                .await?
                .into_iter()
                .map(Some)
                .collect(),
            _ => vec![None],
        };
        for route in routes {
            let mut cursor: u64 = 0;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(SCAN_BATCH);
                let (next, batch): (u64, Vec<String>) = match (&route, &mut *conn) {
                    (Some(route), Conn::Cluster(cluster)) => {
                        let routing =
                            RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(*route));
                        let value = self
                            .within_timeout(async {
                                cluster
                                    .route_command(cmd, routing)
                                    .await
                                    .map_err(|e| self.failed(e))
                            })
                            .await?;
                        redis::from_redis_value(value)
                            .map_err(|e| StoreError::Backend(e.to_string()))?
                    }
                    _ => self.bounded(&cmd, conn).await?,
                };
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// One route per master of the cluster: the first slot of a range it
    /// serves, from `CLUSTER SLOTS`. (A reshard during a scan can move that
    /// slot and cut the walk short; this serves the admin CLI, not requests.)
    async fn master_routes(&self, conn: &mut Conn) -> Result<Vec<Route>, StoreError> {
        let slots: Value = self
            .bounded(redis::cmd("CLUSTER").arg("SLOTS"), conn)
            .await?;
        let Value::Array(ranges) = slots else {
            return Err(StoreError::Backend("unexpected CLUSTER SLOTS reply".into()));
        };
        let mut masters = HashSet::new();
        let mut routes = Vec::new();
        for range in ranges {
            let Value::Array(fields) = range else {
                continue;
            };
            let (Some(Value::Int(start)), Some(Value::Array(master))) =
                (fields.first(), fields.get(2))
            else {
                continue;
            };
            let node = format!("{:?}", master.iter().take(2).collect::<Vec<_>>());
            if let (true, Ok(slot)) = (masters.insert(node), u16::try_from(*start)) {
                routes.push(Route::new(slot, SlotAddr::Master));
            }
        }
        if routes.is_empty() {
            return Err(StoreError::Backend("the cluster serves no slots".into()));
        }
        Ok(routes)
    }

    pub(super) fn session_key(&self, key: &str) -> String {
        format!("{}s:{key}", self.inner.prefix)
    }

    pub(super) fn user_key(&self, user: &str) -> String {
        format!("{}u:{user}", self.inner.prefix)
    }

    pub(super) fn failure_key(&self, scope: &str) -> String {
        format!("{}f:{scope}", self.inner.prefix)
    }
}

/// Escapes glob metacharacters so a key prefix is matched literally.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_matched_literally() {
        assert_eq!(glob_escape("gh:"), "gh:");
        assert_eq!(glob_escape(r"a*b?[c]\"), r"a\*b\?\[c\]\\");
    }
}
