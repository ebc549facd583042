//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the wire side of the group
//! coordinator (`groups`). A JoinGroup or SyncGroup that must wait for the rest of the
//! group awaits its answer without holding the coordinator's lock.

use std::time::{Duration, Instant};

use super::groups::{Join, Joined, Pending, Synced};
use super::{Shared, lock};
use crate::error::ErrorCode;
use crate::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use crate::messages::join_group::{JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember};
use crate::messages::leave_group::{LeaveGroupRequest, LeaveGroupResponse, MemberResponse};
use crate::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};

fn millis(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Awaits a pending answer; a stopping broker answers NOT_COORDINATOR, as Kafka's does
/// when the coordinator moves, so clients look for it again.
async fn wait<T>(shared: &Shared, pending: Pending<T>, stopped: impl FnOnce() -> T) -> T {
    let rx = match pending {
        Pending::Ready(t) => return t,
        Pending::Wait(rx) => rx,
    };
    let mut stopping = shared.stopping.subscribe();
    tokio::select! {
        answer = rx => answer.unwrap_or_else(|_| stopped()),
        _ = stopping.wait_for(|s| *s) => stopped(),
    }
}

pub(crate) async fn join_group(
    shared: &Shared,
    req: JoinGroupRequest,
    version: i16,
    client_id: &str,
) -> (JoinGroupResponse, ErrorCode) {
    let join = Join {
        group: req.group_id,
        member_id: req.member_id,
        instance_id: req.group_instance_id,
        client_id: client_id.to_owned(),
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
    let pending = lock(&shared.groups).join(join, Instant::now());
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
    shared: &Shared,
    req: SyncGroupRequest,
) -> (SyncGroupResponse, ErrorCode) {
    let pending = lock(&shared.groups).sync(
        &req.group_id,
        req.generation_id,
        &req.member_id,
        (req.protocol_type.as_deref(), req.protocol_name.as_deref()),
        req.assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment.0))
            .collect(),
        Instant::now(),
    );
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

pub(crate) fn heartbeat(shared: &Shared, req: HeartbeatRequest) -> (HeartbeatResponse, ErrorCode) {
    let code = lock(&shared.groups).heartbeat(
        &req.group_id,
        req.generation_id,
        &req.member_id,
        Instant::now(),
    );
    (
        HeartbeatResponse {
            error_code: code.0,
            ..Default::default()
        },
        code,
    )
}

pub(crate) fn leave_group(
    shared: &Shared,
    req: LeaveGroupRequest,
    version: i16,
) -> (LeaveGroupResponse, ErrorCode) {
    let now = Instant::now();
    let mut groups = lock(&shared.groups);
    if version < 3 {
        let code = groups.leave(&req.group_id, &req.member_id, now);
        return (
            LeaveGroupResponse {
                error_code: code.0,
                ..Default::default()
            },
            code,
        );
    }
    let members: Vec<MemberResponse> = req
        .members
        .into_iter()
        .map(|m| MemberResponse {
            error_code: groups.leave(&req.group_id, &m.member_id, now).0,
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
        })
        .collect();
    let code = ErrorCode::first(members.iter().map(|m| m.error_code));
    (
        LeaveGroupResponse {
            members,
            ..Default::default()
        },
        code,
    )
}
