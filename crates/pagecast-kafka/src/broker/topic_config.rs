//! The topic settings the broker honours, as Kafka names them: their defaults, types
//! and checks, and what each becomes (a storage override, the timestamp type, the
//! batch size limit).

use std::collections::BTreeMap;
use std::time::Duration;

use pagecast_log::batch::Compression;
use pagecast_log::{Cleanup, PartitionConfig};

/// Kafka's config types, as DescribeConfigs v3+ reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true` or `false`.
    Boolean = 1,
    /// A string.
    String = 2,
    /// A 32-bit integer.
    Int = 3,
    /// A 64-bit integer.
    Long = 5,
    /// A floating-point number.
    Double = 6,
    /// A comma-separated list.
    List = 7,
}

/// What values a setting takes, as Kafka's validators check them.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Any value of the type.
    Any,
    /// At least this.
    AtLeast(i64),
    /// From the first to the second, both included.
    Between(i64, i64),
    /// -1, or 1 to 9 (gzip's levels).
    GzipLevel,
    /// A number from 0 to 1.
    Ratio,
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// A list of these strings (possibly empty).
    ListOf(&'static [&'static str]),
    /// `*`, or a list of `partition:broker` pairs (replication throttles).
    Replicas,
}

/// Whether the broker acts on a setting or only keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The broker does what it says.
    Honoured,
    /// Stored and returned, without effect on a single node (replication, tiered
    /// storage), or not acted on yet (listed in the README).
    Stored,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Kafka's name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Its values.
    pub check: Check,
    /// Its value when a topic sets none (the broker's `message.max.bytes` for
    /// `max.message.bytes`).
    pub default: &'static str,
    /// The broker setting Kafka names as its default's source, if it names one.
    pub synonym: Option<&'static str>,

    /// Whether the broker acts on it.
    pub effect: Effect,
    /// Whether it can be changed.
    pub read_only: bool,
    /// What it does.
    pub doc: &'static str,
}

/// `message.timestamp.type` value for the producer's timestamps.
pub const CREATE_TIME: &str = "CreateTime";
/// `message.timestamp.type` value for the broker's append time.
pub const LOG_APPEND_TIME: &str = "LogAppendTime";

/// `compression.type` values: a codec, or `producer` to keep what the producer sent.
pub const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const MAX: &str = "9223372036854775807";

macro_rules! setting {
    ($name:literal, $kind:ident, $check:expr, $default:expr, $synonym:expr, $effect:ident, $doc:literal) => {
        Setting {
            name: $name,
            kind: Kind::$kind,
            check: $check,
            default: $default,
            synonym: $synonym,
            effect: Effect::$effect,
            read_only: false,
            doc: $doc,
        }
    };
}

