//! `gatehouse sessions list|revoke`: inspect and end sessions in the
//! configured shared store, from the command line.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::config::{Config, StoreUrl};
use crate::store::{SessionRecord, SessionStore};

/// How long the command waits for Redis to answer before giving up.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// What to do.
pub enum Action<'a> {
    List { user: Option<&'a str> },
    RevokeUser(&'a str),
    RevokeAll,
}

/// Why the command failed; one readable sentence.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}: [store] url is memory://: those sessions live inside the running gatehouse process; the sessions commands need a shared store (Redis)")]
    EmbeddedStore(String),
    #[error("session store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Runs `action` against the store of `config` and returns what to print.
pub async fn run(config: &Config, action: Action<'_>) -> Result<String, AdminError> {
    if config.store.url == StoreUrl::Memory {
        return Err(AdminError::EmbeddedStore(config.path.display().to_string()));
    }
    let store = SessionStore::open(&config.store)?;
    wait_until_connected(&store).await?;
    match action {
        Action::List { user } => Ok(table(&store.list(user).await?)),
        Action::RevokeUser(user) => {
            let n = store.remove_user(user).await?;
            Ok(format!("revoked {n} session(s) of {user}\n"))
        }
        Action::RevokeAll => {
            let n = store.remove_all().await?;
            Ok(format!("revoked {n} session(s)\n"))
        }
    }
}

/// The store connects in the background; give it a moment.
async fn wait_until_connected(store: &SessionStore) -> Result<(), AdminError> {
    let deadline = tokio::time::Instant::now() + CONNECT_WAIT;
    loop {
        match store.ping().await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One line per session, oldest first; never the session id (the store
/// does not have it).
fn table(sessions: &[SessionRecord]) -> String {
    let mut sessions: Vec<&SessionRecord> = sessions.iter().collect();
    sessions.sort_by_key(|s| (s.created, s.user.clone()));
    let mut out = String::from("USER\tCREATED\tLAST SEEN\tCLIENT\tUSER AGENT\n");
    for s in sessions {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            s.user,
            time(s.created),
            time(s.last_seen),
            s.client_addr,
            s.user_agent.replace(['\t', '\n', '\r'], " "),
        );
    }
    out
}

fn time(unix_secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(unix_secs)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_sessions_oldest_first_without_ids() {
        let record = |user: &str, created: u64| SessionRecord {
            user: user.into(),
            email: None,
            groups: vec![],
            created,
            last_seen: created + 60,
            absolute_expiry: created + 3600,
            client_addr: "192.0.2.1".into(),
            user_agent: "Mozilla\t5".into(),
            tokens: None,
        };
        let text = table(&[record("bob", 2_000_000_000), record("alice", 1_800_000_000)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].starts_with(
            "alice\t2027-01-15T08:00:00Z\t2027-01-15T08:01:00Z\t192.0.2.1\tMozilla 5"
        ));
        assert!(lines[2].starts_with("bob\t"));
    }
}
