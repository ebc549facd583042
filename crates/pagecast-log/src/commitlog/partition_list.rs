//! The commit log's lists of partitions, one `TOPIC PARTITION NUMBER` line each, kept
//! in two files: `partitions` (every partition and its first offset, so an emptied one
//! keeps counting) and `deleted` (deleted partitions and the commit-log position of
//! their deletion, so recovery skips their entries before it).

use std::str::FromStr;

use crate::TopicPartition;

/// Name of the file of partitions and their first offsets.
pub const PARTITIONS_FILE: &str = "partitions";
/// Name of the file of deleted partitions and the positions of their deletion.
pub const DELETED_FILE: &str = "deleted";

/// The file's contents for `entries`.
pub(crate) fn encode<'a, N: std::fmt::Display + 'a>(
    entries: impl IntoIterator<Item = (&'a TopicPartition, N)>,
) -> String {
    let mut text = String::new();
    for (tp, n) in entries {
        text.push_str(&format!("{} {} {n}\n", tp.topic, tp.partition));
    }
    text
}

/// The entries in the file's contents. A line that is not a valid partition and number
/// is left out: the lists are rewritten whole and atomically, so such a line is damage
/// to a file that only speeds up or narrows recovery.
pub(crate) fn decode<N: FromStr>(text: &str) -> Vec<(TopicPartition, N)> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split(' ');
            let tp = TopicPartition::new(f.next()?, f.next()?.parse().ok()?);
            let n = f.next()?.parse().ok()?;
            if f.next().is_some() {
                return None;
            }
            tp.validate().ok().map(|()| (tp, n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip_and_damaged_lines_are_left_out() {
        let a = TopicPartition::new("orders", 3);
        let b = TopicPartition::new("x", 0);
        let text = encode([(&a, 17i64), (&b, -1)]);
        assert_eq!(text, "orders 3 17\nx 0 -1\n");
        assert_eq!(decode::<i64>(&text), vec![(a.clone(), 17), (b, -1)]);
        let damaged = "orders 3 17\norders three 1\n.. 0 5\nx 0\nx 0 1 2\n";
        assert_eq!(decode::<u64>(damaged), vec![(a, 17)]);
    }
}