/// Every topic setting Kafka 4.1 defines, in the order DescribeConfigs lists them.
pub const SETTINGS: &[Setting] = &[
    setting!(
        "cleanup.policy",
        List,
        Check::ListOf(&["compact", "delete"]),
        "delete",
        Some("log.cleanup.policy"),
        Honoured,
        "delete: retention deletes old segments. compact is refused: the broker compacts only its internal partition so far."
    ),
    setting!(
        "compression.gzip.level",
        Int,
        Check::GzipLevel,
        "-1",
        Some("compression.gzip.level"),
        Honoured,
        "The gzip level of batches the broker compresses."
    ),
    setting!(
        "compression.lz4.level",
        Int,
        Check::Between(1, 17),
        "9",
        Some("compression.lz4.level"),
        Stored,
        "lz4 is written at its one fast level."
    ),
    setting!(
        "compression.type",
        String,
        Check::OneOf(COMPRESSION_TYPES),
        "producer",
        Some("compression.type"),
        Honoured,
        "producer keeps batches as the producer compressed them; a codec (or uncompressed) has the broker compress every batch so."
    ),
    setting!(
        "compression.zstd.level",
        Int,
        Check::Between(-131_072, 22),
        "3",
        Some("compression.zstd.level"),
        Stored,
        "zstd is written at the encoder's fastest level, about level 1."
    ),
    setting!(
        "delete.retention.ms",
        Long,
        Check::AtLeast(0),
        "86400000",
        Some("log.cleaner.delete.retention.ms"),
        Stored,
        "How long compaction keeps tombstones."
    ),
    setting!(
        "file.delete.delay.ms",
        Long,
        Check::AtLeast(0),
        "60000",
        Some("log.segment.delete.delay.ms"),
        Stored,
        "Segments are deleted at once: a reader holds its file open."
    ),
    setting!(
        "flush.messages",
        Long,
        Check::AtLeast(1),
        MAX,
        Some("log.flush.interval.messages"),
        Stored,
        "The broker's --fsync policy decides when appends are forced to disk."
    ),
    setting!(
        "flush.ms",
        Long,
        Check::AtLeast(0),
        MAX,
        None,
        Stored,
        "The broker's --fsync policy decides when appends are forced to disk."
    ),
    setting!(
        "follower.replication.throttled.replicas",
        List,
        Check::Replicas,
        "",
        None,
        Stored,
        "No replication on a single node."
    ),
    setting!(
        "index.interval.bytes",
        Int,
        Check::AtLeast(0),
        "4096",
        Some("log.index.interval.bytes"),
        Stored,
        "Bytes of log between offset index entries."
    ),
    setting!(
        "leader.replication.throttled.replicas",
        List,
        Check::Replicas,
        "",
        None,
        Stored,
        "No replication on a single node."
    ),
    setting!(
        "local.retention.bytes",
        Long,
        Check::AtLeast(-2),
        "-2",
        Some("log.local.retention.bytes"),
        Stored,
        "No tiered storage."
    ),
    setting!(
        "local.retention.ms",
        Long,
        Check::AtLeast(-2),
        "-2",
        Some("log.local.retention.ms"),
        Stored,
        "No tiered storage."
    ),
    setting!(
        "max.compaction.lag.ms",
        Long,
        Check::AtLeast(1),
        MAX,
        Some("log.cleaner.max.compaction.lag.ms"),
        Stored,
        "For compaction."
    ),
    setting!(
        "max.message.bytes",
        Int,
        Check::AtLeast(0),
        "",
        Some("message.max.bytes"),
        Honoured,
        "The largest record batch a produce may carry."
    ),
    setting!(
        "message.timestamp.after.max.ms",
        Long,
        Check::AtLeast(0),
        "3600000",
        Some("log.message.timestamp.after.max.ms"),
        Stored,
        "Produced timestamps are not checked against the broker's clock."
    ),
    setting!(
        "message.timestamp.before.max.ms",
        Long,
        Check::AtLeast(0),
        MAX,
        Some("log.message.timestamp.before.max.ms"),
        Stored,
        "Produced timestamps are not checked against the broker's clock."
    ),
    setting!(
        "message.timestamp.type",
        String,
        Check::OneOf(&[CREATE_TIME, LOG_APPEND_TIME]),
        CREATE_TIME,
        Some("log.message.timestamp.type"),
        Honoured,
        "CreateTime keeps the producer's timestamps; LogAppendTime sets the broker's."
    ),
    setting!(
        "min.cleanable.dirty.ratio",
        Double,
        Check::Ratio,
        "0.5",
        Some("log.cleaner.min.cleanable.ratio"),
        Stored,
        "For compaction."
    ),
    setting!(
        "min.compaction.lag.ms",
        Long,
        Check::AtLeast(0),
        "0",
        Some("log.cleaner.min.compaction.lag.ms"),
        Stored,
        "For compaction."
    ),
    setting!(
        "min.insync.replicas",
        Int,
        Check::AtLeast(1),
        "1",
        Some("min.insync.replicas"),
        Stored,
        "One replica on a single node."
    ),
    setting!(
        "preallocate",
        Boolean,
        Check::Any,
        "false",
        Some("log.preallocate"),
        Stored,
        "Segments grow as they are written."
    ),
    setting!(
        "remote.log.copy.disable",
        Boolean,
        Check::Any,
        "false",
        None,
        Stored,
        "No tiered storage."
    ),
    setting!(
        "remote.log.delete.on.disable",
        Boolean,
        Check::Any,
        "false",
        None,
        Stored,
        "No tiered storage."
    ),
    setting!(
        "remote.storage.enable",
        Boolean,
        Check::Any,
        "false",
        None,
        Stored,
        "No tiered storage: true is refused."
    ),
    setting!(
        "retention.bytes",
        Long,
        Check::Any,
        "-1",
        Some("log.retention.bytes"),
        Honoured,
        "Delete the oldest segments while a partition is larger; below 0 keeps everything."
    ),
    setting!(
        "retention.ms",
        Long,
        Check::AtLeast(-1),
        "604800000",
        None,
        Honoured,
        "Delete segments whose newest record is older; -1 keeps everything."
    ),
    setting!(
        "segment.bytes",
        Int,
        Check::AtLeast(1 << 20),
        "1073741824",
        Some("log.segment.bytes"),
        Honoured,
        "Roll to a new segment before one grows past this."
    ),
    setting!(
        "segment.index.bytes",
        Int,
        Check::AtLeast(4),
        "10485760",
        Some("log.index.size.max.bytes"),
        Stored,
        "Indexes grow in steps up to 10 MiB."
    ),
    setting!(
        "segment.jitter.ms",
        Long,
        Check::AtLeast(0),
        "0",
        None,
        Stored,
        "Segments roll at segment.ms."
    ),
    setting!(
        "segment.ms",
        Long,
        Check::AtLeast(1),
        "604800000",
        None,
        Honoured,
        "Roll to a new segment when the active one's first record is this old."
    ),
    setting!(
        "unclean.leader.election.enable",
        Boolean,
        Check::Any,
        "false",
        Some("unclean.leader.election.enable"),
        Stored,
        "One replica on a single node."
    ),
];

