//! The broker's metrics, rendered in Prometheus' text format at `--metrics-addr`.
//!
//! `pagecast_kafka_fetched_bytes_total{method="sendfile"}` is how a user sees that the
//! fetch path is zero-copy: record data leaves by sendfile (segment engine) or mmap +
//! write (commit log) and by no copying method.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::ErrorCode;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// A partition's figures at scrape time.
#[derive(Debug, Clone)]
pub struct PartitionFigures {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First offset held.
    pub log_start: i64,
    /// Log end offset.
    pub log_end: i64,
    /// Bytes stored.
    pub size: u64,
}

/// A consumer group's figures at scrape time.
#[derive(Debug, Clone)]
pub struct GroupFigures {
    /// Group ID.
    pub group: String,
    /// State name.
    pub state: &'static str,
    /// Generation.
    pub generation: i32,
    /// Members.
    pub members: usize,
    /// Committed offset and lag per topic and partition.
    pub partitions: Vec<GroupPartition>,
}

/// A group's position in one partition.
#[derive(Debug, Clone)]
pub struct GroupPartition {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed offset.
    pub committed: i64,
    /// Log end offset minus the committed offset.
    pub lag: i64,
}

/// Counters shared by every connection.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, ErrorCode), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    fetched_by_method: Mutex<BTreeMap<&'static str, u64>>,
    /// Record bytes produced (stored).
    pub produced_bytes: AtomicU64,
    /// Records produced (stored).
    pub produced_records: AtomicU64,
    /// Record bytes fetched.
    pub fetched_bytes: AtomicU64,
    /// Records fetched.
    pub fetched_records: AtomicU64,
    /// Open client connections.
    pub connections: AtomicI64,
    /// Connections closed at once because their address had its maximum open.
    pub connections_refused: AtomicU64,
}

impl Metrics {
    /// Counts a request answered with `code` (its first error, or NONE) after `took`.
    pub fn request(&self, api: &'static str, code: ErrorCode, took: Duration) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *requests.entry((api, code)).or_default() += 1;
        drop(requests);
        let secs = took.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = latency.entry(api).or_default();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            h.counts[i] += 1;
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts record bytes fetched by a transfer method.
    pub fn fetched(&self, method: &'static str, bytes: u64) {
        self.fetched_bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut m = self
            .fetched_by_method
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry(method).or_default() += bytes;
    }

    /// Record bytes fetched by each method so far.
    pub fn fetched_by_method(&self) -> BTreeMap<&'static str, u64> {
        self.fetched_by_method
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self, partitions: &[PartitionFigures], groups: &[GroupFigures]) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_requests_total Requests answered, by API and error code.\n# TYPE pagecast_kafka_requests_total counter"
        );
        for ((api, code), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "pagecast_kafka_requests_total{{api=\"{api}\",error=\"{}\"}} {n}",
                code.name()
            );
        }
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_request_seconds Time from a request's last byte to its answer.\n# TYPE pagecast_kafka_request_seconds histogram"
        );
        for (api, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let mut cumulative = 0;
            for (b, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "pagecast_kafka_request_seconds_bucket{{api=\"{api}\",le=\"{b}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "pagecast_kafka_request_seconds_bucket{{api=\"{api}\",le=\"+Inf\"}} {}\npagecast_kafka_request_seconds_sum{{api=\"{api}\"}} {}\npagecast_kafka_request_seconds_count{{api=\"{api}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut out,
            "pagecast_kafka_produced_bytes_total",
            "Record bytes stored by produce.",
            load(&self.produced_bytes),
        );
        counter(
            &mut out,
            "pagecast_kafka_produced_records_total",
            "Records stored by produce.",
            load(&self.produced_records),
        );
        counter(
            &mut out,
            "pagecast_kafka_fetched_bytes_total",
            "Record bytes sent by fetch.",
            load(&self.fetched_bytes),
        );
        counter(
            &mut out,
            "pagecast_kafka_fetched_records_total",
            "Records sent by fetch.",
            load(&self.fetched_records),
        );
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_fetched_method_bytes_total Record bytes sent by fetch, by transfer method.\n# TYPE pagecast_kafka_fetched_method_bytes_total counter"
        );
        for (method, n) in self.fetched_by_method() {
            let _ = writeln!(
                out,
                "pagecast_kafka_fetched_method_bytes_total{{method=\"{method}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_connections Open client connections.\n# TYPE pagecast_kafka_connections gauge\npagecast_kafka_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_connections_refused_total Connections closed at once because their address had --max-connections-per-ip open.\n# TYPE pagecast_kafka_connections_refused_total counter\npagecast_kafka_connections_refused_total {}",
            self.connections_refused.load(Ordering::Relaxed)
        );
        type Gauge = (&'static str, &'static str, fn(&PartitionFigures) -> i128);
        let gauges: [Gauge; 3] = [
            (
                "log_end_offset",
                "Offset the next record of a partition gets.",
                |p| p.log_end.into(),
            ),
            ("log_start_offset", "First offset a partition holds.", |p| {
                p.log_start.into()
            }),
            (
                "log_size_bytes",
                "Bytes of record batches a partition holds.",
                |p| p.size.into(),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP pagecast_kafka_{name} {help}\n# TYPE pagecast_kafka_{name} gauge"
            );
            for p in partitions {
                let _ = writeln!(
                    out,
                    "pagecast_kafka_{name}{{topic=\"{}\",partition=\"{}\"}} {}",
                    p.topic,
                    p.partition,
                    value(p)
                );
            }
        }
        type GroupGauge = (&'static str, &'static str, fn(&GroupFigures) -> i64);
        let group_gauges: [GroupGauge; 2] = [
            ("group_members", "Members of a consumer group.", |g| {
                g.members as i64
            }),
            ("group_generation", "A consumer group's generation.", |g| {
                g.generation.into()
            }),
        ];
        for (name, help, value) in group_gauges {
            let _ = writeln!(
                out,
                "# HELP pagecast_kafka_{name} {help}\n# TYPE pagecast_kafka_{name} gauge"
            );
            for g in groups {
                let _ = writeln!(
                    out,
                    "pagecast_kafka_{name}{{group=\"{}\"}} {}",
                    g.group,
                    value(g)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP pagecast_kafka_group_state A consumer group's state (1 for the state it is in).\n# TYPE pagecast_kafka_group_state gauge"
        );
        for g in groups {
            let _ = writeln!(
                out,
                "pagecast_kafka_group_state{{group=\"{}\",state=\"{}\"}} 1",
                g.group, g.state
            );
        }
        type LagGauge = (&'static str, &'static str, fn(&GroupPartition) -> i64);
        let lags: [LagGauge; 2] = [
            (
                "group_committed_offset",
                "A group's committed offset of a partition.",
                |p| p.committed,
            ),
            (
                "group_lag",
                "Records of a partition a group has not committed (log end offset minus committed offset).",
                |p| p.lag,
            ),
        ];
        for (name, help, value) in lags {
            let _ = writeln!(
                out,
                "# HELP pagecast_kafka_{name} {help}\n# TYPE pagecast_kafka_{name} gauge"
            );
            for g in groups {
                for p in &g.partitions {
                    let _ = writeln!(
                        out,
                        "pagecast_kafka_{name}{{group=\"{}\",topic=\"{}\",partition=\"{}\"}} {}",
                        g.group,
                        p.topic,
                        p.partition,
                        value(p)
                    );
                }
            }
        }
        out
    }
}
