//! Requests in, answers out: the API table (each API once: key, versions, handler and
//! whether the handler runs on the pool or waits), the dispatch it drives, and a
//! handler per API. Fetch's answer is built in `fetch`, as chunks rather than bytes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pagecast_log::TopicPartition;
use pagecast_log::batch::{self, Header};

use super::meta::Topic;
use super::offsets::{self, Committed, OFFSETS_TOPIC};
use super::producers::{ProducerState, Verdict};
use super::{NODE_ID, Shared, admin, fetch, group_api, internal, lock, now_ms, topic_config};
use crate::codec::{DecodeError, Message, Reader, decode_body};
use crate::error::{ErrorCode, storage_error_code};
use crate::frame::{RequestHeader, finish_response, start_response};
use crate::messages::alter_configs::AlterConfigsRequest;
use crate::messages::api_versions::{ApiVersion, ApiVersionsRequest, ApiVersionsResponse};
use crate::messages::consumer_group_describe::ConsumerGroupDescribeRequest;
use crate::messages::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
use crate::messages::create_partitions::CreatePartitionsRequest;
use crate::messages::create_topics::CreateTopicsRequest;
use crate::messages::delete_groups::DeleteGroupsRequest;
use crate::messages::delete_records::DeleteRecordsRequest;
use crate::messages::delete_topics::DeleteTopicsRequest;
use crate::messages::describe_cluster::DescribeClusterRequest;
use crate::messages::describe_configs::DescribeConfigsRequest;
use crate::messages::describe_groups::DescribeGroupsRequest;
use crate::messages::fetch::FetchRequest;
use crate::messages::find_coordinator::{
    Coordinator, FindCoordinatorRequest, FindCoordinatorResponse,
};
use crate::messages::heartbeat::HeartbeatRequest;
use crate::messages::incremental_alter_configs::IncrementalAlterConfigsRequest;
use crate::messages::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::messages::join_group::JoinGroupRequest;
use crate::messages::leave_group::LeaveGroupRequest;
use crate::messages::list_groups::ListGroupsRequest;
use crate::messages::list_offsets::{
    EARLIEST, LATEST, ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse, MAX_TIMESTAMP,
};
use crate::messages::metadata::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
    MetadataResponseTopic,
};
use crate::messages::offset_commit::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
};
use crate::messages::offset_delete::OffsetDeleteRequest;
use crate::messages::offset_fetch::{
    OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseGroup,
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use crate::messages::produce::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, ProduceRequest, ProduceResponse,
    TopicProduceResponse,
};
use crate::messages::sync_group::SyncGroupRequest;

/// An API the broker implements: key, name, versions, first flexible version, and how
/// its requests are answered. [`APIS`] lists each once; ApiVersions, the frame limits
/// and the dispatch all come from it.
#[derive(Clone, Copy)]
pub struct Api {
    /// API key.
    pub key: i16,
    /// Kafka's name for it.
    pub name: &'static str,
    /// Lowest version implemented.
    pub min: i16,
    /// Highest version implemented.
    pub max: i16,
    /// First flexible version.
    pub flexible_from: i16,
    pub(crate) run: Run,
    /// Decodes a body of the request, keeping nothing: the handler's decoding alone.
    decode: fn(&[u8], i16) -> Result<(), DecodeError>,
    /// A body of the request with every field at its default.
    default_body: fn(i16) -> Vec<u8>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (key {}, v{} to v{})",
            self.name, self.key, self.min, self.max
        )
    }
}

impl Api {
    const fn new<M: Message + Default>(name: &'static str, run: Run) -> Api {
        Api {
            key: M::KEY,
            name,
            min: M::MIN_VERSION,
            max: M::MAX_VERSION,
            flexible_from: M::FLEXIBLE_FROM,
            run,
            decode: decode_only::<M>,
            default_body: default_body::<M>,
        }
    }
}

fn decode_only<M: Message>(body: &[u8], version: i16) -> Result<(), DecodeError> {
    decode_body::<M>(body, version).map(drop)
}

fn default_body<M: Message + Default>(version: i16) -> Vec<u8> {
    crate::codec::encode_body(&M::default(), version)
}

/// Decodes a request frame (without its size prefix) as the broker does before it
/// runs the handler: header, API and version, body. Returns the API's name and the
/// version, or why the broker would refuse the frame. For fuzzing the decoders.
pub fn decode_request(frame: &[u8]) -> Result<(&'static str, i16), String> {
    let mut r = Reader::new(frame);
    let (key, version, _) = RequestHeader::decode_fixed(&mut r).map_err(|e| e.to_string())?;
    let api = APIS
        .iter()
        .find(|a| a.key == key)
        .ok_or_else(|| format!("API key {key} is not implemented"))?;
    if version < api.min || version > api.max {
        return Err(format!("{} v{version} is not implemented", api.name));
    }
    let mut r = Reader::new(frame);
    RequestHeader::decode(&mut r, version >= api.flexible_from).map_err(|e| e.to_string())?;
    (api.decode)(&frame[r.position()..], version).map_err(|e| e.to_string())?;
    Ok((api.name, version))
}

