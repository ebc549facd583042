//! `pagecast bench broker --group N`: N members of one consumer group, each on its own
//! connection and thread, with the built-in client, in each protocol: the classic one
//! (the leader assigns by range, as Kafka's range assignor does) and KIP-848's (the
//! broker assigns). The
//! members read the topic to its end by splicing record bytes into /dev/null; then one
//! member leaves, and the time until the others own all partitions again is measured.

use std::collections::BTreeSet;
use std::fs::File;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use pagecast_kafka::ErrorCode;
use pagecast_kafka::client::{Client, SplicePipe};
use pagecast_kafka::codec::{Bytes, Uuid, Wire};
use pagecast_kafka::inspect::{assigned_partitions, subscription};
use pagecast_kafka::messages::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, TopicPartitions,
};
use pagecast_kafka::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use pagecast_kafka::messages::join_group::{
    JoinGroupRequest, JoinGroupRequestProtocol, JoinGroupResponse,
};
use pagecast_kafka::messages::leave_group::{LeaveGroupRequest, LeaveGroupResponse};
use pagecast_kafka::messages::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use pagecast_kafka::messages::sync_group::{
    SyncGroupRequest, SyncGroupRequestAssignment, SyncGroupResponse,
};

use crate::Error;

/// The group of the classic phase; the consumer protocol's is another.
const GROUP: &str = "pagecast-bench-classic";
const CONSUMER_GROUP: &str = "pagecast-bench-consumer";
const HEARTBEAT_EVERY: Duration = Duration::from_millis(100);
use pagecast_kafka::codec::PLAIN;

/// What the group phase measured.
#[derive(Debug, Clone, Default)]
pub struct GroupPhase {
    /// Wall time for the members to read the topic.
    pub elapsed: Duration,
    /// Record batch bytes read.
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// From a member's LeaveGroup to the others owning every partition.
    pub reassigned: Duration,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Receiver(format!("group member: {what}: {e}"))
}

fn kafka(what: &str, code: i16) -> Error {
    Error::Receiver(format!("group member: {what}: {}", ErrorCode(code).name()))
}

/// The consumer protocol's assignment of `partitions` of `topic`.
fn assignment(topic: &str, partitions: &[i32]) -> Vec<u8> {
    let mut out = Vec::new();
    0i16.encode(&mut out, PLAIN);
    1i32.encode(&mut out, PLAIN);
    topic.to_owned().encode(&mut out, PLAIN);
    partitions.to_vec().encode(&mut out, PLAIN);
    (-1i32).encode(&mut out, PLAIN);
    out
}

/// Range assignment: members sorted by ID, each a contiguous run of partitions.
fn range(members: &[String], partitions: i32) -> Vec<(String, Vec<i32>)> {
    let mut ids = members.to_vec();
    ids.sort();
    let n = ids.len().max(1) as i32;
    let (base, extra) = (partitions / n, partitions % n);
    let mut next = 0;
    ids.into_iter()
        .enumerate()
        .map(|(i, id)| {
            let count = base + i32::from((i as i32) < extra);
            let mine = (next..next + count).collect();
            next += count;
            (id, mine)
        })
        .collect()
}

struct Classic {
    client: Client,
    topic: String,
    partitions: i32,
    id: String,
    generation: i32,
    owned: Vec<i32>,
}

impl Classic {
    fn connect(addr: SocketAddr, topic: &str, partitions: i32) -> Result<Classic, Error> {
        Ok(Classic {
            client: Client::connect(addr, "pagecast-bench-member").map_err(io("connect"))?,
            topic: topic.to_owned(),
            partitions,
            id: String::new(),
            generation: -1,
            owned: Vec::new(),
        })
    }

