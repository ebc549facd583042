//! Idempotent producers: per producer and partition, the epoch and the last five
//! batches' sequence ranges, as Kafka keeps them. A batch that repeats one of them is a
//! retry, acknowledged with its original offset and not stored again; a batch that skips
//! ahead gets OUT_OF_ORDER_SEQUENCE_NUMBER. The state is rebuilt from the batch headers
//! of the log at start-up, so it survives a restart and a crash alike.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use pagecast_log::TopicPartition;
use pagecast_log::batch::Header;

use crate::error::ErrorCode;

/// Batches remembered per producer and partition (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub const REMEMBERED_BATCHES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    first_seq: i32,
    last_seq: i32,
    base_offset: i64,
}

/// One producer's state on one partition.
#[derive(Debug, Clone, Default)]
pub struct ProducerState {
    epoch: i16,
    recent: VecDeque<Seen>,
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Store it.
    Append,
    /// A retry of a stored batch: acknowledge with its base offset, store nothing.
    Duplicate {
        /// The stored batch's base offset.
        base_offset: i64,
    },
    /// Refuse it.
    Refuse(ErrorCode),
}

fn last_seq(h: &Header) -> i32 {
    (h.base_sequence as i64 + h.last_offset_delta as i64).rem_euclid(i32::MAX as i64 + 1) as i32
}

impl ProducerState {
    /// Judges a batch of this producer, given the state so far.
    pub fn verdict(state: Option<&ProducerState>, h: &Header) -> Verdict {
        let Some(state) = state else {
            return if h.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if h.producer_epoch < state.epoch {
            return Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch > state.epoch {
            return if h.base_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        if let Some(seen) = state
            .recent
            .iter()
            .find(|s| s.first_seq == h.base_sequence && s.last_seq == last_seq(h))
        {
            return Verdict::Duplicate {
                base_offset: seen.base_offset,
            };
        }
        let expected = state.recent.back().map_or(0, |s| {
            if s.last_seq == i32::MAX {
                0
            } else {
                s.last_seq + 1
            }
        });
        if h.base_sequence == expected {
            Verdict::Append
        } else {
            Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        }
    }

    /// Records a stored batch whose base offset is `base_offset`.
    pub fn record(&mut self, h: &Header, base_offset: i64) {
        if h.producer_epoch != self.epoch {
            self.epoch = h.producer_epoch;
            self.recent.clear();
        }
        if self.recent.len() == REMEMBERED_BATCHES {
            self.recent.pop_front();
        }
        self.recent.push_back(Seen {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset,
        });
    }
}

/// Every idempotent producer's state on one partition. A produce holds its lock from
/// judging its batches to recording them, across the append, as Kafka holds a log's
/// lock over both: so it also orders the partition's appends, and no other partition's.
#[derive(Debug, Default)]
pub struct PartitionProducers {
    states: HashMap<i64, ProducerState>,
}

impl PartitionProducers {
    /// A producer's state here, if it has written.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerState> {
        self.states.get(&producer_id)
    }

    /// Records a batch appended at `base_offset` (non-idempotent batches are ignored).
    pub fn record(&mut self, h: &Header, base_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        self.states
            .entry(h.producer_id)
            .or_default()
            .record(h, base_offset);
    }

    /// The largest producer ID recorded.
    pub fn max_id(&self) -> Option<i64> {
        self.states.keys().copied().max()
    }
}

/// Every partition's producers, and the largest producer ID seen or handed out.
#[derive(Debug, Default)]
pub struct Producers {
    partitions: Mutex<HashMap<TopicPartition, Arc<Mutex<PartitionProducers>>>>,
    /// Handed out by InitProducerId, and raised by any ID a batch carries.
    pub max_id: Mutex<i64>,
}

impl Producers {
    /// The producers of `tp`, created empty if none wrote there yet.
    pub fn partition(&self, tp: &TopicPartition) -> Arc<Mutex<PartitionProducers>> {
        let mut partitions = self.partitions.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(partitions.entry(tp.clone()).or_default())
    }

    /// Puts in a partition's state, rebuilt from its log.
    pub fn insert(&self, tp: TopicPartition, producers: PartitionProducers) {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tp, Arc::new(Mutex::new(producers)));
    }

    /// Raises the largest ID seen to `id`.
    pub fn saw_id(&self, id: i64) {
        let mut max = self.max_id.lock().unwrap_or_else(|e| e.into_inner());
        *max = (*max).max(id);
    }

    /// Forgets a deleted topic's producers.
    pub fn forget_topic(&self, topic: &str) {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|tp, _| tp.topic != topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(epoch: i16, seq: i32, count: i32) -> Header {
        Header {
            base_offset: 0,
            length: 49,
            leader_epoch: 0,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: 7,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn duplicates_gaps_and_epochs() {
        let mut s = ProducerState::default();
        assert_eq!(
            ProducerState::verdict(None, &header(0, 0, 3)),
            Verdict::Append
        );
        assert_eq!(
            ProducerState::verdict(None, &header(0, 3, 3)),
            Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        s.record(&header(0, 0, 3), 100);
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 0, 3)),
            Verdict::Duplicate { base_offset: 100 }
        );
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 3, 2)),
            Verdict::Append
        );
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 5, 2)),
            Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(1, 0, 1)),
            Verdict::Append
        );
        s.record(&header(1, 0, 1), 200);
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 3, 1)),
            Verdict::Refuse(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerState::default();
        for i in 0..6 {
            s.record(&header(0, i, 1), i64::from(i) * 10);
        }
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 0, 1)),
            Verdict::Refuse(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        assert_eq!(
            ProducerState::verdict(Some(&s), &header(0, 1, 1)),
            Verdict::Duplicate { base_offset: 10 }
        );
    }
}