/// A request frame (without its size prefix) of every API at every version
/// implemented, its fields at their defaults, named `Name-vN`: seeds for fuzzing.
pub fn sample_requests() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for api in APIS {
        for version in api.min..=api.max {
            let mut frame = Vec::new();
            RequestHeader {
                api_key: api.key,
                api_version: version,
                correlation_id: 1,
                client_id: Some("seed".into()),
            }
            .encode(&mut frame, version >= api.flexible_from);
            frame.extend((api.default_body)(version));
            out.push((format!("{}-v{version}", api.name), frame));
        }
    }
    out
}

/// One request on its way to its handler, and what a handler may know of where it
/// came from.
pub(crate) struct Call {
    pub(crate) shared: Arc<Shared>,
    pub(crate) version: i16,
    pub(crate) correlation_id: i32,
    /// Whether the response header is v1 (the request's version is flexible).
    header_v1: bool,
    pub(crate) client_id: String,
    /// The client's address as Kafka shows a member's host (`/ip`).
    pub(crate) client_host: String,
}

/// A handler's answer: what to send back, and the first error it carries, for metrics.
pub(crate) struct Answer {
    pub(crate) reply: Reply,
    pub(crate) code: ErrorCode,
}

impl Call {
    /// The answer that sends `body` in a response frame.
    fn answer<M: Message>(&self, (body, code): (M, ErrorCode)) -> Answer {
        Answer {
            reply: Reply::Frame(respond(
                self.correlation_id,
                self.version,
                &body,
                self.header_v1,
            )),
            code,
        }
    }
}

/// A decoded request bound to its synchronous handler, for a handler thread.
pub(crate) type Job = Box<dyn FnOnce() -> Answer + Send>;
/// A decoded request's async handler, awaited on the connection's task.
pub(crate) type Waiting = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// How an API's requests are answered. Both decode on the connection's task.
#[derive(Clone, Copy)]
pub(crate) enum Run {
    /// A synchronous handler on the handler pool: anything that may block (an fsync, a
    /// file read, a decompression) runs there.
    Pool(fn(Call, &[u8]) -> Result<Job, DecodeError>),
    /// An async handler that waits without holding a thread (Fetch's long poll, the
    /// JoinGroup and SyncGroup rebalance waits, a group coordinator answer waiting for
    /// its records to be written) and does its blocking work on the pool.
    Wait(fn(Call, &[u8]) -> Result<Waiting, DecodeError>),
}

/// Decodes a request and binds it to `handler`, to run on the pool.
fn on_pool<Req, Resp>(
    call: Call,
    body: &[u8],
    handler: fn(&Call, Req) -> (Resp, ErrorCode),
) -> Result<Job, DecodeError>
where
    Req: Message + Send + 'static,
    Resp: Message + 'static,
{
    let req = decode_body::<Req>(body, call.version)?;
    Ok(Box::new(move || {
        let out = handler(&call, req);
        call.answer(out)
    }))
}

/// A row of [`APIS`] whose handler runs on the pool: `|call, request| (response, code)`.
macro_rules! pool {
    ($name:literal, $req:ty, |$call:ident, $r:ident| $body:expr) => {
        Api::new::<$req>(
            $name,
            Run::Pool(|call, bytes| on_pool::<$req, _>(call, bytes, |$call, $r| $body)),
        )
    };
}

/// A row of [`APIS`] whose handler is async: `|call, request| answer`, awaiting inside.
macro_rules! wait {
    ($name:literal, $req:ty, |$call:ident, $r:ident| $body:expr) => {
        Api::new::<$req>(
            $name,
            Run::Wait(|call, bytes| {
                let $r = decode_body::<$req>(bytes, call.version)?;
                Ok(Box::pin(async move {
                    let $call = &call;
                    $body
                }))
            }),
        )
    };
}

