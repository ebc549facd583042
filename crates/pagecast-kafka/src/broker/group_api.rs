//! JoinGroup, SyncGroup, Heartbeat, LeaveGroup, ListGroups, DescribeGroups,
//! DeleteGroups and OffsetDelete: the wire side of the group coordinator (`groups`). A
//! JoinGroup or SyncGroup that must wait for the rest of the group awaits its answer
//! without holding the coordinator's lock. An answer that rests on a change of the
//! coordinator's state goes out once that change is written (`internal::coordinate`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consumer_groups::{Beat, Tp};
use super::groups::{Join, Joined, Pending, Synced};
use super::offsets::{self, Key};
use super::{Shared, internal, lock};
use crate::codec::Bytes;
use crate::codec::Wire;
use crate::error::ErrorCode;
use crate::messages::consumer_group_describe::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, DescribedAssignment,
    DescribedConsumerGroup, DescribedMember as CgMember, DescribedTopicPartitions,
};
use crate::messages::consumer_group_heartbeat::{
    Assignment, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use crate::messages::delete_groups::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};
use crate::messages::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use crate::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use crate::messages::join_group::{JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember};
use crate::messages::leave_group::{LeaveGroupRequest, LeaveGroupResponse, MemberResponse};
use crate::messages::list_groups::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use crate::messages::offset_delete::{
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
};
use crate::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Awaits a pending answer, then the records it rests on. A stopping broker, or records
/// that could not be written, get `failed` (NOT_COORDINATOR, as Kafka's coordinator
/// answers when it moves or cannot append, so clients look for it again).
async fn wait<T>(shared: &Shared, (pending, seq): (Pending<T>, u64), failed: impl Fn() -> T) -> T {
    let (answer, seq) = match pending {
        Pending::Ready(t) => (t, seq),
        Pending::Wait(rx) => {
            let mut stopping = shared.stopping.subscribe();
            let answer = tokio::select! {
                answer = rx => answer.ok(),
                _ = stopping.wait_for(|s| *s) => None,
            };
            let Some(answer) = answer else {
                return failed();
            };
            // The operation that completed the wait (another member's) queued its
            // records before handing the answer over.
            (answer, internal::last_queued(shared))
        }
    };
    match internal::written(shared, seq).await {
        Ok(()) => answer,
        Err(_) => failed(),
    }
}

pub(crate) async fn join_group(
    shared: &Shared,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> (JoinGroupResponse, ErrorCode) {
    let join = Join {
        group: req.group_id,
        member_id: req.member_id,
        instance_id: req.group_instance_id,
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
        session_timeout: millis(req.session_timeout_ms),
        // Version 0 has no rebalance timeout: the session timeout serves.
        rebalance_timeout: millis(if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        }),
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| (p.name, p.metadata.0))
            .collect(),
        member_id_required: version >= 4,
    };
    let pending = internal::coordinate(shared, |c| c.join(join, Instant::now()));
    let joined = wait(shared, pending, || Joined {
        error: Some(ErrorCode::NOT_COORDINATOR),
        generation: -1,
        ..Default::default()
    })
    .await;
    let code = joined.error.unwrap_or(ErrorCode::NONE);
    (
        JoinGroupResponse {
            error_code: code.0,
            generation_id: joined.generation,
            protocol_type: joined.protocol_type,
            protocol_name: joined.protocol,
            leader: joined.leader,
            member_id: joined.member_id,
            members: joined
                .members
                .into_iter()
                .map(
                    |(member_id, group_instance_id, metadata)| JoinGroupResponseMember {
                        member_id,
                        group_instance_id,
                        metadata: crate::codec::Bytes(metadata),
                    },
                )
                .collect(),
            ..Default::default()
        },
        code,
    )
}

pub(crate) async fn sync_group(
    shared: &Arc<Shared>,
    req: SyncGroupRequest,
) -> (SyncGroupResponse, ErrorCode) {
    let assignments = req
        .assignments
        .into_iter()
        .map(|a| (a.member_id, a.assignment.0))
        .collect();
    let pending = internal::coordinate(shared, |c| {
        c.sync(
            &req.group_id,
            req.generation_id,
            (&req.member_id, req.group_instance_id.as_deref()),
            (req.protocol_type.as_deref(), req.protocol_name.as_deref()),
            assignments,
            Instant::now(),
        )
    });
    let synced = wait(shared, pending, || Synced {
        error: Some(ErrorCode::NOT_COORDINATOR),
        ..Default::default()
    })
    .await;
    let code = synced.error.unwrap_or(ErrorCode::NONE);
    (
        SyncGroupResponse {
            error_code: code.0,
            protocol_type: synced.protocol_type,
            protocol_name: synced.protocol,
            assignment: crate::codec::Bytes(synced.assignment),
            ..Default::default()
        },
        code,
    )
}

