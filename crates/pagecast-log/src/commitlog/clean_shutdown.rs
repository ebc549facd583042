//! The commit log's clean-shutdown record: present only between a clean close and the
//! next open, it lets the open trust the log's end and each consume queue's length
//! instead of walking the whole log.
//!
//! ```text
//! end POSITION
//! TOPIC PARTITION QUEUE_ENTRIES NEXT_OFFSET      one line per partition
//! ```

use crate::TopicPartition;

/// Name of the file, in the store's root.
pub const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// What a clean close recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CleanShutdown {
    /// Commit-log position after the last entry.
    pub end: u64,
    /// Every partition's consume-queue length and next offset.
    pub partitions: Vec<QueueState>,
}

/// One partition in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueState {
    pub tp: TopicPartition,
    /// Entries in the consume queue.
    pub entries: u64,
    /// The offset the next record gets.
    pub next_offset: i64,
}

impl CleanShutdown {
    /// The file's contents.
    pub fn encode(&self) -> String {
        let mut text = format!("end {}\n", self.end);
        for p in &self.partitions {
            text.push_str(&format!(
                "{} {} {} {}\n",
                p.tp.topic, p.tp.partition, p.entries, p.next_offset
            ));
        }
        text
    }

    /// Parses the file's contents; an error says what is wrong (and the store recovers).
    pub fn decode(text: &str) -> Result<CleanShutdown, String> {
        let mut lines = text.lines();
        let end = lines
            .next()
            .and_then(|l| l.strip_prefix("end "))
            .and_then(|n| n.parse().ok())
            .ok_or("no end position")?;
        let mut partitions = Vec::new();
        for line in lines {
            let bad = || format!("bad line {line:?}");
            let mut fields = line.split(' ');
            let (Some(topic), Some(partition), Some(entries), Some(next), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(bad());
            };
            let tp = TopicPartition::new(topic, partition.parse().map_err(|_| bad())?);
            tp.validate().map_err(|e| e.to_string())?;
            partitions.push(QueueState {
                tp,
                entries: entries.parse().map_err(|_| bad())?,
                next_offset: next.parse().map_err(|_| bad())?,
            });
        }
        Ok(CleanShutdown { end, partitions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let record = CleanShutdown {
            end: 1 << 33,
            partitions: vec![
                QueueState {
                    tp: TopicPartition::new("orders", 0),
                    entries: 12,
                    next_offset: 340,
                },
                QueueState {
                    tp: TopicPartition::new("a.b_c-d", 7),
                    entries: 0,
                    next_offset: 0,
                },
            ],
        };
        assert_eq!(CleanShutdown::decode(&record.encode()), Ok(record));
        assert_eq!(
            CleanShutdown::decode("end 5\n"),
            Ok(CleanShutdown {
                end: 5,
                partitions: vec![]
            })
        );
        for damaged in [
            "",
            "end x\n",
            "end 5\norders 0 12\n",
            "end 5\norders 0 12 340 9\n",
            "end 5\norders zero 12 340\n",
            "end 5\n.. 0 1 1\n",
        ] {
            assert!(CleanShutdown::decode(damaged).is_err(), "{damaged:?}");
        }
    }
}