/// Every API implemented, once each, as ApiVersions advertises them.
pub static APIS: &[Api] = &[
    Api::new::<ProduceRequest>(
        "Produce",
        Run::Pool(|call, bytes| {
            let req = decode_body::<ProduceRequest>(bytes, call.version)?;
            Ok(Box::new(move || {
                let acks = req.acks;
                let out = produce(&call.shared, req, call.version);
                match acks {
                    0 => Answer {
                        reply: Reply::Nothing,
                        code: out.1,
                    },
                    _ => call.answer(out),
                }
            }))
        }),
    ),
    wait!("Fetch", FetchRequest, |call, req| {
        let (resp, code) = fetch::fetch(&call.shared, req, call.version, call.correlation_id).await;
        Answer {
            reply: Reply::Fetch(resp),
            code,
        }
    }),
    pool!("ListOffsets", ListOffsetsRequest, |call, req| list_offsets(
        &call.shared,
        req
    )),
    pool!("Metadata", MetadataRequest, |call, req| metadata(
        &call.shared,
        req,
        call.version
    )),
    wait!("OffsetCommit", OffsetCommitRequest, |call, req| {
        call.answer(offset_commit(&call.shared, req).await)
    }),
    pool!("OffsetFetch", OffsetFetchRequest, |call, req| offset_fetch(
        &call.shared,
        req,
        call.version
    )),
    pool!("FindCoordinator", FindCoordinatorRequest, |call, req| {
        find_coordinator(&call.shared, req, call.version)
    }),
    Api::new::<ApiVersionsRequest>(
        "ApiVersions",
        Run::Pool(|call, bytes| {
            decode_body::<ApiVersionsRequest>(bytes, call.version)?;
            Ok(Box::new(move || Answer {
                // The response header of ApiVersions is always v0 (KIP-511).
                reply: Reply::Frame(respond(
                    call.correlation_id,
                    call.version,
                    &api_versions_body(ErrorCode::NONE),
                    false,
                )),
                code: ErrorCode::NONE,
            }))
        }),
    ),
    pool!("InitProducerId", InitProducerIdRequest, |call, req| {
        init_producer_id(&call.shared, req)
    }),
    pool!("CreateTopics", CreateTopicsRequest, |call, req| {
        admin::create_topics(&call.shared, req)
    }),
    pool!("DeleteTopics", DeleteTopicsRequest, |call, req| {
        admin::delete_topics(&call.shared, req, call.version)
    }),
    pool!("DeleteRecords", DeleteRecordsRequest, |call, req| {
        admin::delete_records(&call.shared, req)
    }),
    pool!("DescribeConfigs", DescribeConfigsRequest, |call, req| {
        admin::describe_configs(&call.shared, req)
    }),
    pool!("AlterConfigs", AlterConfigsRequest, |call, req| {
        admin::alter_configs(&call.shared, req)
    }),
    pool!("CreatePartitions", CreatePartitionsRequest, |call, req| {
        admin::create_partitions(&call.shared, req)
    }),
    pool!(
        "IncrementalAlterConfigs",
        IncrementalAlterConfigsRequest,
        |call, req| admin::incremental_alter_configs(&call.shared, req)
    ),
    pool!("DescribeCluster", DescribeClusterRequest, |call, req| {
        admin::describe_cluster(&call.shared, req)
    }),
    wait!("JoinGroup", JoinGroupRequest, |call, req| {
        let out = group_api::join_group(
            &call.shared,
            req,
            call.version,
            &call.client_id,
            &call.client_host,
        )
        .await;
        call.answer(out)
    }),
    wait!("SyncGroup", SyncGroupRequest, |call, req| {
        let out = group_api::sync_group(&call.shared, req).await;
        call.answer(out)
    }),
    wait!("Heartbeat", HeartbeatRequest, |call, req| {
        call.answer(group_api::heartbeat(&call.shared, req).await)
    }),
    wait!("LeaveGroup", LeaveGroupRequest, |call, req| {
        call.answer(group_api::leave_group(&call.shared, req, call.version).await)
    }),
    pool!("ListGroups", ListGroupsRequest, |call, req| {
        group_api::list_groups(&call.shared, req)
    }),
    pool!("DescribeGroups", DescribeGroupsRequest, |call, req| {
        group_api::describe_groups(&call.shared, req, call.version)
    }),
    wait!("DeleteGroups", DeleteGroupsRequest, |call, req| {
        call.answer(group_api::delete_groups(&call.shared, req).await)
    }),
    wait!("OffsetDelete", OffsetDeleteRequest, |call, req| {
        call.answer(group_api::offset_delete(&call.shared, req).await)
    }),
    wait!(
        "ConsumerGroupHeartbeat",
        ConsumerGroupHeartbeatRequest,
        |call, req| {
            let out = group_api::consumer_group_heartbeat(
                &call.shared,
                req,
                &call.client_id,
                &call.client_host,
            )
            .await;
            call.answer(out)
        }
    ),
    pool!(
        "ConsumerGroupDescribe",
        ConsumerGroupDescribeRequest,
        |call, req| group_api::consumer_group_describe(&call.shared, req)
    ),
];

/// Largest committed-offset metadata kept (Kafka's `offset.metadata.max.bytes`).
pub const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// What to send back for a request.
pub(crate) enum Reply {
    /// A whole response frame, size prefix included.
    Frame(Vec<u8>),
    /// A fetch response: header bytes and record data.
    Fetch(fetch::Response),
    /// Nothing (a produce with acks=0).
    Nothing,
    /// Close the connection, for this reason.
    Close(String),
}

/// Frames a response body with header v0 or v1.
pub(crate) fn respond<M: Message>(
    correlation_id: i32,
    version: i16,
    body: &M,
    header_v1: bool,
) -> Vec<u8> {
    let v = M::version(version);
    let mut out = start_response(correlation_id, header_v1);
    out.reserve(body.size(v));
    body.encode(&mut out, v);
    finish_response(&mut out, 0);
    out
}

/// What a request for an API or version not implemented gets: the connection closed,
/// as Kafka closes it (no client can decode a response to a version it was not told
/// of). `what` is logged once per client address, so a client that reconnects in a
/// loop does not flood the log; the metrics count every one.
fn not_implemented(shared: &Shared, peer: std::net::SocketAddr, what: String) -> Reply {
    let mut logged = lock(&shared.unsupported_logged);
    if logged.len() < MAX_UNSUPPORTED_LOGGED && logged.insert((peer.ip(), what.clone())) {
        eprintln!(
            "pagecast broker: {peer}: {what} is not implemented; closing the connection (logged once per client)"
        );
    }
    Reply::Close(String::new())
}

/// Clients and requests [`not_implemented`] remembers having logged.
pub(crate) const MAX_UNSUPPORTED_LOGGED: usize = 1024;

fn api_versions_body(error: ErrorCode) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: error.0,
        api_keys: APIS
            .iter()
            .map(|a| ApiVersion {
                api_key: a.key,
                min_version: a.min,
                max_version: a.max,
            })
            .collect(),
        ..Default::default()
    }
}

