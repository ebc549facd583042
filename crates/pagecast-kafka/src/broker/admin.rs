//! Topic administration: CreateTopics, DeleteTopics, CreatePartitions, DeleteRecords,
//! DescribeConfigs, IncrementalAlterConfigs and DescribeCluster.

use std::collections::{BTreeMap, BTreeSet};

use pagecast_log::TopicPartition;

use super::topic_config::{self, SETTINGS};
use super::{NODE_ID, Refusal, Shared};
use crate::error::{ErrorCode, storage_error_code};
use crate::messages::alter_configs::{AlterConfigsRequest, AlterConfigsResponse};
use crate::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use crate::messages::create_topics::{
    CreatableTopicConfigs, CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use crate::messages::delete_records::{
    DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteRecordsTopicResult,
};
use crate::messages::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::messages::describe_cluster::{
    DescribeClusterBroker, DescribeClusterRequest, DescribeClusterResponse,
};
use crate::messages::describe_configs::{
    self, DescribeConfigsRequest, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::messages::incremental_alter_configs::{
    self as alter, AlterConfigsResourceResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};

/// A topic's settings as DescribeConfigs and CreateTopics list them: every setting,
/// or those in `keys`.
fn topic_settings(
    shared: &Shared,
    configs: &BTreeMap<String, String>,
    keys: Option<&[String]>,
) -> Vec<(&'static topic_config::Setting, String, i8)> {
    SETTINGS
        .iter()
        .filter(|s| keys.is_none_or(|k| k.iter().any(|k| k == s.name)))
        .map(|s| match configs.get(s.name) {
            Some(v) => (s, v.clone(), describe_configs::SOURCE_TOPIC),
            None => (
                s,
                topic_config::default_value(s.name, shared.config.message_max_bytes),
                topic_config::default_source(s.name),
            ),
        })
        .collect()
}

pub(crate) fn create_topics(
    shared: &Shared,
    req: CreateTopicsRequest,
) -> (CreateTopicsResponse, ErrorCode) {
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.clone()))
        .map(|t| t.name.clone())
        .collect();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let mut out = CreatableTopicResult {
                name: t.name.clone(),
                ..Default::default()
            };
            let partitions = if !t.assignments.is_empty() {
                t.assignments.len() as i32
            } else if t.num_partitions == -1 {
                shared.config.default_partitions
            } else {
                t.num_partitions
            };
            let result: Result<_, Refusal> = if duplicates.contains(&t.name) {
                Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("topic {} is named twice", t.name),
                ))
            } else if !matches!(t.replication_factor, -1 | 1) {
                Err((
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    format!(
                        "replication factor {} is more than the one broker there is",
                        t.replication_factor
                    ),
                ))
            } else if t.assignments.iter().any(|a| a.broker_ids != [NODE_ID]) {
                Err((
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!("every replica must be on broker {NODE_ID}, the only one"),
                ))
            } else {
                let configs: Result<BTreeMap<String, String>, String> = t
                    .configs
                    .into_iter()
                    .filter_map(|c| Some((c.name, c.value?)))
                    .map(|(name, value)| Ok((name.clone(), topic_config::validate(&name, &value)?)))
                    .collect();
                match configs.and_then(|c| topic_config::validate_together(&c).map(|()| c)) {
                    Ok(configs) => {
                        shared.create_topic(&t.name, partitions, configs, req.validate_only)
                    }
                    Err(message) => Err((ErrorCode::INVALID_CONFIG, message)),
                }
            };
            match result {
                Ok(topic) => {
                    out.topic_id = topic.id;
                    out.num_partitions = topic.partitions;
                    out.replication_factor = 1;
                    out.configs = Some(
                        topic_settings(shared, &topic.configs, None)
                            .into_iter()
                            .map(|(s, value, source)| CreatableTopicConfigs {
                                name: s.name.into(),
                                value: Some(value),
                                read_only: s.read_only,
                                config_source: source,
                                is_sensitive: false,
                            })
                            .collect(),
                    );
                }
                Err((code, message)) => {
                    out.error_code = code.0;
                    out.error_message = Some(message);
                }
            }
            out
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(topics.iter().map(|t| t.error_code));
    (
        CreateTopicsResponse {
            topics,
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn delete_topics(
    shared: &Shared,
    req: DeleteTopicsRequest,
    version: i16,
) -> (DeleteTopicsResponse, ErrorCode) {
    let wanted: Vec<(Option<String>, crate::codec::Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), crate::codec::Uuid::NIL))
            .collect()
    };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| shared.topic_by_id(id).map(|(n, _)| n));
            let mut out = DeletableTopicResult {
                name: name.clone(),
                topic_id: id,
                ..Default::default()
            };
            let result = match &name {
                Some(n) => shared.delete_topic(n),
                None => Err((ErrorCode::UNKNOWN_TOPIC_ID, format!("no topic has ID {id}"))),
            };
            match result {
                Ok(topic) => out.topic_id = topic.id,
                Err((code, message)) => {
                    out.error_code = code.0;
                    out.error_message = Some(message);
                }
            }
            out
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(responses.iter().map(|t| t.error_code));
    (
        DeleteTopicsResponse {
            responses,
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn create_partitions(
    shared: &Shared,
    req: CreatePartitionsRequest,
) -> (CreatePartitionsResponse, ErrorCode) {
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let assigned_elsewhere = t
                .assignments
                .iter()
                .flatten()
                .any(|a| a.broker_ids != [NODE_ID]);
            let result = if assigned_elsewhere {
                Err((
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!("every replica must be on broker {NODE_ID}, the only one"),
                ))
            } else {
                shared.grow_topic(&t.name, t.count, req.validate_only)
            };
            let (code, message) = match result {
                Ok(()) => (ErrorCode::NONE, None),
                Err((code, message)) => (code, Some(message)),
            };
            CreatePartitionsTopicResult {
                name: t.name,
                error_code: code.0,
                error_message: message,
            }
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(results.iter().map(|t| t.error_code));
    (
        CreatePartitionsResponse {
            results,
            ..Default::default()
        },
        code,
    )
}

/// The offset DeleteRecords takes for "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

/// DeleteRecords, as Kafka's ReplicaManager.deleteRecords: each partition's log start
/// offset moves up to the offset given (-1: the high watermark); one past the high
/// watermark, or negative, is OFFSET_OUT_OF_RANGE. The answer is the log start offset
/// after it (the low watermark of a partition with one replica).
pub(crate) fn delete_records(
    shared: &Shared,
    req: DeleteRecordsRequest,
) -> (DeleteRecordsResponse, ErrorCode) {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let topic = shared.topic(&t.name);
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut out = DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: 0,
                    };
                    if !topic
                        .as_ref()
                        .is_some_and(|topic| topic.has_partition(p.partition_index))
                    {
                        out.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
                        return out;
                    }
                    let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                    let result = (|| {
                        let store = shared.store();
                        let offset = match p.offset {
                            HIGH_WATERMARK => store.offsets(&tp)?.end,
                            o => o,
                        };
                        if offset < 0 {
                            let o = store.offsets(&tp)?;
                            return Err(pagecast_log::Error::OffsetOutOfRange {
                                partition: tp.clone(),
                                offset,
                                start: o.start,
                                end: o.end,
                            });
                        }
                        store.delete_records(&tp, offset)
                    })();
                    match result {
                        Ok(start) => out.low_watermark = start,
                        Err(e) => out.error_code = storage_error_code(&e).0,
                    }
                    out
                })
                .collect();
            DeleteRecordsTopicResult {
                name: t.name,
                partitions,
            }
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    );
    (
        DeleteRecordsResponse {
            topics,
            ..Default::default()
        },
        code,
    )
}