    /// Joins (or rejoins) and syncs until it holds an assignment of this generation.
    fn join(&mut self) -> Result<(), Error> {
        loop {
            let joined: JoinGroupResponse = self
                .client
                .call(
                    5,
                    &JoinGroupRequest {
                        group_id: GROUP.into(),
                        session_timeout_ms: 10_000,
                        rebalance_timeout_ms: 30_000,
                        member_id: self.id.clone(),
                        protocol_type: "consumer".into(),
                        protocols: vec![JoinGroupRequestProtocol {
                            name: "range".into(),
                            metadata: Bytes(subscription(&[&self.topic])),
                        }],
                        ..Default::default()
                    },
                )
                .map_err(io("join"))?;
            self.id = joined.member_id.clone();
            match ErrorCode(joined.error_code) {
                ErrorCode::NONE => {}
                ErrorCode::MEMBER_ID_REQUIRED | ErrorCode::REBALANCE_IN_PROGRESS => continue,
                _ => return Err(kafka("join", joined.error_code)),
            }
            self.generation = joined.generation_id;
            let assignments = if joined.leader == self.id {
                let ids: Vec<String> = joined.members.iter().map(|m| m.member_id.clone()).collect();
                range(&ids, self.partitions)
                    .into_iter()
                    .map(|(member_id, mine)| SyncGroupRequestAssignment {
                        member_id,
                        assignment: Bytes(assignment(&self.topic, &mine)),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let synced: SyncGroupResponse = self
                .client
                .call(
                    3,
                    &SyncGroupRequest {
                        group_id: GROUP.into(),
                        generation_id: self.generation,
                        member_id: self.id.clone(),
                        assignments,
                        ..Default::default()
                    },
                )
                .map_err(io("sync"))?;
            match ErrorCode(synced.error_code) {
                ErrorCode::NONE => {
                    self.owned = assigned_partitions(&synced.assignment.0)
                        .into_iter()
                        .map(|(_, p)| p)
                        .collect();
                    return Ok(());
                }
                ErrorCode::REBALANCE_IN_PROGRESS => continue,
                _ => return Err(kafka("sync", synced.error_code)),
            }
        }
    }

    /// Sends a heartbeat; `true` if the group is rebalancing and the member must rejoin.
    fn heartbeat(&mut self) -> Result<bool, Error> {
        let r: HeartbeatResponse = self
            .client
            .call(
                3,
                &HeartbeatRequest {
                    group_id: GROUP.into(),
                    generation_id: self.generation,
                    member_id: self.id.clone(),
                    ..Default::default()
                },
            )
            .map_err(io("heartbeat"))?;
        match ErrorCode(r.error_code) {
            ErrorCode::NONE => Ok(false),
            ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => Ok(true),
            _ => Err(kafka("heartbeat", r.error_code)),
        }
    }

    fn leave(&mut self) -> Result<(), Error> {
        let r: LeaveGroupResponse = self
            .client
            .call(
                1,
                &LeaveGroupRequest {
                    group_id: GROUP.into(),
                    member_id: self.id.clone(),
                    ..Default::default()
                },
            )
            .map_err(io("leave"))?;
        match r.error_code {
            0 => Ok(()),
            code => Err(kafka("leave", code)),
        }
    }
}

/// A member speaking the KIP-848 consumer protocol: the broker assigns, the member
/// reports what it owns with every heartbeat.
struct Consumer {
    client: Client,
    topic: String,
    topic_id: Uuid,
    id: String,
    epoch: i32,
    owned: Vec<i32>,
}

impl Consumer {
    fn connect(addr: SocketAddr, topic: &str) -> Result<Consumer, Error> {
        let mut client = Client::connect(addr, "pagecast-bench-member").map_err(io("connect"))?;
        let meta: MetadataResponse = client
            .call(
                12,
                &MetadataRequest {
                    topics: Some(vec![MetadataRequestTopic {
                        name: Some(topic.to_owned()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            )
            .map_err(io("metadata"))?;
        let topic_id = meta.topics.first().map(|t| t.topic_id).unwrap_or_default();
        Ok(Consumer {
            client,
            topic: topic.to_owned(),
            topic_id,
            id: String::new(),
            epoch: 0,
            owned: Vec::new(),
        })
    }

    /// One heartbeat (epoch 0 joins, -1 leaves); takes the assignment if it changed.
    fn beat(&mut self, epoch: i32) -> Result<(), Error> {
        let r: ConsumerGroupHeartbeatResponse = self
            .client
            .call(
                0,
                &ConsumerGroupHeartbeatRequest {
                    group_id: CONSUMER_GROUP.into(),
                    member_id: self.id.clone(),
                    member_epoch: epoch,
                    rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
                    subscribed_topic_names: (epoch == 0).then(|| vec![self.topic.clone()]),
                    topic_partitions: Some(vec![TopicPartitions {
                        topic_id: self.topic_id,
                        partitions: self.owned.clone(),
                    }]),
                    ..Default::default()
                },
            )
            .map_err(io("consumer group heartbeat"))?;
        if r.error_code != 0 {
            return Err(kafka("consumer group heartbeat", r.error_code));
        }
        self.id = r.member_id.unwrap_or_default();
        self.epoch = r.member_epoch;
        if let Some(a) = r.assignment {
            self.owned = a
                .topic_partitions
                .into_iter()
                .filter(|t| t.topic_id == self.topic_id)
                .flat_map(|t| t.partitions)
                .collect();
        }
        Ok(())
    }
}

/// A member of either protocol.
enum Member {
    Classic(Classic),
    Consumer(Consumer),
}

impl Member {
    fn client(&mut self) -> &mut Client {
        match self {
            Member::Classic(m) => &mut m.client,
            Member::Consumer(m) => &mut m.client,
        }
    }

    fn topic(&self) -> &str {
        match self {
            Member::Classic(m) => &m.topic,
            Member::Consumer(m) => &m.topic,
        }
    }

    fn owned(&self) -> &[i32] {
        match self {
            Member::Classic(m) => &m.owned,
            Member::Consumer(m) => &m.owned,
        }
    }

    /// Joins. A classic member waits for its generation's assignment; a consumer
    /// member makes its first heartbeat.
    fn join(&mut self) -> Result<(), Error> {
        match self {
            Member::Classic(m) => m.join(),
            Member::Consumer(m) => m.beat(0),
        }
    }

    /// Keeps membership up to date: a heartbeat, and a rejoin when a classic group
    /// rebalances. Returns whether the assignment may have changed.
    fn keep_up(&mut self) -> Result<bool, Error> {
        match self {
            Member::Classic(m) => {
                if m.heartbeat()? {
                    m.join()?;
                    return Ok(true);
                }
                Ok(false)
            }
            Member::Consumer(m) => {
                let before = m.owned.clone();
                let epoch = m.epoch;
                m.beat(epoch)?;
                Ok(m.owned != before)
            }
        }
    }

    fn leave(&mut self) -> Result<(), Error> {
        match self {
            Member::Classic(m) => m.leave(),
            Member::Consumer(m) => m.beat(-1),
        }
    }
}

/// The group protocol a phase uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// JoinGroup and SyncGroup; the leader assigns by range.
    Classic,
    /// KIP-848: the broker assigns (uniform).
    Consumer,
}

impl Protocol {
    /// Both, in report order.
    pub const BOTH: [Protocol; 2] = [Protocol::Classic, Protocol::Consumer];

    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Classic => "classic",
            Protocol::Consumer => "consumer",
        }
    }
}

/// Records each member's partitions; once they add up to every partition exactly,
/// notes the time (once).
struct Owners {
    partitions: i32,
    by_member: Mutex<Vec<BTreeSet<i32>>>,
    complete_at: Mutex<Option<Instant>>,
}

impl Owners {
    fn set(&self, i: usize, owned: &[i32]) {
        let mut by = self.by_member.lock().unwrap_or_else(|e| e.into_inner());
        by[i] = owned.iter().copied().collect();
        let all: BTreeSet<i32> = by.iter().flatten().copied().collect();
        let held: usize = by.iter().map(BTreeSet::len).sum();
        if all.len() == self.partitions as usize && held == all.len() {
            self.complete_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(Instant::now);
        }
    }

    fn complete(&self) -> Option<Instant> {
        *self.complete_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether, right now, every partition has exactly one owner and every member owns
    /// something: the group has settled (a consumer-protocol group is complete for a
    /// moment while its first member still holds every partition).
    fn settled(&self) -> bool {
        let by = self.by_member.lock().unwrap_or_else(|e| e.into_inner());
        let all: BTreeSet<i32> = by.iter().flatten().copied().collect();
        let held: usize = by.iter().map(BTreeSet::len).sum();
        all.len() == self.partitions as usize
            && held == all.len()
            && by.iter().all(|owned| !owned.is_empty())
    }

    /// Starts waiting for a new complete assignment, `gone` holding nothing.
    fn reset(&self, gone: usize) {
        self.by_member.lock().unwrap_or_else(|e| e.into_inner())[gone].clear();
        *self.complete_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Runs the group phase: `members` members read `topic` (whose partitions end at
/// `ends`) to its end, then one leaves. `geometry` is the batch size and records per
/// batch, from which the zero-copy members derive offsets.
pub fn run(
    addr: SocketAddr,
    topic: &str,
    ends: &[i64],
    members: usize,
    protocol: Protocol,
    geometry: (u64, u64),
) -> Result<GroupPhase, Error> {
    let partitions = ends.len() as i32;
    let members = members.max(2);
    // Members heartbeat until the main thread sees the group settled and freezes them;
    // once all have stopped it checks again, and either lets them read what they own
    // or unfreezes them to settle further.
    let freeze = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(Barrier::new(members + 1));
    let go = Arc::new(Barrier::new(members + 1));
    let verdict = Arc::new(AtomicBool::new(false));
    let done = Arc::new(Barrier::new(members + 1));
    let reset = Arc::new(Barrier::new(members));
    let owners = Arc::new(Owners {
        partitions,
        by_member: Mutex::new(vec![BTreeSet::new(); members]),
        complete_at: Mutex::new(None),
    });
    let left_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let ends = Arc::new(ends.to_vec());
    let handles: Vec<_> = (0..members)
        .map(|i| {
            let (freeze, stopped, go, verdict) = (
                Arc::clone(&freeze),
                Arc::clone(&stopped),
                Arc::clone(&go),
                Arc::clone(&verdict),
            );
            let (done, reset, owners, left_at, ends) = (
                Arc::clone(&done),
                Arc::clone(&reset),
                Arc::clone(&owners),
                Arc::clone(&left_at),
                Arc::clone(&ends),
            );
            let topic = topic.to_owned();
            std::thread::spawn(move || -> Result<(u64, u64), Error> {
                let mut m = match protocol {
                    Protocol::Classic => {
                        Member::Classic(Classic::connect(addr, &topic, partitions)?)
                    }
                    Protocol::Consumer => Member::Consumer(Consumer::connect(addr, &topic)?),
                };
                m.join()?;
                owners.set(i, m.owned());
                loop {
                    while !freeze.load(Ordering::Acquire) {
                        m.keep_up()?;
                        owners.set(i, m.owned());
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    stopped.wait();
                    go.wait();
                    if verdict.load(Ordering::Acquire) {
                        break;
                    }
                }
                let read = read_owned(&mut m, &ends, geometry)?;
                done.wait();
                if i == members - 1 {
                    owners.reset(i);
                    reset.wait();
                    *left_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                    m.leave()?;
                    return Ok(read);
                }
                reset.wait();
                // The others keep heartbeating until they own every partition again.
                let deadline = Instant::now() + Duration::from_secs(60);
                while owners.complete().is_none() && Instant::now() < deadline {
                    m.keep_up()?;
                    owners.set(i, m.owned());
                    std::thread::sleep(Duration::from_millis(5));
                }
                m.leave()?;
                Ok(read)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        while !owners.settled() {
            if Instant::now() > deadline {
                let by = owners
                    .by_member
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                return Err(Error::Receiver(format!("the group never settled: {by:?}")));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        freeze.store(true, Ordering::Release);
        stopped.wait();
        let settled = owners.settled();
        verdict.store(settled, Ordering::Release);
        if !settled {
            freeze.store(false, Ordering::Release);
        }
        go.wait();
        if settled {
            break;
        }
    }
    let start = Instant::now();
    done.wait();
    let elapsed = start.elapsed();
    let (mut bytes, mut records) = (0, 0);
    for h in handles {
        let (b, r) = h
            .join()
            .map_err(|_| Error::Receiver("a group member panicked".into()))??;
        bytes += b;
        records += r;
    }
    let left = *left_at.lock().unwrap_or_else(|e| e.into_inner());
    let (Some(left), Some(whole)) = (left, owners.complete()) else {
        let by = owners
            .by_member
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        return Err(Error::Receiver(format!(
            "after a member left, the others own {by:?} of {partitions} partitions"
        )));
    };
    Ok(GroupPhase {
        elapsed,
        bytes,
        records,
        reassigned: whole.saturating_duration_since(left),
    })
}

/// Reads a member's partitions to their ends by splicing, heartbeating as it goes.
fn read_owned(
    m: &mut Member,
    ends: &[i64],
    (batch_size, per_batch): (u64, u64),
) -> Result<(u64, u64), Error> {
    let pipe = SplicePipe::new().map_err(io("pipe"))?;
    let null = File::options()
        .write(true)
        .open("/dev/null")
        .map_err(io("/dev/null"))?;
    let mut next: Vec<(i32, i64)> = m.owned().iter().map(|&p| (p, 0)).collect();
    let (mut bytes, mut records) = (0u64, 0u64);
    let mut beat = Instant::now();
    let topic = m.topic().to_owned();
    while next.iter().any(|&(p, at)| at < ends[p as usize]) {
        let wanted: Vec<(i32, i64)> = next
            .iter()
            .copied()
            .filter(|&(p, at)| at < ends[p as usize])
            .collect();
        let req = crate::broker::fetch_request(&topic, &wanted);
        for got in m
            .client()
            .fetch_splice(&req, &pipe, &null)
            .map_err(io("fetch"))?
        {
            if got.error != 0 {
                return Err(kafka("fetch", got.error));
            }
            let n = got.bytes / batch_size * per_batch;
            if let Some(slot) = next.iter_mut().find(|(p, _)| *p == got.partition) {
                slot.1 += n as i64;
            }
            bytes += got.bytes;
            records += n;
        }
        // Heartbeats keep the member in its group while it reads; the frozen
        // assignment it reads by was checked complete before the reads began.
        if beat.elapsed() > HEARTBEAT_EVERY {
            beat = Instant::now();
            m.keep_up()?;
        }
    }
    Ok((bytes, records))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_gives_each_member_a_contiguous_share() {
        let members = vec!["b".to_owned(), "a".to_owned(), "c".to_owned()];
        let got = range(&members, 7);
        assert_eq!(got[0], ("a".into(), vec![0, 1, 2]));
        assert_eq!(got[1], ("b".into(), vec![3, 4]));
        assert_eq!(got[2], ("c".into(), vec![5, 6]));
        let parsed = assigned_partitions(&assignment("t", &[3, 4]));
        assert_eq!(parsed, [("t".to_owned(), 3), ("t".to_owned(), 4)]);
    }
}