/// Answers one request frame: decodes its header, finds its API in [`APIS`] and runs
/// the handler as the API's row says. Returns the reply, the API's name and the first
/// error the answer carries, for metrics.
pub(crate) async fn handle(
    shared: &Arc<Shared>,
    frame: &[u8],
    peer: std::net::SocketAddr,
) -> (Reply, &'static str, ErrorCode) {
    let mut r = Reader::new(frame);
    let Ok((key, version, correlation_id)) = RequestHeader::decode_fixed(&mut r) else {
        return (
            Reply::Close(format!(
                "a {}-byte request is shorter than a request header",
                frame.len()
            )),
            "Invalid",
            ErrorCode::INVALID_REQUEST,
        );
    };
    let Some(api) = APIS.iter().find(|a| a.key == key) else {
        return (
            not_implemented(shared, peer, format!("API key {key}")),
            "Unknown",
            ErrorCode::UNSUPPORTED_VERSION,
        );
    };
    if version < api.min || version > api.max {
        let reply = if key == ApiVersionsRequest::KEY {
            // KIP-511: answer in v0, listing what is implemented, so the client retries.
            respond(
                correlation_id,
                0,
                &api_versions_body(ErrorCode::UNSUPPORTED_VERSION),
                false,
            )
        } else {
            let what = format!("{} v{version} (v{} to v{} are)", api.name, api.min, api.max);
            return (
                not_implemented(shared, peer, what),
                api.name,
                ErrorCode::UNSUPPORTED_VERSION,
            );
        };
        return (
            Reply::Frame(reply),
            api.name,
            ErrorCode::UNSUPPORTED_VERSION,
        );
    }
    let flexible = version >= api.flexible_from;
    let mut r = Reader::new(frame);
    let (body, client_id) = match RequestHeader::decode(&mut r, flexible) {
        Ok(header) => (&frame[r.position()..], header.client_id.unwrap_or_default()),
        Err(e) => {
            return (
                malformed(api, version, &e),
                api.name,
                ErrorCode::INVALID_REQUEST,
            );
        }
    };
    let call = Call {
        shared: Arc::clone(shared),
        version,
        correlation_id,
        header_v1: flexible,
        client_id,
        client_host: format!("/{}", peer.ip()),
    };
    let answer = match api.run {
        Run::Pool(bind) => match bind(call, body) {
            Ok(job) => shared.pool.run(job).await.unwrap_or_else(|| Answer {
                reply: Reply::Close(format!(
                    "{} v{version} failed in its handler, or the broker is stopping",
                    api.name
                )),
                code: ErrorCode::UNKNOWN_SERVER_ERROR,
            }),
            Err(e) => Answer {
                reply: malformed(api, version, &e),
                code: ErrorCode::INVALID_REQUEST,
            },
        },
        Run::Wait(bind) => match bind(call, body) {
            Ok(waiting) => waiting.await,
            Err(e) => Answer {
                reply: malformed(api, version, &e),
                code: ErrorCode::INVALID_REQUEST,
            },
        },
    };
    (answer.reply, api.name, answer.code)
}

fn malformed(api: &Api, version: i16, e: &DecodeError) -> Reply {
    Reply::Close(format!("malformed {} v{version} request: {e}", api.name))
}

fn metadata(shared: &Shared, req: MetadataRequest, version: i16) -> (MetadataResponse, ErrorCode) {
    let all = match &req.topics {
        None => true,
        Some(t) => version == 0 && t.is_empty(),
    };
    let wanted: Vec<(Option<String>, crate::codec::Uuid)> = if all {
        shared
            .topics()
            .keys()
            .filter(|n| *n != OFFSETS_TOPIC)
            .map(|n| (Some(n.clone()), crate::codec::Uuid::NIL))
            .collect()
    } else {
        req.topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    };
    let create = shared.config.auto_create_topics && req.allow_auto_topic_creation;
    // Every missing topic is created at once: one write of the topics file.
    let mut refused = std::collections::HashMap::new();
    if create {
        let mut missing: Vec<&String> = wanted
            .iter()
            .filter_map(|(n, _)| n.as_ref())
            .filter(|n| shared.topic(n).is_none())
            .filter(|n| TopicPartition::new(n.as_str(), 0).validate().is_ok())
            .collect();
        missing.dedup();
        let asked = missing
            .iter()
            .map(|n| {
                (
                    (*n).clone(),
                    shared.config.default_partitions,
                    BTreeMap::new(),
                )
            })
            .collect();
        for (n, answer) in missing.into_iter().zip(shared.create_topics(asked, false)) {
            match answer {
                // Created meanwhile by another client.
                Ok(_) | Err((ErrorCode::TOPIC_ALREADY_EXISTS, _)) => {}
                Err((code, _)) => {
                    refused.insert(n.clone(), code);
                }
            }
        }
    }
    let mut topics = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let found = match &name {
            Some(n) => match shared.topic(n) {
                Some(t) => Ok((n.clone(), t)),
                None if refused.contains_key(n) => Err(refused[n]),
                None if TopicPartition::new(n.as_str(), 0).validate().is_err() => {
                    Err(ErrorCode::INVALID_TOPIC_EXCEPTION)
                }
                None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
            },
            None => shared.topic_by_id(id).ok_or(ErrorCode::UNKNOWN_TOPIC_ID),
        };
        topics.push(match found {
            Ok((name, t)) => MetadataResponseTopic {
                error_code: 0,
                name: Some(name),
                topic_id: t.id,
                is_internal: false,
                partitions: (0..t.partitions)
                    .map(|p| MetadataResponsePartition {
                        error_code: 0,
                        partition_index: p,
                        leader_id: NODE_ID,
                        leader_epoch: batch::LEADER_EPOCH,
                        replica_nodes: vec![NODE_ID],
                        isr_nodes: vec![NODE_ID],
                        offline_replicas: vec![],
                    })
                    .collect(),
                ..Default::default()
            },
            Err(code) => MetadataResponseTopic {
                error_code: code.0,
                name,
                topic_id: id,
                ..Default::default()
            },
        });
    }
    if req.include_topic_authorized_operations {
        for t in &mut topics {
            t.topic_authorized_operations = super::authorized::TOPIC;
        }
    }
    let code = ErrorCode::first(topics.iter().map(|t| t.error_code));
    let resp = MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: NODE_ID,
            host: shared.advertised.0.clone(),
            port: i32::from(shared.advertised.1),
            rack: None,
        }],
        cluster_id: Some(shared.meta.cluster_id.clone()),
        controller_id: NODE_ID,
        topics,
        cluster_authorized_operations: if req.include_cluster_authorized_operations {
            super::authorized::CLUSTER
        } else {
            i32::MIN
        },
        ..Default::default()
    };
    (resp, code)
}