/// The broker's settings, as DescribeConfigs shows them: read-only, from the command
/// line.
fn broker_settings(shared: &Shared) -> Vec<(&'static str, String, topic_config::Kind)> {
    use topic_config::Kind;
    let c = &shared.config;
    vec![
        (
            "auto.create.topics.enable",
            c.auto_create_topics.to_string(),
            Kind::String,
        ),
        ("broker.id", NODE_ID.to_string(), Kind::Int),
        (
            "log.dirs",
            c.data.join(super::meta::LOG_DIR).display().to_string(),
            Kind::String,
        ),
        (
            "message.max.bytes",
            c.message_max_bytes.to_string(),
            Kind::Int,
        ),
        (
            "num.partitions",
            c.default_partitions.to_string(),
            Kind::Int,
        ),
        (
            "pagecast.storage",
            c.storage.name().to_owned(),
            Kind::String,
        ),
    ]
}

pub(crate) fn describe_configs(
    shared: &Shared,
    req: DescribeConfigsRequest,
) -> (DescribeConfigsResponse, ErrorCode) {
    // Synonyms as Kafka lists them: the value's own source first, then the broker
    // setting a topic's default comes from.
    let entry = |name: &str,
                 value: String,
                 source: i8,
                 read_only: bool,
                 kind: topic_config::Kind,
                 doc: &str,
                 default: Option<(&str, String)>| {
        let mut synonyms = Vec::new();
        if req.include_synonyms {
            if source != describe_configs::SOURCE_DEFAULT {
                synonyms.push(DescribeConfigsSynonym {
                    name: name.into(),
                    value: Some(value.clone()),
                    source,
                });
            }
            if let Some((broker_name, default)) = default {
                synonyms.push(DescribeConfigsSynonym {
                    name: broker_name.into(),
                    value: Some(default),
                    source: describe_configs::SOURCE_DEFAULT,
                });
            }
        }
        DescribeConfigsResourceResult {
            name: name.into(),
            value: Some(value),
            read_only,
            config_source: source,
            is_sensitive: false,
            synonyms,
            config_type: kind as i8,
            documentation: req.include_documentation.then(|| doc.to_owned()),
        }
    };
    let results = req
        .resources
        .iter()
        .map(|r| {
            let mut out = DescribeConfigsResult {
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            };
            let keys = r.configuration_keys.as_deref();
            match r.resource_type {
                describe_configs::TOPIC => match shared.topic(&r.resource_name) {
                    Some(topic) => {
                        out.configs = topic_settings(shared, &topic.configs, keys)
                            .into_iter()
                            .map(|(s, value, source)| {
                                let default = s.synonym.map(|broker| {
                                    let d = topic_config::default_value(
                                        s.name,
                                        shared.config.message_max_bytes,
                                    );
                                    (broker, d)
                                });
                                entry(s.name, value, source, s.read_only, s.kind, s.doc, default)
                            })
                            .collect();
                    }
                    None => {
                        out.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
                        out.error_message = Some(format!("no topic {}", r.resource_name));
                    }
                },
                describe_configs::BROKER
                    if r.resource_name.is_empty() || r.resource_name == NODE_ID.to_string() =>
                {
                    out.configs = broker_settings(shared)
                        .into_iter()
                        .filter(|(name, _, _)| keys.is_none_or(|k| k.iter().any(|k| k == name)))
                        .map(|(name, value, kind)| {
                            entry(
                                name,
                                value,
                                describe_configs::SOURCE_STATIC_BROKER,
                                true,
                                kind,
                                "set on the command line",
                                None,
                            )
                        })
                        .collect();
                }
                describe_configs::BROKER => {
                    out.error_code = ErrorCode::INVALID_REQUEST.0;
                    out.error_message =
                        Some(format!("this is broker {NODE_ID}, not {}", r.resource_name));
                }
                other => {
                    out.error_code = ErrorCode::INVALID_REQUEST.0;
                    out.error_message = Some(format!("resource type {other} has no settings here"));
                }
            }
            out
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(results.iter().map(|r| r.error_code));
    (
        DescribeConfigsResponse {
            results,
            ..Default::default()
        },
        code,
    )
}

/// Kafka's checks of a config change request before any change is tried: a resource
/// named twice (both are refused), a setting named twice in one resource, a null value
/// where one is needed (`null_refused` says which).
fn precheck<'a>(
    resources: impl Iterator<Item = (i8, &'a str)> + Clone,
    keys: &[(&str, bool)],
    resource: (i8, &str),
) -> Option<Refusal> {
    if resources.filter(|r| *r == resource).count() > 1 {
        return Some((
            ErrorCode::INVALID_REQUEST,
            "Each resource must appear at most once.".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    if keys.iter().any(|(k, _)| !seen.insert(*k)) {
        return Some((
            ErrorCode::INVALID_REQUEST,
            "Error due to duplicate config keys".into(),
        ));
    }
    keys.iter().find(|(_, null)| *null).map(|(k, _)| {
        (
            ErrorCode::INVALID_REQUEST,
            format!("Null value not supported for : {k}"),
        )
    })
}

/// The answer refusing a resource's change before it was tried.
fn refused(
    resource_type: i8,
    name: String,
    (code, message): Refusal,
) -> AlterConfigsResourceResponse {
    AlterConfigsResourceResponse {
        error_code: code.0,
        error_message: Some(message),
        resource_type,
        resource_name: name,
    }
}

/// Changes one resource's settings with `change`, which edits the topic's overrides:
/// every value is checked as Kafka checks it, then the settings together, then the
/// storage engine takes them (or, with `validate_only`, only checks it could).
fn alter_topic_configs(
    shared: &Shared,
    resource_type: i8,
    name: String,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), Refusal>,
) -> AlterConfigsResourceResponse {
    let result: Result<(), Refusal> = if resource_type != describe_configs::TOPIC {
        Err((
            ErrorCode::INVALID_REQUEST,
            "only topic settings change at run time; the broker's are set on its command line"
                .into(),
        ))
    } else {
        match shared.topic(&name) {
            None => Err((
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                format!("no topic {name}"),
            )),
            Some(topic) => {
                let mut configs = topic.configs.clone();
                change(&mut configs)
                    .and_then(|()| {
                        topic_config::validate_together(&configs)
                            .map_err(|m| (ErrorCode::INVALID_CONFIG, m))
                    })
                    .and_then(|()| shared.set_topic_configs(&name, configs, validate_only))
            }
        }
    };
    let (code, message) = match result {
        Ok(()) => (ErrorCode::NONE, None),
        Err((code, message)) => (code, Some(message)),
    };
    AlterConfigsResourceResponse {
        error_code: code.0,
        error_message: message,
        resource_type,
        resource_name: name,
    }
}

pub(crate) fn incremental_alter_configs(
    shared: &Shared,
    req: IncrementalAlterConfigsRequest,
) -> (IncrementalAlterConfigsResponse, ErrorCode) {
    let message_max_bytes = shared.config.message_max_bytes;
    let named: Vec<(i8, String)> = req
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    let names = named.iter().map(|(t, n)| (*t, n.as_str()));
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let keys: Vec<(&str, bool)> = r
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.as_str(),
                        c.value.is_none() && c.config_operation != alter::DELETE,
                    )
                })
                .collect();
            if let Some(why) = precheck(names.clone(), &keys, (r.resource_type, &r.resource_name)) {
                return refused(r.resource_type, r.resource_name, why);
            }
            let changes = r.configs;
            alter_topic_configs(
                shared,
                r.resource_type,
                r.resource_name,
                req.validate_only,
                |configs| {
                    changes
                        .iter()
                        .try_for_each(|c| {
                            let Some(setting) = topic_config::setting(&c.name) else {
                                return Err(format!("Unknown topic config name: {}", c.name));
                            };
                            let current = || {
                                configs.get(&c.name).cloned().unwrap_or_else(|| {
                                    topic_config::default_value(&c.name, message_max_bytes)
                                })
                            };
                            let items = |v: &str| -> Vec<String> {
                                v.split(',')
                                    .map(str::trim)
                                    .filter(|i| !i.is_empty())
                                    .map(str::to_owned)
                                    .collect()
                            };
                            let value = match (c.config_operation, &c.value) {
                                (alter::SET, Some(value)) => value.clone(),
                                (alter::SET, None) | (alter::DELETE, _) => {
                                    configs.remove(&c.name);
                                    return Ok(());
                                }
                                (op @ (alter::APPEND | alter::SUBTRACT), _)
                                    if setting.kind != topic_config::Kind::List =>
                                {
                                    let what = if op == alter::APPEND {
                                        "append"
                                    } else {
                                        "subtract"
                                    };
                                    return Err(format!(
                                        "Config value {what} is not allowed for config key: {}",
                                        c.name
                                    ));
                                }
                                (alter::APPEND, value) => {
                                    let mut list = items(&current());
                                    for item in items(value.as_deref().unwrap_or_default()) {
                                        if !list.contains(&item) {
                                            list.push(item);
                                        }
                                    }
                                    list.join(",")
                                }
                                (alter::SUBTRACT, value) => {
                                    let gone = items(value.as_deref().unwrap_or_default());
                                    let mut list = items(&current());
                                    list.retain(|i| !gone.contains(i));
                                    list.join(",")
                                }
                                (op, _) => {
                                    return Err(format!("unknown operation {op} on {}", c.name));
                                }
                            };
                            let value = topic_config::validate(&c.name, &value)?;
                            configs.insert(c.name.clone(), value);
                            Ok(())
                        })
                        .map_err(|m| (ErrorCode::INVALID_CONFIG, m))
                },
            )
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(responses.iter().map(|r| r.error_code));
    (
        IncrementalAlterConfigsResponse {
            responses,
            ..Default::default()
        },
        code,
    )
}

/// AlterConfigs: each topic's overrides become exactly those named.
pub(crate) fn alter_configs(
    shared: &Shared,
    req: AlterConfigsRequest,
) -> (AlterConfigsResponse, ErrorCode) {
    let resources: Vec<(i8, String)> = req
        .resources
        .iter()
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    let names = resources.iter().map(|(t, n)| (*t, n.as_str()));
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            // A null value is refused below, where Kafka refuses it.
            let keys: Vec<(&str, bool)> =
                r.configs.iter().map(|c| (c.name.as_str(), false)).collect();
            if let Some(why) = precheck(names.clone(), &keys, (r.resource_type, &r.resource_name)) {
                return refused(r.resource_type, r.resource_name, why);
            }
            let named = r.configs;
            alter_topic_configs(
                shared,
                r.resource_type,
                r.resource_name,
                req.validate_only,
                |configs| {
                    let mut fresh = BTreeMap::new();
                    for c in &named {
                        let Some(value) = &c.value else {
                            return Err((
                                ErrorCode::INVALID_REQUEST,
                                format!("Null value not supported for topic configs: {}", c.name),
                            ));
                        };
                        let value = topic_config::validate(&c.name, value)
                            .map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
                        fresh.insert(c.name.clone(), value);
                    }
                    *configs = fresh;
                    Ok(())
                },
            )
        })
        .collect::<Vec<_>>();
    let code = ErrorCode::first(responses.iter().map(|r| r.error_code));
    (
        AlterConfigsResponse {
            responses,
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn describe_cluster(
    shared: &Shared,
    req: DescribeClusterRequest,
) -> (DescribeClusterResponse, ErrorCode) {
    let broker = DescribeClusterBroker {
        broker_id: NODE_ID,
        host: shared.advertised.0.clone(),
        port: i32::from(shared.advertised.1),
        rack: None,
    };
    (
        DescribeClusterResponse {
            endpoint_type: req.endpoint_type,
            cluster_id: shared.meta.cluster_id.clone(),
            controller_id: NODE_ID,
            brokers: vec![broker],
            cluster_authorized_operations: if req.include_cluster_authorized_operations {
                super::authorized::CLUSTER
            } else {
                i32::MIN
            },
            ..Default::default()
        },
        ErrorCode::NONE,
    )
}