pub(crate) async fn heartbeat(
    shared: &Shared,
    req: HeartbeatRequest,
) -> (HeartbeatResponse, ErrorCode) {
    let (code, seq) = internal::coordinate(shared, |c| {
        c.heartbeat(
            &req.group_id,
            req.generation_id,
            (&req.member_id, req.group_instance_id.as_deref()),
            Instant::now(),
        )
    });
    let code = internal::written(shared, seq).await.err().unwrap_or(code);
    (
        HeartbeatResponse {
            error_code: code.0,
            ..Default::default()
        },
        code,
    )
}

pub(crate) async fn leave_group(
    shared: &Shared,
    req: LeaveGroupRequest,
    version: i16,
) -> (LeaveGroupResponse, ErrorCode) {
    let now = Instant::now();
    let failed = |code: ErrorCode| {
        (
            LeaveGroupResponse {
                error_code: code.0,
                ..Default::default()
            },
            code,
        )
    };
    if version < 3 {
        let (code, seq) = internal::coordinate(shared, |c| {
            c.leave(&req.group_id, (&req.member_id, None), now)
        });
        return failed(internal::written(shared, seq).await.err().unwrap_or(code));
    }
    let (members, seq) = internal::coordinate(shared, |c| {
        req.members
            .into_iter()
            .map(|m| MemberResponse {
                error_code: c
                    .leave(
                        &req.group_id,
                        (&m.member_id, m.group_instance_id.as_deref()),
                        now,
                    )
                    .0,
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
            })
            .collect::<Vec<_>>()
    });
    if let Err(code) = internal::written(shared, seq).await {
        return failed(code);
    }
    let code = ErrorCode::first(members.iter().map(|m| m.error_code));
    (
        LeaveGroupResponse {
            members,
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn list_groups(
    shared: &Shared,
    req: ListGroupsRequest,
) -> (ListGroupsResponse, ErrorCode) {
    // Kafka compares both filters without regard to case.
    let wanted = |filter: &[String], value: &str| {
        filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
    };
    let groups = lock(&shared.groups)
        .list()
        .into_iter()
        .filter(|g| wanted(&req.states_filter, g.state) && wanted(&req.types_filter, g.group_type))
        .map(|g| ListedGroup {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            group_state: g.state.into(),
            group_type: g.group_type.into(),
        })
        .collect();
    (
        ListGroupsResponse {
            groups,
            ..Default::default()
        },
        ErrorCode::NONE,
    )
}

pub(crate) fn describe_groups(
    shared: &Shared,
    req: DescribeGroupsRequest,
    version: i16,
) -> (DescribeGroupsResponse, ErrorCode) {
    let coordinator = lock(&shared.groups);
    let mut groups: Vec<DescribedGroup> = req
        .groups
        .into_iter()
        .map(|group_id| match coordinator.describe(&group_id) {
            _ if coordinator.consumer.has_members(&group_id) => {
                match coordinator.consumer.describe(&group_id) {
                    Some(d) => classic_view(shared, &d, group_id),
                    None => DescribedGroup::default(),
                }
            }
            Some(d) => DescribedGroup {
                group_id,
                group_state: d.state.into(),
                protocol_type: d.protocol_type,
                protocol_data: d.protocol,
                members: d
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        member_metadata: Bytes(m.metadata),
                        member_assignment: Bytes(m.assignment),
                    })
                    .collect(),
                ..Default::default()
            },
            // Kafka describes a group it does not know as Dead: from v6 with
            // GROUP_ID_NOT_FOUND (KIP-1043), before that without an error.
            None if version >= 6 => DescribedGroup {
                error_code: ErrorCode::GROUP_ID_NOT_FOUND.0,
                error_message: Some(format!("Group {group_id} not found.")),
                group_id,
                group_state: "Dead".into(),
                ..Default::default()
            },
            None => DescribedGroup {
                group_id,
                group_state: "Dead".into(),
                ..Default::default()
            },
        })
        .collect();
    // Kafka lists them for the groups it found (from v6 an unknown group has an error).
    if req.include_authorized_operations {
        for g in groups.iter_mut().filter(|g| g.error_code == 0) {
            g.authorized_operations = super::authorized::GROUP;
        }
    }
    (
        DescribeGroupsResponse {
            groups,
            ..Default::default()
        },
        ErrorCode::NONE,
    )
}

/// Deletes each empty group with its committed offsets: the tombstones of both are
/// written before the answer goes out.
pub(crate) async fn delete_groups(
    shared: &Shared,
    req: DeleteGroupsRequest,
) -> (DeleteGroupsResponse, ErrorCode) {
    let (mut results, seq) = internal::coordinate(shared, |c| {
        req.groups_names
            .into_iter()
            .map(|group_id| {
                let known = c.delete(&group_id);
                let mut committed = lock(&shared.offsets);
                let commits: Vec<Key> =
                    committed.group(&group_id).map(|(k, _)| k.clone()).collect();
                let code = match known {
                    // A group known only by its commits (a simple consumer's) is deleted.
                    Err(ErrorCode::GROUP_ID_NOT_FOUND) if !commits.is_empty() => ErrorCode::NONE,
                    Err(e) => e,
                    Ok(()) => ErrorCode::NONE,
                };
                if code.is_none() {
                    for k in &commits {
                        c.record(offsets::commit_record(k, None));
                        committed.remove(k);
                    }
                }
                DeletableGroupResult {
                    group_id,
                    error_code: code.0,
                }
            })
            .collect::<Vec<_>>()
    });
    if let Err(code) = internal::written(shared, seq).await {
        for r in results.iter_mut().filter(|r| r.error_code == 0) {
            r.error_code = code.0;
        }
    }
    let code = ErrorCode::first(results.iter().map(|r| r.error_code));
    (
        DeleteGroupsResponse {
            results,
            ..Default::default()
        },
        code,
    )
}

/// Deletes committed offsets of topics the group does not read, as a coordinator
/// operation: answered once the tombstones are written.
pub(crate) async fn offset_delete(
    shared: &Shared,
    req: OffsetDeleteRequest,
) -> (OffsetDeleteResponse, ErrorCode) {
    let exists: Vec<Vec<bool>> = req
        .topics
        .iter()
        .map(|t| {
            let topic = shared.topic(&t.name);
            t.partitions
                .iter()
                .map(|p| {
                    topic
                        .as_ref()
                        .is_some_and(|t| t.has_partition(p.partition_index))
                })
                .collect()
        })
        .collect();
    let group = req.group_id.clone();
    let (topics, seq) = internal::coordinate(shared, |c| {
        let mut committed = lock(&shared.offsets);
        if c.state(&group).is_none() && committed.group(&group).next().is_none() {
            return None;
        }
        let subscribed = c.subscribed_topics(&group);
        let topics: Vec<OffsetDeleteResponseTopic> = req
            .topics
            .into_iter()
            .zip(exists)
            .map(|(t, exists)| {
                let read = subscribed.contains(&t.name);
                let partitions = t
                    .partitions
                    .into_iter()
                    .zip(exists)
                    .map(|(p, exists)| {
                        let code = if read {
                            ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC
                        } else if !exists {
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                        } else {
                            let key = (group.clone(), t.name.clone(), p.partition_index);
                            c.record(offsets::commit_record(&key, None));
                            committed.remove(&key);
                            ErrorCode::NONE
                        };
                        OffsetDeleteResponsePartition {
                            partition_index: p.partition_index,
                            error_code: code.0,
                        }
                    })
                    .collect();
                OffsetDeleteResponseTopic {
                    name: t.name,
                    partitions,
                }
            })
            .collect();
        Some(topics)
    });
    let failed = |code: ErrorCode| {
        (
            OffsetDeleteResponse {
                error_code: code.0,
                ..Default::default()
            },
            code,
        )
    };
    let Some(topics) = topics else {
        return failed(ErrorCode::GROUP_ID_NOT_FOUND);
    };
    if let Err(code) = internal::written(shared, seq).await {
        return failed(code);
    }
    let code = ErrorCode::first(
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
    );
    (
        OffsetDeleteResponse {
            topics,
            ..Default::default()
        },
        code,
    )
}

/// A consumer-protocol assignment by topic ID, as the wire carries it.
fn by_topic(set: &std::collections::BTreeSet<Tp>) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for (id, p) in set {
        match out.last_mut() {
            Some(t) if t.topic_id == *id => t.partitions.push(*p),
            _ => out.push(TopicPartitions {
                topic_id: *id,
                partitions: vec![*p],
            }),
        }
    }
    out
}

