//! Fetch sessions (KIP-227), as Kafka's FetchSession and FetchSessionCache keep them.
//!
//! A consumer of many partitions opens a session with a full fetch at epoch 0; the
//! broker answers with a session ID. Each later fetch carries the ID and the next epoch,
//! and names only the partitions added or whose fetch position or size changed, and
//! those to forget; the broker fetches every partition of the session and answers only
//! those with news: records, an error, or a moved high watermark or log start offset.
//! A consumer of 1,000 idle partitions then sends and receives a few bytes a poll
//! instead of every partition both ways.
//!
//! Pure state, time passed in, no I/O. The cache holds at most `slots` sessions (Kafka's
//! `max.incremental.fetch.session.cache.slots`, 1000; 0 turns sessions off); a new
//! session takes the place of the least recently used one only if that one has been idle
//! for [`EVICTION_AFTER`], otherwise the fetch goes on without a session. A session holds
//! only partitions that exist: one that names a partition that does not is closed (the
//! client's next fetch gets FETCH_SESSION_ID_NOT_FOUND and starts over with a full
//! one), so all sessions together hold at most `slots` times the broker's partitions.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::codec::Uuid;
use crate::error::ErrorCode;

/// Sessions kept at most, by default (Kafka's `max.incremental.fetch.session.cache.slots`).
pub const DEFAULT_SLOTS: usize = 1000;
/// How long a session must have been idle before a new one may evict it (Kafka's
/// `MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub const EVICTION_AFTER: Duration = Duration::from_secs(120);
/// The epoch of a fetch that opens a session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a fetch without a session, or that closes one.
pub const FINAL_EPOCH: i32 = -1;

/// A topic as a fetch names it: by name (before v13) or by ID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TopicKey {
    Name(String),
    Id(Uuid),
}

/// A partition of a fetch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub topic: TopicKey,
    pub partition: i32,
}

/// A partition as a fetch asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Requested {
    pub key: Key,
    pub fetch_offset: i64,
    pub max_bytes: i32,
}

/// A partition of a session: what the client last asked for, and what it was last told.
#[derive(Clone, Debug)]
struct Cached {
    asked: Requested,
    high_watermark: i64,
    log_start: i64,
}

/// What a fetch of one partition found, for deciding what the client must hear of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    pub has_records: bool,
    pub error: ErrorCode,
    pub high_watermark: i64,
    pub log_start: i64,
}

struct Session {
    /// The epoch the next fetch must carry.
    next_epoch: i32,
    /// In the order answers go out: partitions that returned records move to the end,
    /// so a response full of one partition's data does not starve the others.
    partitions: Vec<Cached>,
    last_used: Instant,
}

/// How to answer a fetch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Fetch and answer every partition the request names. `session_id` goes in the
    /// response: a new session's, or 0 for none.
    Full { session_id: i32 },
    /// Fetch these partitions of the session and answer those with news.
    Incremental {
        session_id: i32,
        partitions: Vec<Requested>,
    },
    /// Answer with this top-level error and no partitions.
    Refuse(ErrorCode),
}

/// The session cache.
pub(crate) struct Sessions {
    slots: usize,
    sessions: HashMap<i32, Session>,
    /// State of the session-ID generator (xorshift), seeded from the clock.
    seed: u64,
}

fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX { 1 } else { epoch + 1 }
}

impl Sessions {
    /// A cache of at most `slots` sessions.
    pub fn new(slots: usize) -> Sessions {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Sessions {
            slots,
            sessions: HashMap::new(),
            seed,
        }
    }

