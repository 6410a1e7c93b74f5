//! `[store]`: where sessions live. One of three forms, never two at once:
//! `url` (embedded or one Redis), `cluster` (seed nodes of a Redis
//! Cluster), or `sentinels` + `sentinel_master` (a master found through
//! Redis Sentinel). `url = "memory://"` (the default) may stand beside the
//! other two, since it is what an absent `url` means anyway.

use toml::Spanned;

use super::defaults as default;
use super::raw::RawStore;
use super::validate::{Checker, Zero};
use super::{ConfigError, SentinelTarget, Store, StoreUrl};

/// Schemes a single Redis may be reached by.
const REDIS_SCHEMES: [&str; 3] = ["redis://", "rediss://", "redis+unix://"];
/// Schemes of cluster seeds and sentinels: the redis crate reaches cluster
/// nodes and sentinels over TCP only (nodes announce IP and port).
const TCP_SCHEMES: [&str; 2] = ["redis://", "rediss://"];

impl Checker<'_> {
    pub(super) fn store(&self, raw: &RawStore) -> Result<Store, ConfigError> {
        Ok(Store {
            url: self.store_target(raw)?,
            key_prefix: raw
                .key_prefix
                .as_ref()
                .map_or(default::STORE_KEY_PREFIX.to_string(), |p| {
                    p.get_ref().clone()
                }),
            cache_capacity: raw
                .cache_capacity
                .as_ref()
                .map_or(default::STORE_CACHE_CAPACITY_SESSIONS, |c| *c.get_ref()),
            timeout: self.duration(
                "store.timeout",
                &raw.timeout,
                default::STORE_TIMEOUT,
                Zero::Refused,
            )?,
            max_entries: self.at_least(
                "store.max_entries",
                &raw.max_entries,
                default::STORE_MAX_ENTRIES,
                1,
                "",
            )?,
        })
    }

    /// Which of the three forms the file uses, each checked.
    fn store_target(&self, raw: &RawStore) -> Result<StoreUrl, ConfigError> {
        let url = self.store_url(raw)?;
        let topology_key = match (&raw.cluster, &raw.sentinels) {
            (Some(_), Some(sentinels)) => {
                let reason = "use either `cluster` or `sentinels`, not both".to_string();
                return Err(self.error("store.sentinels", Some(sentinels), reason));
            }
            (Some(cluster), None) => Some(("store.cluster", cluster)),
            (None, Some(sentinels)) => Some(("store.sentinels", sentinels)),
            (None, None) => None,
        };
        if raw.sentinels.is_none() {
            if let Some(master) = &raw.sentinel_master {
                let reason = "only means something with `sentinels`".to_string();
                return Err(self.error("store.sentinel_master", Some(master), reason));
            }
            if let Some(db) = &raw.sentinel_db {
                let reason = "only means something with `sentinels`".to_string();
                return Err(self.error("store.sentinel_db", Some(db), reason));
            }
        }
        let Some((key, _)) = topology_key else {
            return Ok(url);
        };
        if url != StoreUrl::Memory {
            let reason = format!(
                "`url` names one server and `{}` several: keep one of them",
                key.trim_start_matches("store.")
            );
            return Err(self.error("store.url", raw.url.as_ref(), reason));
        }
        if let Some(cluster) = &raw.cluster {
            return Ok(StoreUrl::Cluster(self.node_list("store.cluster", cluster)?));
        }
        let sentinels = raw.sentinels.as_ref().expect("one of the two is set");
        let sentinels = self.node_list("store.sentinels", sentinels)?;
        let master = match &raw.sentinel_master {
            Some(name) if !name.get_ref().trim().is_empty() => name.get_ref().trim().to_string(),
            Some(name) => {
                let reason = "must name the master the sentinels monitor".to_string();
                return Err(self.error("store.sentinel_master", Some(name), reason));
            }
            None => {
                let reason = "is required with `sentinels`: the name the sentinels monitor \
                              the master under (e.g. \"mymaster\")"
                    .to_string();
                return Err(self.error("store.sentinel_master", raw.sentinels.as_ref(), reason));
            }
        };
        let db = match &raw.sentinel_db {
            None => 0,
            Some(db) if *db.get_ref() >= 0 => *db.get_ref(),
            Some(db) => {
                let reason = format!("{} is not a database number", db.get_ref());
                return Err(self.error("store.sentinel_db", Some(db), reason));
            }
        };
        Ok(StoreUrl::Sentinel(SentinelTarget {
            sentinels,
            master,
            db,
        }))
    }

    /// `[store] url`: `memory://` or one Redis.
    fn store_url(&self, raw: &RawStore) -> Result<StoreUrl, ConfigError> {
        let Some(url) = &raw.url else {
            return Ok(StoreUrl::Memory);
        };
        match url.get_ref().trim() {
            "memory://" => Ok(StoreUrl::Memory),
            u if REDIS_SCHEMES.iter().any(|scheme| u.starts_with(scheme)) => {
                Ok(StoreUrl::Redis(u.to_string()))
            }
            u => {
                let reason = format!(
                    "{u:?} is not a store URL (use \"memory://\", \"redis://host:port/db\", \
                     \"rediss://…\" or \"redis+unix:///path\")"
                );
                Err(self.error("store.url", Some(url), reason))
            }
        }
    }

    /// A non-empty list of `redis://` / `rediss://` node addresses.
    fn node_list(
        &self,
        key: &str,
        list: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Vec<String>, ConfigError> {
        if list.get_ref().is_empty() {
            let reason = "must list at least one node (e.g. [\"redis://10.0.0.1:6379\"])".into();
            return Err(self.error(key, Some(list), reason));
        }
        let mut nodes = Vec::with_capacity(list.get_ref().len());
        for (i, node) in list.get_ref().iter().enumerate() {
            let text = node.get_ref().trim();
            if !TCP_SCHEMES.iter().any(|scheme| text.starts_with(scheme)) {
                let reason = format!(
                    "{text:?} is not a node address (use \"redis://host:port\" or \"rediss://host:port\")"
                );
                return Err(self.error(&format!("{key}[{i}]"), Some(node), reason));
            }
            nodes.push(text.to_string());
        }
        Ok(nodes)
    }
}
