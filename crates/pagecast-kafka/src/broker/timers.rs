//! The group coordinator's deadlines, one timer per deadline as Kafka's coordinator
//! keeps them: a member's session, a lapsing member ID, a rebalance's end. A timer is named by a key; scheduling a key again
//! moves it, so a heartbeat that pushes a session out costs one reschedule rather than
//! a timer more.
//!
//! A timer that fires checks the state it is about (the member may have gone or heard
//! from since): a timer is never cancelled, only moved or left to find nothing to do.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// What a timer is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A classic member's session: group, member ID.
    Session(String, String),
    /// A member ID handed out with MEMBER_ID_REQUIRED that lapses if unused.
    Pending(String, String),
    /// The end of a classic group's join phase (its rebalance timeout, or its initial
    /// delay).
    Join(String),
    /// A consumer-protocol member's session: group, member ID.
    ConsumerSession(String, String),
    /// A consumer-protocol member's time to give up revoked partitions.
    Revocation(String, String),
}

/// Timers by deadline.
#[derive(Debug, Default)]
pub struct Timers {
    by_key: HashMap<Timer, (Instant, u64)>,
    queue: BTreeMap<(Instant, u64), Timer>,
    next_seq: u64,
    /// Whether the earliest deadline moved earlier since [`Timers::take_moved`].
    moved: bool,
}

impl Timers {
    /// Sets `key` to fire at `at`, moving it if it was set.
    pub fn schedule(&mut self, key: Timer, at: Instant) {
        if let Some(old) = self.by_key.remove(&key) {
            self.queue.remove(&old);
        }
        if self.next().is_none_or(|first| at < first) {
            self.moved = true;
        }
        self.next_seq += 1;
        let slot = (at, self.next_seq);
        self.by_key.insert(key.clone(), slot);
        self.queue.insert(slot, key);
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the timers due at `now`, earliest first.
    pub fn due(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.by_key.remove(&key);
            out.push(key);
        }
        out
    }

    /// Whether the earliest deadline moved earlier since the last call: whoever
    /// sleeps until it must wake and look again.
    pub fn take_moved(&mut self) -> bool {
        std::mem::take(&mut self.moved)
    }

    /// Timers set.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_fire_in_order_and_move_when_set_again() {
        let mut t = Timers::default();
        let t0 = Instant::now();
        let a = Timer::Session("g".into(), "a".into());
        let b = Timer::Session("g".into(), "b".into());
        t.schedule(a.clone(), t0 + Duration::from_secs(10));
        assert!(t.take_moved(), "the first deadline wakes the sleeper");
        t.schedule(b.clone(), t0 + Duration::from_secs(5));
        assert!(t.take_moved());
        // a heartbeat pushes a out: it does not move the earliest deadline.
        t.schedule(a.clone(), t0 + Duration::from_secs(20));
        assert!(!t.take_moved());
        assert_eq!(t.len(), 2, "set again, not added");
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(5)));
        assert!(t.due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(t.due(t0 + Duration::from_secs(10)), [b]);
        assert_eq!(t.due(t0 + Duration::from_secs(20)), [a]);
        assert_eq!(t.len(), 0);
        assert_eq!(t.next(), None);
    }
}