/// The setting named `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The value a topic has for `name` when it sets none.
pub fn default_value(name: &str, message_max_bytes: usize) -> String {
    match setting(name) {
        Some(s) if s.name == "max.message.bytes" => message_max_bytes.to_string(),
        Some(s) => s.default.to_owned(),
        None => String::new(),
    }
}

/// Where DescribeConfigs says a setting's default comes from: Kafka's built-in default
/// (5), except `min.insync.replicas`, which Kafka 4 writes as a cluster-wide setting (3,
/// a dynamic broker default) when it formats its storage.
pub fn default_source(name: &str) -> i8 {
    if name == "min.insync.replicas" { 3 } else { 5 }
}

/// Checks a value for a setting as Kafka checks it, and returns it as it is kept (a
/// list without spaces); the error says what is allowed, in Kafka's words.
pub fn validate(name: &str, value: &str) -> Result<String, String> {
    let Some(s) = setting(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    if s.read_only {
        return Err(format!("{name} cannot be changed"));
    }
    let value = value.trim();
    let invalid = |why: String| format!("Invalid value {value} for configuration {name}: {why}");
    let number = |lo: i64, hi: i64| -> Result<(), String> {
        let n: i64 = match s.kind {
            Kind::Int => value
                .parse::<i32>()
                .map(i64::from)
                .map_err(|_| invalid("Not a number of type INT".into()))?,
            _ => value
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG".into()))?,
        };
        if n < lo {
            return Err(invalid(format!("Value must be at least {lo}")));
        }
        if n > hi {
            return Err(invalid(format!("Value must be no more than {hi}")));
        }
        Ok(())
    };
    let list: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    match (s.kind, s.check) {
        (Kind::Boolean, _) => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(invalid("Expected value to be either true or false".into()));
            }
            if name == "remote.storage.enable" && value.eq_ignore_ascii_case("true") {
                return Err(
                    "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
                        .into(),
                );
            }
            return Ok(value.to_ascii_lowercase());
        }
        (Kind::Double, _) => {
            let n: f64 = value
                .parse()
                .map_err(|_| invalid("Not a number of type DOUBLE".into()))?;
            if !(0.0..=1.0).contains(&n) {
                let bound = if n < 0.0 {
                    "at least 0"
                } else {
                    "no more than 1"
                };
                return Err(invalid(format!("Value must be {bound}")));
            }
        }
        (Kind::Int | Kind::Long, Check::AtLeast(lo)) => number(lo, i64::MAX)?,
        (Kind::Int | Kind::Long, Check::Between(lo, hi)) => number(lo, hi)?,
        (Kind::Int | Kind::Long, Check::GzipLevel) => {
            number(-1, 9)?;
            if value.parse::<i32>() == Ok(0) {
                return Err(invalid(
                    "Value must be between 1 and 9 or equal to -1".into(),
                ));
            }
        }
        (Kind::Int | Kind::Long, _) => number(i64::MIN, i64::MAX)?,
        (Kind::String, Check::OneOf(allowed)) if !allowed.contains(&value) => {
            return Err(invalid(format!(
                "String must be one of: {}",
                allowed.join(", ")
            )));
        }
        (Kind::List, Check::ListOf(allowed)) => {
            if let Some(bad) = list.iter().find(|v| !allowed.contains(v)) {
                return Err(invalid(format!(
                    "Invalid value {bad} for configuration {name}: String must be one of: {}",
                    allowed.join(", ")
                )));
            }
            if name == "cleanup.policy" && list.contains(&"compact") {
                return Err(format!(
                    "cleanup.policy={value}: compaction of topics is not offered yet (the broker compacts only its internal partition)"
                ));
            }
            return Ok(list.join(","));
        }
        (Kind::List, Check::Replicas) => {
            // Kafka's pattern, `[0-9]+:[0-9]+`: digits only, so nothing kept has a space.
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            let pair = |v: &str| {
                v.split_once(':')
                    .is_some_and(|(p, b)| digits(p) && digits(b))
            };
            if !(list == ["*"] || list.iter().all(|v| pair(v))) {
                return Err(format!(
                    "Invalid value [{}] for configuration {name}: {name} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                    list.join(", ")
                ));
            }
            return Ok(list.join(","));
        }
        _ => {}
    }
    Ok(value.to_owned())
}