/// Checks and appends one partition's records; returns its result.
fn produce_partition(
    shared: &Shared,
    topic: &Topic,
    tp: &TopicPartition,
    records: Option<Vec<u8>>,
) -> PartitionProduceResponse {
    let mut out = PartitionProduceResponse {
        index: tp.partition,
        base_offset: -1,
        ..Default::default()
    };
    let refuse =
        |mut out: PartitionProduceResponse, code: ErrorCode, batch: Option<(i32, String)>| {
            out.error_code = code.0;
            if let Some((batch_index, message)) = batch {
                out.error_message = Some(message.clone());
                out.record_errors = vec![BatchIndexAndErrorMessage {
                    batch_index,
                    batch_index_error_message: Some(message),
                }];
            }
            out
        };
    let Some(mut records) = records else {
        return refuse(out, ErrorCode::CORRUPT_MESSAGE, None);
    };
    let mut headers: Vec<Header> = Vec::new();
    for (i, item) in batch::split(&records).enumerate() {
        let i = i as i32;
        // `split` checks each batch whole, CRC included, and stops at the first bad one.
        let header = match item {
            Ok((_, header)) => header,
            Err((at, e)) => {
                return refuse(
                    out,
                    ErrorCode::CORRUPT_MESSAGE,
                    Some((i, format!("batch at byte {at}: {e}"))),
                );
            }
        };
        let max_bytes =
            topic_config::max_message_bytes(&topic.configs, shared.config.message_max_bytes);
        if header.size() > max_bytes as u64 {
            return refuse(
                out,
                ErrorCode::MESSAGE_TOO_LARGE,
                Some((
                    i,
                    format!(
                        "a {}-byte batch is larger than the topic's max.message.bytes ({max_bytes})",
                        header.size(),
                    ),
                )),
            );
        }
        if header.is_transactional() || header.is_control() {
            return refuse(
                out,
                ErrorCode::INVALID_RECORD,
                Some((i, "transactional and control batches are not accepted: this broker has no transaction coordinator".into())),
            );
        }
        headers.push(header);
    }
    if headers.is_empty() {
        return refuse(
            out,
            ErrorCode::CORRUPT_MESSAGE,
            Some((0, "no record batch".into())),
        );
    }
    // A topic whose compression.type names a codec has every batch compressed so, as
    // Kafka's log validator recompresses; the header fields idempotence reads stay.
    if let Some((codec, gzip_level)) = topic_config::compression(&topic.configs) {
        let max_bytes =
            topic_config::max_message_bytes(&topic.configs, shared.config.message_max_bytes);
        let mut rebuilt = Vec::with_capacity(records.len());
        let mut at = 0;
        for (i, h) in headers.iter_mut().enumerate() {
            let one = &records[at..at + h.size() as usize];
            at += h.size() as usize;
            match crate::records::recompress(one, codec, gzip_level, max_bytes) {
                Ok(Some(b)) if b.len() > max_bytes => {
                    return refuse(
                        out,
                        ErrorCode::MESSAGE_TOO_LARGE,
                        Some((
                            i as i32,
                            format!(
                                "compressed with {codec}, the batch is {} bytes, more than the topic's max.message.bytes ({max_bytes})",
                                b.len()
                            ),
                        )),
                    );
                }
                Ok(Some(b)) => {
                    *h = Header::parse(&b).unwrap_or(*h);
                    rebuilt.extend_from_slice(&b);
                }
                Ok(None) => rebuilt.extend_from_slice(one),
                Err(e) => {
                    return refuse(
                        out,
                        ErrorCode::CORRUPT_MESSAGE,
                        Some((i as i32, format!("compressing it with {codec}: {e}"))),
                    );
                }
            }
        }
        records = rebuilt;
    }

    // Idempotence: judge every batch against the producer's state as the earlier
    // batches of this request would leave it.
    let producers = shared.producers.partition(tp);
    let mut producers = lock(&producers);
    let mut verdicts = Vec::with_capacity(headers.len());
    let mut trial: Option<(i64, Option<ProducerState>)> = None;
    for h in &headers {
        if h.producer_id < 0 {
            verdicts.push(Verdict::Append);
            continue;
        }
        if trial.as_ref().is_none_or(|(id, _)| *id != h.producer_id) {
            trial = Some((h.producer_id, producers.get(h.producer_id).cloned()));
        }
        let Some((_, state)) = trial.as_mut() else {
            continue;
        };
        let v = ProducerState::verdict(state.as_ref(), h);
        if v == Verdict::Append {
            state.get_or_insert_default().record(h, 0);
        }
        verdicts.push(v);
    }
    match (verdicts.first(), verdicts.iter().all(|v| *v == verdicts[0])) {
        (Some(Verdict::Duplicate { base_offset }), true) => {
            out.base_offset = *base_offset;
            out.log_start_offset = shared.store().offsets(tp).map_or(-1, |o| o.start);
            return out;
        }
        _ => {
            if let Some(v) = verdicts.iter().find(|v| **v != Verdict::Append) {
                let code = match v {
                    Verdict::Refuse(code) => *code,
                    _ => ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
                };
                return refuse(out, code, None);
            }
        }
    }

    // Before the append, so InitProducerId never hands out an ID a stored batch carries.
    if let Some(id) = headers.iter().map(|h| h.producer_id).max() {
        shared.producers.saw_id(id);
    }
    let now = now_ms();
    let log_append_time = topic_config::log_append_time(&topic.configs);
    if log_append_time {
        let mut at = 0;
        for h in &headers {
            let size = h.size() as usize;
            batch::set_log_append_time(&mut records[at..at + size], now);
            at += size;
        }
    }
    let appended = {
        let store = shared.store();
        store
            .append(tp, &mut records, now)
            .and_then(|a| Ok((a, store.offsets(tp)?.start)))
    };
    match appended {
        Ok((appended, start)) => {
            let mut base = appended.base_offset;
            let mut count = 0u64;
            for h in &headers {
                producers.record(h, base);
                base += i64::from(h.last_offset_delta) + 1;
                count += h.record_count.max(0) as u64;
            }
            drop(producers);
            shared
                .metrics
                .produced_bytes
                .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
            shared
                .metrics
                .produced_records
                .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
            shared.appended.notify_waiters();
            out.base_offset = appended.base_offset;
            out.log_start_offset = start;
            if log_append_time {
                out.log_append_time_ms = now;
            }
            out
        }
        Err(e) => {
            let code = storage_error_code(&e);
            if code == ErrorCode::KAFKA_STORAGE_ERROR {
                eprintln!("pagecast broker: append to {tp}: {e}");
            }
            refuse(out, code, Some((0, e.to_string())))
        }
    }
}

