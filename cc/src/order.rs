//! The one ordering of waiting callers, used by dispatch, `ccPosition`, `ewt` and the
//! snapshot alike (Webitel's ccPosition disagrees with its matcher; mod_callcenter #2511
//! serves the 8th caller first).
//!
//! A caller's place is its key: the priority band first (queue priority + the caller's
//! `priority` + its bucket's priority; higher first), then the time it counts as waiting
//! since (earlier first: the join time, moved back by the time it had waited before when it
//! rejoins within the queue's abandon-resume window), then the attempt id (earlier first).
//! The store sorts and counts with the SQL below, built from the same three columns, so the
//! comparator and the database cannot disagree.

use std::cmp::Ordering;

/// A waiting caller's place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderKey {
    pub band: i64,
    pub since_ms: i64,
    pub id: i64,
}

impl Ord for OrderKey {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .band
            .cmp(&self.band)
            .then(self.since_ms.cmp(&other.since_ms))
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for OrderKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `ORDER BY` of attempts in dispatch order (columns `band`, `since_ms`, `id`).
pub const ORDER_BY_SQL: &str = "band DESC, since_ms ASC, id ASC";

/// Condition "served before the attempt whose key is bound as `?1` (band), `?2` (since_ms),
/// `?3` (id)": the count of rows matching it, plus one, is a caller's position.
pub const BEFORE_SQL: &str =
    "(band > ?1 OR (band = ?1 AND (since_ms < ?2 OR (since_ms = ?2 AND id < ?3))))";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn higher_band_then_longer_wait_then_earlier_id() {
        let k = |band, since_ms, id| OrderKey { band, since_ms, id };
        let mut keys = [
            k(0, 100, 1),
            k(5, 300, 2),
            k(0, 50, 3),
            k(0, 100, 0),
            k(5, 200, 4),
        ];
        keys.sort();
        assert_eq!(
            keys.iter().map(|k| k.id).collect::<Vec<_>>(),
            vec![4, 2, 3, 0, 1]
        );
    }
}