/// Checks what settings say together, as Kafka checks them once each is valid.
pub fn validate_together(configs: &BTreeMap<String, String>) -> Result<(), String> {
    let get = |name: &str| {
        configs
            .get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .or_else(|| setting(name)?.default.parse().ok())
    };
    if let (Some(min), Some(max)) = (get("min.compaction.lag.ms"), get("max.compaction.lag.ms"))
        && min > max
    {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
        ));
    }
    Ok(())
}

fn long(configs: &BTreeMap<String, String>, name: &str) -> Option<i64> {
    configs.get(name).and_then(|v| v.parse().ok())
}

/// The storage overrides a topic's settings make.
pub fn partition_config(configs: &BTreeMap<String, String>) -> PartitionConfig {
    let unlimited_or = |n: i64| (n >= 0).then_some(n as u64);
    PartitionConfig {
        segment_bytes: long(configs, "segment.bytes").map(|n| n as u64),
        segment_age: long(configs, "segment.ms").map(|n| Duration::from_millis(n as u64)),
        retention_bytes: long(configs, "retention.bytes").map(unlimited_or),
        retention_age: long(configs, "retention.ms")
            .map(|n| unlimited_or(n).map(Duration::from_millis)),
        // `compact` is refused for user topics (not compacted yet); an empty list turns
        // retention off, as in Kafka.
        cleanup: configs.get("cleanup.policy").map(|policy| Cleanup {
            delete: policy.split(',').any(|p| p == "delete"),
            compact: false,
        }),
        delete_retention: None,
    }
}

/// The codec a topic has the broker compress its batches with, and the gzip level;
/// `None` for `compression.type=producer`, which keeps them as they came.
pub fn compression(configs: &BTreeMap<String, String>) -> Option<(Compression, i32)> {
    let codec = match configs.get("compression.type").map(String::as_str) {
        None | Some("producer") => return None,
        Some("gzip") => Compression::Gzip,
        Some("snappy") => Compression::Snappy,
        Some("lz4") => Compression::Lz4,
        Some("zstd") => Compression::Zstd,
        Some(_) => Compression::None,
    };
    let gzip_level = long(configs, "compression.gzip.level").map_or(-1, |l| l as i32);
    Some((codec, gzip_level))
}

/// Whether the topic stamps batches with the broker's append time.
pub fn log_append_time(configs: &BTreeMap<String, String>) -> bool {
    configs.get("message.timestamp.type").map(String::as_str) == Some(LOG_APPEND_TIME)
}

/// The largest batch the topic accepts.
pub fn max_message_bytes(configs: &BTreeMap<String, String>, broker: usize) -> usize {
    long(configs, "max.message.bytes").map_or(broker, |n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("retention.bytes", "-5").is_ok());
        assert!(validate("segment.bytes", "4096").is_err());
        assert!(validate("segment.bytes", "1048576").is_ok());
        assert!(validate("segment.bytes", "4294967296").is_err(), "an INT");
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "Now").is_err());
        assert!(validate("compression.gzip.level", "0").is_err());
        assert!(validate("compression.gzip.level", "-1").is_ok());
        assert!(validate("min.cleanable.dirty.ratio", "1.5").is_err());
        assert_eq!(validate("preallocate", "TRUE"), Ok("true".into()));
        assert!(validate("preallocate", "yes").is_err());
        assert_eq!(
            validate("leader.replication.throttled.replicas", "0:1, 1:1"),
            Ok("0:1,1:1".into())
        );
        assert!(validate("leader.replication.throttled.replicas", "x").is_err());
        assert_eq!(validate("cleanup.policy", ""), Ok(String::new()));
        assert!(validate("cleanup.policy", "compact").is_err());
        assert!(validate("remote.storage.enable", "true").is_err());
        let err = validate("retention.hours", "1").unwrap_err();
        assert!(err.contains("Unknown topic config"), "{err}");
        let lags: BTreeMap<String, String> = [
            ("min.compaction.lag.ms".to_owned(), "10".to_owned()),
            ("max.compaction.lag.ms".to_owned(), "5".to_owned()),
        ]
        .into();
        assert!(validate_together(&lags).is_err());
    }

    #[test]
    fn settings_become_overrides() {
        let configs: BTreeMap<String, String> = [
            ("retention.ms".to_owned(), "-1".to_owned()),
            ("retention.bytes".to_owned(), "5000".to_owned()),
            ("segment.bytes".to_owned(), "4096".to_owned()),
        ]
        .into();
        let p = partition_config(&configs);
        assert_eq!(p.retention_age, Some(None));
        assert_eq!(p.retention_bytes, Some(Some(5000)));
        assert_eq!(p.segment_bytes, Some(4096));
        assert_eq!(p.segment_age, None);
        assert!(partition_config(&BTreeMap::new()).is_empty());
    }
}