fn produce(shared: &Shared, req: ProduceRequest, version: i16) -> (ProduceResponse, ErrorCode) {
    let whole = |code: ErrorCode| -> ProduceResponse {
        ProduceResponse {
            responses: req
                .topic_data
                .iter()
                .map(|t| TopicProduceResponse {
                    name: t.name.clone(),
                    partition_responses: t
                        .partition_data
                        .iter()
                        .map(|p| PartitionProduceResponse {
                            index: p.index,
                            error_code: code.0,
                            base_offset: -1,
                            ..Default::default()
                        })
                        .collect(),
                })
                .collect(),
            ..Default::default()
        }
    };
    // Versions 0 to 2 carry message formats 0 and 1, which are not stored.
    if version < 3 {
        return (
            whole(ErrorCode::UNSUPPORTED_VERSION),
            ErrorCode::UNSUPPORTED_VERSION,
        );
    }
    if req.transactional_id.is_some() {
        let code = ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        return (whole(code), code);
    }
    if !matches!(req.acks, -1..=1) {
        return (
            whole(ErrorCode::INVALID_REQUIRED_ACKS),
            ErrorCode::INVALID_REQUIRED_ACKS,
        );
    }
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for t in req.topic_data {
        let topic = shared.topic(&t.name);
        let partition_responses = t
            .partition_data
            .into_iter()
            .map(|p| match &topic {
                Some(topic) if topic.has_partition(p.index) => produce_partition(
                    shared,
                    topic,
                    &TopicPartition::new(t.name.as_str(), p.index),
                    p.records.map(|b| b.0),
                ),
                _ => PartitionProduceResponse {
                    index: p.index,
                    error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                    base_offset: -1,
                    ..Default::default()
                },
            })
            .collect();
        responses.push(TopicProduceResponse {
            name: t.name,
            partition_responses,
        });
    }
    let code = ErrorCode::first(
        responses
            .iter()
            .flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)),
    );
    (
        ProduceResponse {
            responses,
            ..Default::default()
        },
        code,
    )
}

