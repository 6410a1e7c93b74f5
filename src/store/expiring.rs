//! A bounded map whose entries expire: the building block of the embedded
//! store. An index ordered by expiry makes purging expired entries and
//! evicting the one closest to expiry cheap (O(log n) each), so no insert
//! ever scans the whole map.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// A string-keyed map of entries with deadlines, holding at most
/// `capacity` of them.
#[derive(Debug)]
pub(super) struct ExpiringMap<V> {
    entries: HashMap<String, (V, Instant)>,
    /// The same keys ordered by deadline: the first one expires first.
    by_expiry: BTreeSet<(Instant, String)>,
    capacity: usize,
}

/// `now + ttl`, saturating instead of panicking on absurd TTLs.
pub(super) fn deadline(now: Instant, ttl: Duration) -> Instant {
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

impl<V> ExpiringMap<V> {
    /// A map that holds at most `capacity` entries (at least one).
    pub(super) fn new(capacity: usize) -> Self {
        ExpiringMap {
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// The live value under `key` and its deadline; expired entries are
    /// invisible even before they are purged.
    pub(super) fn get(&self, key: &str, now: Instant) -> Option<(&V, Instant)> {
        match self.entries.get(key) {
            Some((value, expires)) if *expires > now => Some((value, *expires)),
            _ => None,
        }
    }

    /// Mutable access to a live value; its deadline is unchanged.
    pub(super) fn get_mut(&mut self, key: &str, now: Instant) -> Option<&mut V> {
        match self.entries.get_mut(key) {
            Some((value, expires)) if *expires > now => Some(value),
            _ => None,
        }
    }

    /// Inserts or replaces `key`, first purging expired entries and then, if
    /// still full, evicting the entries closest to expiry: they are the
    /// least valuable to keep. Returns every entry that left the map
    /// (including a replaced value under `key`) so the caller can update
    /// its own indexes.
    pub(super) fn insert(
        &mut self,
        key: String,
        value: V,
        expires: Instant,
        now: Instant,
    ) -> Vec<(String, V)> {
        let mut gone = self.purge_expired(now);
        if let Some((old, old_expires)) = self.entries.remove(&key) {
            self.by_expiry.remove(&(old_expires, key.clone()));
            gone.push((key.clone(), old));
        }
        while self.entries.len() >= self.capacity {
            let Some((_, victim)) = self.by_expiry.pop_first() else {
                break;
            };
            if let Some((old, _)) = self.entries.remove(&victim) {
                gone.push((victim, old));
            }
        }
        self.by_expiry.insert((expires, key.clone()));
        self.entries.insert(key, (value, expires));
        gone
    }

    /// Removes `key`; returns its value only if it was still live.
    pub(super) fn remove(&mut self, key: &str, now: Instant) -> Option<V> {
        let (value, expires) = self.entries.remove(key)?;
        self.by_expiry.remove(&(expires, key.to_owned()));
        (expires > now).then_some(value)
    }

    /// Drops every expired entry and returns them.
    pub(super) fn purge_expired(&mut self, now: Instant) -> Vec<(String, V)> {
        let mut gone = Vec::new();
        while let Some((expires, _)) = self.by_expiry.first() {
            if *expires > now {
                break;
            }
            let Some((_, key)) = self.by_expiry.pop_first() else {
                break;
            };
            if let Some((value, _)) = self.entries.remove(&key) {
                gone.push((key, value));
            }
        }
        gone
    }

    /// Every live entry, in no particular order.
    pub(super) fn live(&self, now: Instant) -> impl Iterator<Item = (&String, &V)> {
        self.entries
            .iter()
            .filter(move |(_, (_, expires))| *expires > now)
            .map(|(key, (value, _))| (key, value))
    }

    /// Removes everything; returns how many entries were live.
    pub(super) fn clear(&mut self, now: Instant) -> usize {
        let live = self.live(now).count();
        self.entries.clear();
        self.by_expiry.clear();
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn entries_vanish_at_their_deadline() {
        let now = Instant::now();
        let mut map = ExpiringMap::new(10);
        map.insert("a".into(), 1, now + secs(5), now);
        assert_eq!(map.get("a", now + secs(4)).map(|(v, _)| *v), Some(1));
        assert!(map.get("a", now + secs(5)).is_none());
        assert_eq!(map.purge_expired(now + secs(5)).len(), 1);
        assert!(map.entries.is_empty() && map.by_expiry.is_empty());
    }

    #[test]
    fn full_map_evicts_the_entry_closest_to_expiry() {
        let now = Instant::now();
        let mut map = ExpiringMap::new(2);
        map.insert("late".into(), 1, now + secs(50), now);
        map.insert("soon".into(), 2, now + secs(10), now);
        let gone = map.insert("new".into(), 3, now + secs(30), now);
        assert_eq!(gone, vec![("soon".to_owned(), 2)]);
        assert!(map.get("late", now).is_some());
        assert!(map.get("new", now).is_some());
    }

    #[test]
    fn expired_entries_are_purged_before_anything_is_evicted() {
        let now = Instant::now();
        let mut map = ExpiringMap::new(2);
        map.insert("dead".into(), 1, now + secs(1), now);
        map.insert("live".into(), 2, now + secs(50), now);
        let later = now + secs(2);
        let gone = map.insert("new".into(), 3, later + secs(10), later);
        assert_eq!(gone, vec![("dead".to_owned(), 1)]);
        assert!(map.get("live", later).is_some());
    }

    #[test]
    fn replacing_a_key_reports_the_old_value_and_keeps_one_index_entry() {
        let now = Instant::now();
        let mut map = ExpiringMap::new(2);
        map.insert("a".into(), 1, now + secs(5), now);
        let gone = map.insert("a".into(), 2, now + secs(9), now);
        assert_eq!(gone, vec![("a".to_owned(), 1)]);
        assert_eq!(map.by_expiry.len(), 1);
        assert_eq!(map.remove("a", now), Some(2));
        assert!(map.by_expiry.is_empty());
    }

    #[test]
    fn absurd_ttls_saturate() {
        let now = Instant::now();
        assert!(deadline(now, Duration::MAX) > now);
    }
}