pub(crate) async fn consumer_group_heartbeat(
    shared: &Shared,
    req: ConsumerGroupHeartbeatRequest,
    client_id: &str,
    client_host: &str,
) -> (ConsumerGroupHeartbeatResponse, ErrorCode) {
    // librdkafka sends an empty expression alongside topic names.
    if req
        .subscribed_topic_regex
        .as_deref()
        .is_some_and(|r| !r.is_empty())
    {
        let code = ErrorCode::INVALID_REQUEST;
        return (
            ConsumerGroupHeartbeatResponse {
                error_code: code.0,
                error_message: Some(
                    "subscriptions by regular expression are not offered; subscribe by topic name"
                        .into(),
                ),
                ..Default::default()
            },
            code,
        );
    }
    let beat = Beat {
        group: req.group_id,
        member_id: req.member_id,
        epoch: req.member_epoch,
        instance_id: req.instance_id,
        rack_id: req.rack_id,
        client_id: client_id.to_owned(),
        client_host: client_host.to_owned(),
        rebalance_timeout: (req.rebalance_timeout_ms >= 0)
            .then(|| millis(req.rebalance_timeout_ms)),
        subscribed: req.subscribed_topic_names,
        assignor: req.server_assignor,
        owned: req.topic_partitions.map(|tps| {
            tps.into_iter()
                .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic_id, p)))
                .collect()
        }),
    };
    let topics = shared.topic_map();
    let (answer, seq) = internal::coordinate(shared, |c| {
        c.consumer_heartbeat(beat, &topics, Instant::now())
    });
    if let Err(code) = internal::written(shared, seq).await {
        return (
            ConsumerGroupHeartbeatResponse {
                error_code: code.0,
                ..Default::default()
            },
            code,
        );
    }
    let code = answer.error.unwrap_or(ErrorCode::NONE);
    (
        ConsumerGroupHeartbeatResponse {
            error_code: code.0,
            member_id: Some(answer.member_id),
            member_epoch: answer.epoch,
            heartbeat_interval_ms: answer.heartbeat_interval.as_millis() as i32,
            assignment: answer.assignment.map(|set| Assignment {
                topic_partitions: by_topic(&set),
            }),
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn consumer_group_describe(
    shared: &Shared,
    req: ConsumerGroupDescribeRequest,
) -> (ConsumerGroupDescribeResponse, ErrorCode) {
    let groups = lock(&shared.groups);
    let named = |set: &std::collections::BTreeSet<Tp>| DescribedAssignment {
        topic_partitions: by_topic(set)
            .into_iter()
            .map(|t| DescribedTopicPartitions {
                topic_name: shared
                    .topic_by_id(t.topic_id)
                    .map(|(n, _)| n)
                    .unwrap_or_default(),
                topic_id: t.topic_id,
                partitions: t.partitions,
            })
            .collect(),
    };
    let mut described: Vec<DescribedConsumerGroup> = req
        .group_ids
        .into_iter()
        .map(|group_id| match groups.consumer.describe(&group_id) {
            Some(d) => DescribedConsumerGroup {
                group_id,
                group_state: d.state.into(),
                group_epoch: d.epoch,
                assignment_epoch: d.assignment_epoch,
                assignor_name: d.assignor,
                members: d
                    .members
                    .iter()
                    .map(|m| CgMember {
                        member_id: m.member_id.clone(),
                        instance_id: m.instance_id.clone(),
                        rack_id: m.rack_id.clone(),
                        member_epoch: m.epoch,
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topic_names: m.subscribed.clone(),
                        subscribed_topic_regex: None,
                        assignment: named(&m.assigned),
                        target_assignment: named(&m.target),
                        member_type: 1,
                    })
                    .collect(),
                ..Default::default()
            },
            None => DescribedConsumerGroup {
                error_code: ErrorCode::GROUP_ID_NOT_FOUND.0,
                error_message: Some(format!("no consumer-protocol group {group_id}")),
                group_id,
                ..Default::default()
            },
        })
        .collect();
    // Kafka lists them for the groups it found, not for those it answers with an error.
    if req.include_authorized_operations {
        for g in described.iter_mut().filter(|g| g.error_code == 0) {
            g.authorized_operations = super::authorized::GROUP;
        }
    }
    let code = ErrorCode::first(described.iter().map(|g| g.error_code));
    (
        ConsumerGroupDescribeResponse {
            groups: described,
            ..Default::default()
        },
        code,
    )
}

/// A consumer-protocol group described in DescribeGroups' terms, its assignments in
/// the consumer protocol's encoding (topic names), so classic tools can show it.
fn classic_view(
    shared: &Shared,
    d: &super::consumer_groups::Described,
    group_id: String,
) -> DescribedGroup {
    let plain = crate::codec::PLAIN;
    DescribedGroup {
        group_id,
        group_state: d.state.into(),
        protocol_type: "consumer".into(),
        protocol_data: d.assignor.clone(),
        members: d
            .members
            .iter()
            .map(|m| {
                let mut assignment = Vec::new();
                0i16.encode(&mut assignment, plain);
                let topics = by_topic(&m.assigned);
                (topics.len() as i32).encode(&mut assignment, plain);
                for t in topics {
                    shared
                        .topic_by_id(t.topic_id)
                        .map(|(n, _)| n)
                        .unwrap_or_default()
                        .encode(&mut assignment, plain);
                    t.partitions.encode(&mut assignment, plain);
                }
                (-1i32).encode(&mut assignment, plain);
                DescribedGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_metadata: Bytes(Vec::new()),
                    member_assignment: Bytes(assignment),
                }
            })
            .collect(),
        ..Default::default()
    }
}