    /// Sessions held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    fn new_id(&mut self) -> i32 {
        loop {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            let id = (self.seed >> 33) as i32;
            if id > 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Makes room for a new session if the cache allows one; whether it did.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.slots == 0 {
            return false;
        }
        if self.sessions.len() < self.slots {
            return true;
        }
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(id, s)| (*id, s.last_used));
        match oldest {
            Some((id, used)) if now.duration_since(used) >= EVICTION_AFTER => {
                self.sessions.remove(&id);
                true
            }
            _ => false,
        }
    }

    /// Decides how to answer a fetch carrying `session_id` and `epoch`, naming
    /// `requested` partitions and forgetting `forgotten` ones (requests before v7 carry
    /// no session: ID 0, epoch -1).
    pub fn begin(
        &mut self,
        session_id: i32,
        epoch: i32,
        requested: Vec<Requested>,
        forgotten: &[Key],
        now: Instant,
    ) -> Plan {
        match epoch {
            FINAL_EPOCH => {
                self.sessions.remove(&session_id);
                Plan::Full { session_id: 0 }
            }
            INITIAL_EPOCH => {
                self.sessions.remove(&session_id);
                if !self.make_room(now) {
                    return Plan::Full { session_id: 0 };
                }
                let id = self.new_id();
                let mut partitions = Vec::with_capacity(requested.len());
                upsert(&mut partitions, requested);
                self.sessions.insert(
                    id,
                    Session {
                        next_epoch: next_epoch(INITIAL_EPOCH),
                        partitions,
                        last_used: now,
                    },
                );
                Plan::Full { session_id: id }
            }
            epoch => {
                let Some(session) = self.sessions.get_mut(&session_id) else {
                    return Plan::Refuse(ErrorCode::FETCH_SESSION_ID_NOT_FOUND);
                };
                if epoch != session.next_epoch {
                    return Plan::Refuse(ErrorCode::INVALID_FETCH_SESSION_EPOCH);
                }
                session.next_epoch = next_epoch(epoch);
                session.last_used = now;
                if !forgotten.is_empty() {
                    let forgotten: HashSet<&Key> = forgotten.iter().collect();
                    session
                        .partitions
                        .retain(|c| !forgotten.contains(&c.asked.key));
                }
                upsert(&mut session.partitions, requested);
                Plan::Incremental {
                    session_id,
                    partitions: session.partitions.iter().map(|c| c.asked.clone()).collect(),
                }
            }
        }
    }

    /// After a session's partitions were fetched (`outcomes` in the order
    /// [`Sessions::begin`] gave them, or the request's for a new session): records what
    /// the client is told, and returns which partitions go in the response (all of them
    /// for a full fetch; for an incremental one, those with news) and whether the
    /// session lives on. Partitions that returned records move to the end; a partition
    /// that does not exist closes the session.
    pub fn finish(
        &mut self,
        session_id: i32,
        full: bool,
        outcomes: &[(Key, Outcome)],
    ) -> (Vec<bool>, bool) {
        let mut include = vec![true; outcomes.len()];
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return (include, false);
        };
        let at: HashMap<&Key, usize> = outcomes
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k, i))
            .collect();
        let mut kept = Vec::with_capacity(session.partitions.len());
        let mut moved = Vec::new();
        let mut gone = false;
        for mut c in std::mem::take(&mut session.partitions) {
            let Some(&i) = at.get(&c.asked.key) else {
                kept.push(c);
                continue;
            };
            let o = outcomes[i].1;
            let news = o.has_records
                || !o.error.is_none()
                || o.high_watermark != c.high_watermark
                || o.log_start != c.log_start;
            include[i] = full || news;
            // After an error the client must hear of the partition again once it
            // clears, whatever its offsets are then.
            (c.high_watermark, c.log_start) = if o.error.is_none() {
                (o.high_watermark, o.log_start)
            } else {
                (-1, -1)
            };
            gone |= matches!(
                o.error,
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID
            );
            if o.has_records {
                moved.push(c);
            } else {
                kept.push(c);
            }
        }
        kept.extend(moved);
        session.partitions = kept;
        if gone {
            self.sessions.remove(&session_id);
        }
        (include, !gone)
    }
}