/// The first record at or after `timestamp` (`None`: the one with the largest
/// timestamp) in the batch at `base_offset`: its offset and timestamp. Kafka looks
/// inside the batch, decompressing it, and so does this; a batch that cannot be read
/// (it inflates past what is left of the request's `inflate` budget) answers with its
/// base offset and largest timestamp.
fn record_at_timestamp(
    shared: &Shared,
    tp: &TopicPartition,
    base_offset: i64,
    timestamp: Option<i64>,
    inflate: &mut usize,
) -> pagecast_log::Result<Option<(i64, i64)>> {
    let chunks = shared.store().read(tp, base_offset, 1)?;
    let Some(chunk) = chunks.first() else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    chunk
        .copy_into(&mut bytes)
        .map_err(|source| pagecast_log::Error::Io {
            op: "read",
            file: tp.to_string().into(),
            source,
        })?;
    let header =
        batch::check_stored(&bytes).map_err(|source| pagecast_log::Error::InvalidBatch {
            position: 0,
            source,
        })?;
    // Records below the log start offset (DeleteRecords) are not served, so not found.
    let start = shared.store().offsets(tp)?.start;
    let record_most = shared.config.message_max_bytes;
    let found = crate::records::find_record(&bytes, inflate, record_most, |r| {
        r.offset >= start
            && match timestamp {
                Some(t) => r.timestamp >= t,
                None => r.timestamp == header.max_timestamp,
            }
    });
    match found {
        Ok(found) => Ok(found),
        Err(e) => {
            eprintln!(
                "pagecast broker: {tp} at offset {base_offset}: {e}; answering with the batch's first offset"
            );
            Ok(Some((header.base_offset, header.max_timestamp)))
        }
    }
}

fn list_offsets(shared: &Shared, req: ListOffsetsRequest) -> (ListOffsetsResponse, ErrorCode) {
    let mut topics = Vec::with_capacity(req.topics.len());
    // What the request's searches inside compressed batches may inflate, together: a
    // bound on their work (each holds one record at a time).
    let mut inflate = crate::records::MAX_DECOMPRESSED as usize;
    for t in req.topics {
        let topic = shared.topic(&t.name);
        let partitions = t
            .partitions
            .into_iter()
            .map(|p| {
                let mut out = ListOffsetsPartitionResponse {
                    partition_index: p.partition_index,
                    ..Default::default()
                };
                if !topic
                    .as_ref()
                    .is_some_and(|topic| topic.has_partition(p.partition_index))
                {
                    out.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0;
                    return out;
                }
                let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                let answer = (|| -> pagecast_log::Result<Option<(i64, i64)>> {
                    let o = shared.store().offsets(&tp)?;
                    match p.timestamp {
                        LATEST => Ok(Some((o.end, -1))),
                        EARLIEST => Ok(Some((o.start, -1))),
                        MAX_TIMESTAMP => {
                            let mut best: Option<Header> = None;
                            shared.walk_headers(&tp, o.start, |h| {
                                if best.is_none_or(|b| h.max_timestamp > b.max_timestamp) {
                                    best = Some(*h);
                                }
                            })?;
                            match best {
                                Some(h) => record_at_timestamp(
                                    shared,
                                    &tp,
                                    h.base_offset,
                                    None,
                                    &mut inflate,
                                ),
                                None => Ok(None),
                            }
                        }
                        t if t >= 0 => match shared.store().offset_for_timestamp(&tp, t)? {
                            Some(base) => {
                                record_at_timestamp(shared, &tp, base, Some(t), &mut inflate)
                            }
                            None => Ok(None),
                        },
                        _ => Ok(None),
                    }
                })();
                match answer {
                    Ok(Some((offset, timestamp))) => {
                        out.offset = offset;
                        out.timestamp = timestamp;
                        out.leader_epoch = batch::LEADER_EPOCH;
                    }
                    Ok(None) => {}
                    Err(e) => out.error_code = storage_error_code(&e).0,
                }
                out
            })
            .collect();
        topics.push(ListOffsetsTopicResponse {
            name: t.name,
            partitions,
        });
    }
    let code = ErrorCode::first(
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    );
    (
        ListOffsetsResponse {
            topics,
            ..Default::default()
        },
        code,
    )
}

fn find_coordinator(
    shared: &Shared,
    req: FindCoordinatorRequest,
    version: i16,
) -> (FindCoordinatorResponse, ErrorCode) {
    // Groups are coordinated here; transactions are not offered.
    let code = if req.key_type == 0 {
        ErrorCode::NONE
    } else {
        ErrorCode::COORDINATOR_NOT_AVAILABLE
    };
    let (host, port) = (shared.advertised.0.clone(), i32::from(shared.advertised.1));
    let resp = if version >= 4 {
        FindCoordinatorResponse {
            coordinators: req
                .coordinator_keys
                .into_iter()
                .map(|key| Coordinator {
                    key,
                    node_id: NODE_ID,
                    host: host.clone(),
                    port,
                    error_code: code.0,
                    error_message: None,
                })
                .collect(),
            ..Default::default()
        }
    } else {
        FindCoordinatorResponse {
            error_code: code.0,
            node_id: NODE_ID,
            host,
            port,
            ..Default::default()
        }
    };
    (resp, code)
}

