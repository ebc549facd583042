//! The measurement harness behind `pagecast bench`: senders, receivers in another
//! process, getrusage, the table, JSON and a chart.
//!
//! See DESIGN.md's measurement rules: compare in one run, side by side; report medians
//! and ratios; report both receivers so the receiver's copy does not hide the sender's
//! savings; report user and sys CPU per GB, syscalls, mode switches, scheduler context
//! switches and page faults.

pub mod broker;
pub mod broker_group;
pub mod broker_perf;
pub mod congestion;
pub mod copy;
pub mod cow;
pub mod http;
pub mod log;
mod raw;
pub mod receiver;
pub mod report;
mod sys;
pub mod transfer;

use std::path::PathBuf;
use std::time::Duration;

use pagecast_io::Method;

/// Why a benchmark could not finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The test file could not be made or read.
    #[error("test file {0}: {1}")]
    File(PathBuf, #[source] std::io::Error),
    /// The receiver process failed.
    #[error("receiver: {0}")]
    Receiver(String),
    /// The engine failed for a reason other than "unsupported".
    #[error("{0} transfer failed: {1}")]
    Transfer(Method, #[source] pagecast_io::Error),
    /// A raw loop failed.
    #[error("raw {0} loop failed: {1}")]
    Raw(Method, #[source] std::io::Error),
    /// The TCP congestion control asked for could not be set.
    #[error("TCP congestion control: {0}")]
    Congestion(String),
}

/// The order in which round `round` (counted from 1) measures `rows` rows: odd rounds
/// forwards, even rounds backwards, so a noisy moment on a shared machine or a drift in
/// its speed hits every row alike instead of always the same one.
pub(crate) fn round_order(round: usize, rows: usize) -> Vec<usize> {
    if round % 2 == 1 {
        (0..rows).collect()
    } else {
        (0..rows).rev().collect()
    }
}

/// The median of `values`: the upper middle one of an even count; `None` if there are
/// none. Every figure the benchmarks report over runs goes through this one function.
pub fn median<T: PartialOrd + Copy>(values: impl IntoIterator<Item = T>) -> Option<T> {
    let mut v: Vec<T> = values.into_iter().collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v.get(v.len() / 2).copied()
}

/// Decimal gigabytes per second.
pub fn gbps(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e9 / elapsed.as_secs_f64().max(1e-9)
}

/// A byte count as people write it: 1 GiB, 512 MiB, 4 KiB, 123 B.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let v = bytes as f64 / unit as f64;
            return if v.fract() == 0.0 {
                format!("{v:.0} {name}")
            } else {
                format!("{v:.2} {name}")
            };
        }
    }
    format!("{bytes} B")
}

/// The smallest volume a benchmark measures: below it, setup and timer resolution
/// outweigh the transfer, and ratios between methods mean nothing.
pub const MIN_SIZE: u64 = 1 << 20;

/// A benchmark's volume from the command line: [`parse_size`], at least [`MIN_SIZE`].
pub fn parse_bench_size(s: &str) -> Result<u64, String> {
    let n = parse_size(s)?;
    if n < MIN_SIZE {
        return Err(format!(
            "{n} bytes is too small to measure: the minimum is 1M ({MIN_SIZE} bytes)"
        ));
    }
    Ok(n)
}

/// A size from the command line: a number with an optional binary suffix
/// (K, M, G, T; KiB, MiB, … and KB, MB, … mean the same powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, suffix) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size: expected a number like 512M or 1G"))?;
    let shift = match suffix.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => {
            return Err(format!(
                "unknown size suffix {other:?} in {s:?}: use K, M, G or T"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_upper_middle_value() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4, 1, 3, 2]), Some(3));
        assert_eq!(median(Vec::<f64>::new()), None);
        let d = Duration::from_millis;
        assert_eq!(median([d(5), d(1), d(9)]), Some(d(5)));
    }

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("1X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(3 << 19), "1.50 MiB");
        assert_eq!(format_size(1000), "1000 B");
        assert_eq!(format_size((3 << 30) + 12345), "3.00 GiB");
    }
}
