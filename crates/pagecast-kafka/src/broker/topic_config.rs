//! The topic settings the broker honours, as Kafka names them: their defaults, types
//! and checks, and what each becomes (a storage override, the timestamp type, the
//! batch size limit).

use std::collections::BTreeMap;
use std::time::Duration;

use pagecast_log::PartitionConfig;

/// Kafka's config types, as DescribeConfigs v3+ reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string from a fixed set.
    String = 2,
    /// A 32-bit integer.
    Int = 3,
    /// A 64-bit integer.
    Long = 5,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Kafka's name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether the storage engine applies it (per partition).
    pub storage: bool,
    /// Whether it can be changed.
    pub read_only: bool,
    /// What it does.
    pub doc: &'static str,
}

/// `message.timestamp.type` value for the producer's timestamps.
pub const CREATE_TIME: &str = "CreateTime";
/// `message.timestamp.type` value for the broker's append time.
pub const LOG_APPEND_TIME: &str = "LogAppendTime";

const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

/// Every topic setting, in the order DescribeConfigs lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        name: "cleanup.policy",
        kind: Kind::String,
        storage: false,
        read_only: true,
        doc: "Old segments are deleted by retention; compaction is not offered.",
    },
    Setting {
        name: "max.message.bytes",
        kind: Kind::Int,
        storage: false,
        read_only: false,
        doc: "The largest record batch a produce may carry.",
    },
    Setting {
        name: "message.timestamp.type",
        kind: Kind::String,
        storage: false,
        read_only: false,
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime sets the broker's.",
    },
    Setting {
        name: "retention.bytes",
        kind: Kind::Long,
        storage: true,
        read_only: false,
        doc: "Delete the oldest segments while a partition is larger; -1 keeps everything.",
    },
    Setting {
        name: "retention.ms",
        kind: Kind::Long,
        storage: true,
        read_only: false,
        doc: "Delete segments whose newest record is older; -1 keeps everything.",
    },
    Setting {
        name: "segment.bytes",
        kind: Kind::Int,
        storage: true,
        read_only: false,
        doc: "Roll to a new segment before one grows past this.",
    },
    Setting {
        name: "segment.ms",
        kind: Kind::Long,
        storage: true,
        read_only: false,
        doc: "Roll to a new segment when the active one's first record is this old.",
    },
];

/// The setting named `name`.
pub fn setting(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The value a topic has for `name` when it sets none.
pub fn default_value(name: &str, message_max_bytes: usize) -> String {
    match name {
        "cleanup.policy" => "delete".into(),
        "max.message.bytes" => message_max_bytes.to_string(),
        "message.timestamp.type" => CREATE_TIME.into(),
        "retention.bytes" => "-1".into(),
        "retention.ms" | "segment.ms" => WEEK_MS.to_string(),
        "segment.bytes" => (1i64 << 30).to_string(),
        _ => String::new(),
    }
}

/// Checks a value for a setting; the error says what is allowed.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(s) = setting(name) else {
        return Err(format!(
            "unknown topic setting {name:?}; the broker honours {}",
            SETTINGS
                .iter()
                .filter(|s| !s.read_only)
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if s.read_only {
        return Err(format!("{name} cannot be changed"));
    }
    let number = |min: i64, max: i64| match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(format!(
            "{name} must be a whole number from {min} to {max}, not {value:?}"
        )),
    };
    match name {
        "max.message.bytes" => number(0, i64::from(i32::MAX)),
        "message.timestamp.type" if value == CREATE_TIME || value == LOG_APPEND_TIME => Ok(()),
        "message.timestamp.type" => Err(format!(
            "message.timestamp.type must be {CREATE_TIME} or {LOG_APPEND_TIME}, not {value:?}"
        )),
        "retention.bytes" | "retention.ms" => number(-1, i64::MAX),
        "segment.bytes" => number(pagecast_log::batch::HEADER_LEN as i64, i64::from(i32::MAX)),
        "segment.ms" => number(1, i64::MAX),
        _ => Ok(()),
    }
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
        // User topics are not compacted yet: `cleanup.policy=compact` is refused.
        cleanup: None,
        delete_retention: None,
    }
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
    fn values_are_checked() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("segment.bytes", "10").is_err());
        assert!(validate("segment.bytes", "1048576").is_ok());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "Now").is_err());
        assert!(validate("cleanup.policy", "compact").is_err());
        let err = validate("retention.hours", "1").unwrap_err();
        assert!(err.contains("retention.ms"), "{err}");
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