/// Stores committed offsets as a group coordinator operation: the group's check, the
/// positions and their records happen under the coordinator's lock, in order with
/// every other group change, and the answer goes out once the records are written.
async fn offset_commit(
    shared: &Shared,
    req: OffsetCommitRequest,
) -> (OffsetCommitResponse, ErrorCode) {
    let now = now_ms();
    let mut accepted = Vec::new();
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = shared.topic(&t.name);
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let code = if !topic
                .as_ref()
                .is_some_and(|topic| topic.has_partition(p.partition_index))
            {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES)
            {
                ErrorCode::OFFSET_METADATA_TOO_LARGE
            } else {
                let key = (req.group_id.clone(), t.name.clone(), p.partition_index);
                let value = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata,
                    commit_ms: now,
                };
                accepted.push((key, value, topics.len(), partitions.len()));
                ErrorCode::NONE
            };
            partitions.push(OffsetCommitResponsePartition {
                partition_index: p.partition_index,
                error_code: code.0,
            });
        }
        topics.push(OffsetCommitResponseTopic {
            name: t.name,
            partitions,
        });
    }
    let (group_error, seq) = internal::coordinate(shared, |c| {
        let error = if req.group_id.is_empty() {
            Some(ErrorCode::INVALID_GROUP_ID)
        } else {
            c.check_commit(
                &req.group_id,
                req.generation_id_or_member_epoch,
                (&req.member_id, req.group_instance_id.as_deref()),
                std::time::Instant::now(),
            )
            .err()
        };
        // As Kafka, a commit that stores nothing (every topic unknown) makes no group.
        if error.is_none() && !accepted.is_empty() {
            c.hold_commits(&req.group_id);
            let mut committed = lock(&shared.offsets);
            for (key, value, _, _) in &accepted {
                c.record(offsets::commit_record(key, Some(value)));
                committed.set(key.clone(), value.clone());
            }
        }
        error
    });
    if let Some(code) = group_error {
        // The group's refusal is every partition's answer.
        for p in topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
            p.error_code = code.0;
        }
    } else if let Err(code) = internal::written(shared, seq).await {
        for (_, _, t, p) in accepted {
            topics[t].partitions[p].error_code = code.0;
        }
    }
    let code = ErrorCode::first(
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    );
    (
        OffsetCommitResponse {
            topics,
            ..Default::default()
        },
        code,
    )
}

/// A topic's partitions and what is committed for each.
type TopicCommits = (String, Vec<(i32, Option<Committed>)>);

/// One group's committed offsets for the topics asked (`None`: every topic).
fn committed_for(
    shared: &Shared,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Vec<TopicCommits> {
    let committed = lock(&shared.offsets);
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| {
                        (
                            p,
                            committed.get(&(group.to_owned(), name.clone(), p)).cloned(),
                        )
                    })
                    .collect();
                (name, found)
            })
            .collect(),
        None => {
            let mut out: Vec<TopicCommits> = Vec::new();
            for ((_, topic, partition), c) in committed.group(group) {
                match out.last_mut() {
                    Some((t, ps)) if t == topic => ps.push((*partition, Some(c.clone()))),
                    _ => out.push((topic.clone(), vec![(*partition, Some(c.clone()))])),
                }
            }
            out
        }
    }
}

fn offset_fetch(
    shared: &Shared,
    req: OffsetFetchRequest,
    version: i16,
) -> (OffsetFetchResponse, ErrorCode) {
    if version >= 8 {
        let groups = req
            .groups
            .into_iter()
            .map(|g| {
                let topics = g.topics.map(|ts| {
                    ts.into_iter()
                        .map(|t| (t.name, t.partition_indexes))
                        .collect()
                });
                let found = committed_for(shared, &g.group_id, topics);
                OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    topics: found
                        .into_iter()
                        .map(|(name, ps)| OffsetFetchResponseTopics {
                            name,
                            partitions: ps
                                .into_iter()
                                .map(|(p, c)| OffsetFetchResponsePartitions {
                                    partition_index: p,
                                    committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                                    committed_leader_epoch: c
                                        .as_ref()
                                        .map_or(-1, |c| c.leader_epoch),
                                    metadata: Some(c.and_then(|c| c.metadata).unwrap_or_default()),
                                    error_code: 0,
                                })
                                .collect(),
                        })
                        .collect(),
                    error_code: 0,
                }
            })
            .collect();
        return (
            OffsetFetchResponse {
                groups,
                ..Default::default()
            },
            ErrorCode::NONE,
        );
    }
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let found = committed_for(shared, &req.group_id, topics);
    let resp = OffsetFetchResponse {
        topics: found
            .into_iter()
            .map(|(name, ps)| OffsetFetchResponseTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|(p, c)| OffsetFetchResponsePartition {
                        partition_index: p,
                        committed_offset: c.as_ref().map_or(-1, |c| c.offset),
                        committed_leader_epoch: c.as_ref().map_or(-1, |c| c.leader_epoch),
                        metadata: Some(c.and_then(|c| c.metadata).unwrap_or_default()),
                        error_code: 0,
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    };
    (resp, ErrorCode::NONE)
}

fn init_producer_id(
    shared: &Shared,
    req: InitProducerIdRequest,
) -> (InitProducerIdResponse, ErrorCode) {
    let fail = |code: ErrorCode| {
        (
            InitProducerIdResponse {
                error_code: code.0,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
            code,
        )
    };
    if req.transactional_id.is_some() {
        return fail(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    }
    // Without a transactional ID every request gets a new ID at epoch 0, whatever ID
    // and epoch it names, as Kafka's TransactionCoordinator.handleInitProducerId
    // answers: an idempotent producer that asks for a bump (KIP-360) starts afresh, and
    // no client can take over, or fence, another's ID.
    match super::next_producer_id(shared) {
        Ok(id) => (
            InitProducerIdResponse {
                producer_id: id,
                producer_epoch: 0,
                ..Default::default()
            },
            ErrorCode::NONE,
        ),
        Err(e) => {
            eprintln!("pagecast broker: {e}");
            fail(ErrorCode::KAFKA_STORAGE_ERROR)
        }
    }
}