/// Adds the partitions asked for at the end of `partitions`, or updates those it holds
/// in place.
fn upsert(partitions: &mut Vec<Cached>, requested: Vec<Requested>) {
    let mut at: HashMap<Key, usize> = partitions
        .iter()
        .enumerate()
        .map(|(i, c)| (c.asked.key.clone(), i))
        .collect();
    for asked in requested {
        match at.get(&asked.key) {
            Some(&i) => partitions[i].asked = asked,
            None => {
                at.insert(asked.key.clone(), partitions.len());
                partitions.push(Cached {
                    asked,
                    high_watermark: -1,
                    log_start: -1,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, partition: i32) -> Key {
        Key {
            topic: TopicKey::Name(topic.into()),
            partition,
        }
    }

    fn asked(topic: &str, partition: i32, offset: i64) -> Requested {
        Requested {
            key: key(topic, partition),
            fetch_offset: offset,
            max_bytes: 1 << 20,
        }
    }

    fn idle(hw: i64) -> Outcome {
        Outcome {
            has_records: false,
            error: ErrorCode::NONE,
            high_watermark: hw,
            log_start: 0,
        }
    }

    fn incremental(plan: Plan) -> Vec<Requested> {
        match plan {
            Plan::Incremental { partitions, .. } => partitions,
            other => panic!("not incremental: {other:?}"),
        }
    }

    #[test]
    fn a_session_answers_only_news_and_follows_added_changed_and_forgotten_partitions() {
        let mut s = Sessions::new(DEFAULT_SLOTS);
        let t0 = Instant::now();
        let all: Vec<Requested> = (0..3).map(|p| asked("t", p, 0)).collect();
        let Plan::Full { session_id: id } = s.begin(0, INITIAL_EPOCH, all.clone(), &[], t0) else {
            panic!("no session")
        };
        assert!(id > 0);
        let outcomes: Vec<(Key, Outcome)> = all.iter().map(|r| (r.key.clone(), idle(5))).collect();
        assert_eq!(
            s.finish(id, true, &outcomes),
            (vec![true, true, true], true)
        );

        // Nothing changed: the session fetches all three, the answer names none.
        let parts = incremental(s.begin(id, 1, vec![], &[], t0));
        assert_eq!(parts, all);
        assert_eq!(
            s.finish(id, false, &outcomes),
            (vec![false, false, false], true)
        );

        // p1 returned records and p2's high watermark moved: both are news.
        let mut news = outcomes.clone();
        news[1].1.has_records = true;
        news[2].1.high_watermark = 6;
        let _ = incremental(s.begin(id, 2, vec![], &[], t0));
        assert_eq!(s.finish(id, false, &news), (vec![false, true, true], true));

        // p1 went to the end after returning records. The client moves p2 on, adds
        // u-0 (at the end) and forgets p0.
        let parts = incremental(s.begin(
            id,
            3,
            vec![asked("t", 2, 9), asked("u", 0, 0)],
            &[key("t", 0)],
            t0,
        ));
        assert_eq!(
            parts,
            vec![asked("t", 2, 9), asked("t", 1, 0), asked("u", 0, 0)]
        );
    }

    #[test]
    fn wrong_epochs_and_unknown_sessions_are_refused_as_kafka_does() {
        let mut s = Sessions::new(DEFAULT_SLOTS);
        let t0 = Instant::now();
        let Plan::Full { session_id: id } =
            s.begin(0, INITIAL_EPOCH, vec![asked("t", 0, 0)], &[], t0)
        else {
            panic!()
        };
        assert_eq!(
            s.begin(id, 2, vec![], &[], t0),
            Plan::Refuse(ErrorCode::INVALID_FETCH_SESSION_EPOCH)
        );
        assert_eq!(
            s.begin(id + 1, 1, vec![], &[], t0),
            Plan::Refuse(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        );
        let _ = incremental(s.begin(id, 1, vec![], &[], t0));
        assert_eq!(
            s.begin(id, 1, vec![], &[], t0),
            Plan::Refuse(ErrorCode::INVALID_FETCH_SESSION_EPOCH),
            "an epoch is used once"
        );
        // Epoch -1 closes the session; the fetch goes on without one.
        assert_eq!(
            s.begin(id, FINAL_EPOCH, vec![], &[], t0),
            Plan::Full { session_id: 0 }
        );
        assert_eq!(s.len(), 0);
        assert_eq!(
            s.begin(id, 2, vec![], &[], t0),
            Plan::Refuse(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
        );
    }

    #[test]
    fn the_cache_is_bounded_and_evicts_only_sessions_idle_long_enough() {
        let mut s = Sessions::new(2);
        let t0 = Instant::now();
        let open = |s: &mut Sessions, at: Instant| match s.begin(
            0,
            INITIAL_EPOCH,
            vec![asked("t", 0, 0)],
            &[],
            at,
        ) {
            Plan::Full { session_id } => session_id,
            other => panic!("{other:?}"),
        };
        let a = open(&mut s, t0);
        let b = open(&mut s, t0 + Duration::from_secs(1));
        assert!(a > 0 && b > 0 && a != b);
        assert_eq!(
            open(&mut s, t0 + Duration::from_secs(2)),
            0,
            "full, and none idle long enough"
        );
        assert_eq!(s.len(), 2);
        let c = open(&mut s, t0 + EVICTION_AFTER + Duration::from_millis(500));
        assert!(
            c > 0,
            "the least recently used one, idle for two minutes, made room"
        );
        assert_eq!(
            s.begin(a, 1, vec![], &[], t0),
            Plan::Refuse(ErrorCode::FETCH_SESSION_ID_NOT_FOUND),
            "the evicted session is gone"
        );
        let _ = incremental(s.begin(b, 1, vec![], &[], t0));
        assert_eq!(
            Sessions::new(0).begin(0, INITIAL_EPOCH, vec![], &[], t0),
            Plan::Full { session_id: 0 },
            "0 slots: no sessions"
        );
    }

    #[test]
    fn a_partition_that_does_not_exist_closes_the_session() {
        let mut s = Sessions::new(DEFAULT_SLOTS);
        let t0 = Instant::now();
        let all = vec![asked("t", 0, 0), asked("gone", 0, 0)];
        let Plan::Full { session_id: id } = s.begin(0, INITIAL_EPOCH, all.clone(), &[], t0) else {
            panic!()
        };
        let mut missing = idle(-1);
        missing.error = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
        let outcomes = [(all[0].key.clone(), idle(1)), (all[1].key.clone(), missing)];
        assert_eq!(s.finish(id, true, &outcomes), (vec![true, true], false));
        assert_eq!(
            s.begin(id, 1, vec![], &[], t0),
            Plan::Refuse(ErrorCode::FETCH_SESSION_ID_NOT_FOUND),
            "the client starts over with a full fetch"
        );
    }

    #[test]
    fn a_partition_is_news_again_when_its_error_clears() {
        let mut s = Sessions::new(DEFAULT_SLOTS);
        let t0 = Instant::now();
        let all = vec![asked("t", 0, 50)];
        let Plan::Full { session_id: id } = s.begin(0, INITIAL_EPOCH, all.clone(), &[], t0) else {
            panic!()
        };
        let mut out_of_range = idle(10);
        out_of_range.error = ErrorCode::OFFSET_OUT_OF_RANGE;
        assert_eq!(
            s.finish(id, true, &[(all[0].key.clone(), out_of_range)]).0,
            [true]
        );
        // The client resets to 10, the end: nothing new, but it must hear that the
        // error is gone.
        let _ = incremental(s.begin(id, 1, vec![asked("t", 0, 10)], &[], t0));
        assert_eq!(
            s.finish(id, false, &[(all[0].key.clone(), idle(10))]).0,
            [true]
        );
        let _ = incremental(s.begin(id, 2, vec![], &[], t0));
        assert_eq!(
            s.finish(id, false, &[(all[0].key.clone(), idle(10))]).0,
            [false]
        );
    }
}
