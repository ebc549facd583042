//! Consumer groups on `pagecast broker` with real clients: confluent-kafka members that
//! share a topic and survive a member's crash (the classic protocol with the eager and
//! cooperative-sticky assignors, and the KIP-848 consumer protocol), static membership, a broker restart under a running group, kcat's
//! balanced consumer, kafka-python's group, and misbehaving members driven with the
//! built-in client. `pagecast groups` describes what the broker holds.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pagecast_kafka::ErrorCode;
use pagecast_kafka::client::Client;
use pagecast_kafka::codec::Bytes;
use pagecast_kafka::inspect::subscription;
use pagecast_kafka::messages::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use pagecast_kafka::messages::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use pagecast_kafka::messages::find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
use pagecast_kafka::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use pagecast_kafka::messages::join_group::{
    JoinGroupRequest, JoinGroupRequestProtocol, JoinGroupResponse,
};
use pagecast_kafka::messages::list_groups::{ListGroupsRequest, ListGroupsResponse};
use pagecast_kafka::messages::offset_commit::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    OffsetCommitResponse,
};
use pagecast_kafka::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};
use support::broker::{Broker, clients, kcat, run_ok};

/// A confluent-kafka group member in its own process, and every line it printed.
struct Member {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Member {
    fn start(bootstrap: &str, topic: &str, group: &str, strategy: &str, instance: &str) -> Member {
        let mut child = clients(
            "group-member",
            &[bootstrap, topic, group, strategy, instance],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&lines);
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { return };
                into.lock().unwrap().push(l);
            }
        });
        Member { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The partitions it holds now (its last "assigned" line).
    fn assigned(&self) -> BTreeSet<i32> {
        self.lines()
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("assigned "))
            .map(|list| {
                list.split(',')
                    .filter_map(|tp| tp.rsplit(':').next()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many times it printed an assignment.
    fn assignments(&self) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with("assigned"))
            .count()
    }

    /// (partition, offset) of each record, for lines starting with `what`.
    fn records(&self, what: &str) -> Vec<(i32, i64)> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let mut f = l.strip_prefix(what)?.split_whitespace();
                Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
            })
            .collect()
    }

    fn terminate(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }

    fn kill(mut self) -> Member {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
    start.elapsed()
}

fn distinct(members: &[&Member]) -> BTreeSet<(i32, i64)> {
    members
        .iter()
        .flat_map(|m| m.records("processed "))
        .collect()
}

/// The generation and member count the broker holds for `group`.
fn described(addr: std::net::SocketAddr, group: &str) -> (String, usize) {
    let mut c = Client::connect(addr, "test").unwrap();
    let d: DescribeGroupsResponse = c
        .call(
            4,
            &DescribeGroupsRequest {
                groups: vec![group.into()],
                ..Default::default()
            },
        )
        .unwrap();
    (d.groups[0].group_state.clone(), d.groups[0].members.len())
}

/// Three members over six partitions; one crashes; the other two take its partitions
/// within the session timeout; nothing is lost, and nothing committed is processed
/// twice.
fn three_members(strategy: &str) {
    let data = tempfile::tempdir().unwrap();
    // The consumer protocol's session timeout is the broker's (45 s by default); six
    // seconds, as the classic members ask for, keeps the test short.
    let b = Broker::start(
        data.path(),
        "segment",
        &[
            "--default-partitions",
            "6",
            "--group-consumer-session-timeout-ms",
            "6000",
            "--group-consumer-heartbeat-interval-ms",
            "500",
        ],
    );
    let bootstrap = b.bootstrap();
    run_ok(&mut clients(
        "produce-values",
        &[&bootstrap, "shared", "600", "6"],
    ));
    let group = format!("three-{strategy}");
    let members: Vec<Member> = (0..3)
        .map(|_| Member::start(&bootstrap, "shared", &group, strategy, ""))
        .collect();
    wait_until(
        "three members hold two partitions each, and all 600 records are read",
        Duration::from_secs(60),
        || {
            members.iter().all(|m| m.assigned().len() == 2)
                && distinct(&members.iter().collect::<Vec<_>>()).len() == 600
        },
    );
    let all: BTreeSet<i32> = members.iter().flat_map(|m| m.assigned()).collect();
    assert_eq!(all, (0..6).collect(), "every partition has one owner");

    let mut members = members;
    let crashed = members.pop().unwrap().kill();
    let moved = wait_until(
        "the survivors own all six partitions",
        Duration::from_secs(30),
        || {
            members
                .iter()
                .map(|m| m.assigned())
                .fold(BTreeSet::new(), |mut a, s| {
                    a.extend(s);
                    a
                })
                == (0..6).collect()
                && members.iter().map(|m| m.assigned().len()).sum::<usize>() == 6
        },
    );
    eprintln!("{strategy}: partitions moved {moved:?} after the crash");
    run_ok(&mut clients(
        "produce-values",
        &[&bootstrap, "shared", "600", "6"],
    ));
    let everyone = [&members[0], &members[1], &crashed];
    wait_until("all 1200 records are read", Duration::from_secs(60), || {
        distinct(&everyone).len() == 1200
    });

    // Nothing lost: every offset of every partition was processed.
    let got = distinct(&everyone);
    for p in 0..6 {
        for o in 0..200 {
            assert!(
                got.contains(&(p, o)),
                "{strategy}: record {o} of partition {p} was never processed"
            );
        }
    }
    // Nothing committed processed twice: a record processed more than once was
    // committed at most once.
    let mut processed: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut committed: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for m in everyone {
        for r in m.records("processed ") {
            *processed.entry(r).or_default() += 1;
        }
        for r in m.records("committed ") {
            *committed.entry(r).or_default() += 1;
        }
    }
    for (r, n) in &processed {
        if *n > 1 {
            assert!(
                committed.get(r).copied().unwrap_or(0) <= 1,
                "{strategy}: {r:?} was committed and processed again"
            );
        }
    }
    for m in members {
        m.terminate();
    }
    b.stop();
}

#[test]
fn three_members_share_a_topic_and_survive_a_crash_eager() {
    three_members("range");
}

#[test]
fn three_members_share_a_topic_and_survive_a_crash_cooperative_sticky() {
    three_members("cooperative-sticky");
}

#[test]
fn three_members_share_a_topic_and_survive_a_crash_consumer_protocol() {
    three_members("consumer");
}

/// A static member that restarts within its session timeout gets its partitions back
/// without a rebalance: the other member is never reassigned.
#[test]
fn a_static_member_restarts_without_a_rebalance() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &["--default-partitions", "4"]);
    let bootstrap = b.bootstrap();
    run_ok(&mut clients(
        "produce-values",
        &[&bootstrap, "static", "40", "4"],
    ));
    let a = Member::start(&bootstrap, "static", "statics", "range", "instance-a");
    let first_b = Member::start(&bootstrap, "static", "statics", "range", "instance-b");
    wait_until(
        "both static members hold two partitions",
        Duration::from_secs(60),
        || a.assigned().len() == 2 && first_b.assigned().len() == 2,
    );
    let a_assignments = a.assignments();
    let b_partitions = first_b.assigned();
    let _ = first_b.kill();
    let second_b = Member::start(&bootstrap, "static", "statics", "range", "instance-b");
    wait_until(
        "the restarted static member holds its partitions",
        Duration::from_secs(30),
        || second_b.assigned() == b_partitions,
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        a.assignments(),
        a_assignments,
        "the other member saw no rebalance: {:?}",
        a.lines()
    );
    assert_eq!(described(b.addr, "statics"), ("Stable".into(), 2));
    a.terminate();
    second_b.terminate();
    b.stop();
}

/// A broker restart under a running group: the group comes back from its kept
/// metadata, members carry on from their committed offsets, nothing is skipped.
fn carry_on(strategy: &str) {
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let args = [
        "--addr",
        addr.as_str(),
        "--default-partitions",
        "2",
        "--group-consumer-heartbeat-interval-ms",
        "500",
    ];
    let b = Broker::start(data.path(), "segment", &args);
    run_ok(&mut clients("produce-values", &[&addr, "kept", "200", "2"]));
    let m1 = Member::start(&addr, "kept", "survivors", strategy, "");
    let m2 = Member::start(&addr, "kept", "survivors", strategy, "");
    wait_until(
        "both members hold a partition and read everything",
        Duration::from_secs(60),
        || {
            m1.assigned().len() == 1
                && m2.assigned().len() == 1
                && distinct(&[&m1, &m2]).len() == 200
        },
    );
    b.stop();
    let b = Broker::start(data.path(), "segment", &args);
    assert_eq!(
        described(b.addr, "survivors"),
        ("Stable".into(), 2),
        "the group came back from its metadata"
    );
    run_ok(&mut clients("produce-values", &[&addr, "kept", "200", "2"]));
    wait_until(
        "both members read the new records",
        Duration::from_secs(60),
        || distinct(&[&m1, &m2]).len() == 400,
    );
    let got = distinct(&[&m1, &m2]);
    for p in 0..2 {
        for o in 0..200 {
            assert!(got.contains(&(p, o)), "record {o} of partition {p} skipped");
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_pagecast"))
        .args(["groups", "--bootstrap", &addr, "--describe", "survivors"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is Stable with 2 member(s)"), "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("survivors kept"))
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.lines()
            .all(|l| !l.starts_with("survivors") || l.contains(" 200 ")),
        "{text}"
    );
    m1.terminate();
    m2.terminate();
    b.stop();
}

#[test]
fn a_group_carries_on_across_a_broker_restart_classic() {
    carry_on("range");
}

#[test]
fn a_group_carries_on_across_a_broker_restart_consumer_protocol() {
    carry_on("consumer");
}

#[test]
fn kcat_balanced_consumer_and_kafka_python_group() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &["--default-partitions", "4"]);
    let bootstrap = b.bootstrap();
    run_ok(&mut clients(
        "produce-values",
        &[&bootstrap, "balanced", "100", "4"],
    ));
    // A new group starts at the end by default (auto.offset.reset=latest), as with Kafka.
    let out = run_ok(kcat(&bootstrap).args([
        "-G",
        "kcat-group",
        "balanced",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%p %o\n",
    ]));
    let got: BTreeSet<&str> = out.lines().collect();
    assert_eq!(got.len(), 100, "{out}");
    let listed = run_ok(Command::new(env!("CARGO_BIN_EXE_pagecast")).args([
        "groups",
        "--bootstrap",
        &bootstrap,
    ]));
    assert!(listed.lines().any(|l| l == "kcat-group"), "{listed}");
    run_ok(&mut clients(
        "kafka-python-group",
        &[&bootstrap, "kpg", "400"],
    ));
    b.stop();
}

fn join(c: &mut Client, group: &str, member: &str) -> JoinGroupResponse {
    join_with(c, group, member, vec![0, 0, 0, 0, 0, 0])
}

/// A JoinGroup (v5) with `metadata` for the "range" protocol.
fn join_with(c: &mut Client, group: &str, member: &str, metadata: Vec<u8>) -> JoinGroupResponse {
    c.call(
        5,
        &JoinGroupRequest {
            group_id: group.into(),
            session_timeout_ms: 6000,
            rebalance_timeout_ms: 10_000,
            member_id: member.into(),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes(metadata),
            }],
            ..Default::default()
        },
    )
    .unwrap()
}

fn heartbeat(c: &mut Client, group: &str, generation: i32, member: &str) -> i16 {
    let r: HeartbeatResponse = c
        .call(
            3,
            &HeartbeatRequest {
                group_id: group.into(),
                generation_id: generation,
                member_id: member.into(),
                ..Default::default()
            },
        )
        .unwrap();
    r.error_code
}

/// Joins `group` as its only member and syncs: (member ID, generation).
fn lone_member(c: &mut Client, group: &str) -> (String, i32) {
    lone_member_with(c, group, vec![0, 0, 0, 0, 0, 0])
}

/// [`lone_member`] with `metadata` for its protocol.
fn lone_member_with(c: &mut Client, group: &str, metadata: Vec<u8>) -> (String, i32) {
    let id = join_with(c, group, "", metadata.clone()).member_id; // MEMBER_ID_REQUIRED
    let joined = join_with(c, group, &id, metadata);
    assert_eq!(joined.error_code, 0);
    let synced: SyncGroupResponse = c
        .call(
            3,
            &SyncGroupRequest {
                group_id: group.into(),
                generation_id: joined.generation_id,
                member_id: id.clone(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(synced.error_code, 0);
    (id, joined.generation_id)
}

#[test]
fn misbehaving_members_are_handled_without_hurting_others() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = Client::connect(b.addr, "misbehaving").unwrap();

    // A stale generation's commit is refused.
    let (old, generation) = lone_member(&mut c, "stale");
    let mut other = Client::connect(b.addr, "other").unwrap();
    let newcomer = join(&mut other, "stale", "").member_id;
    let rejoin = std::thread::spawn(move || join(&mut other, "stale", &newcomer));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        heartbeat(&mut c, "stale", generation, &old),
        ErrorCode::REBALANCE_IN_PROGRESS.0
    );
    let _ = join(&mut c, "stale", &old);
    let next = rejoin.join().unwrap();
    assert_eq!(next.generation_id, generation + 1);
    let commit: OffsetCommitResponse = c
        .call(
            7,
            &OffsetCommitRequest {
                group_id: "stale".into(),
                generation_id_or_member_epoch: generation,
                member_id: old.clone(),
                topics: vec![OffsetCommitRequestTopic {
                    name: "t".into(),
                    partitions: vec![OffsetCommitRequestPartition {
                        partition_index: 0,
                        committed_offset: 5,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        commit.topics[0].partitions[0].error_code,
        ErrorCode::ILLEGAL_GENERATION.0
    );

    // A storm of JoinGroups on one group while a member of another keeps heartbeating:
    // its heartbeats are answered and it stays in its group.
    let mut steady = Client::connect(b.addr, "steady").unwrap();
    let (member, generation) = lone_member(&mut steady, "steady");
    let storm: Vec<_> = (0..100)
        .map(|i| {
            let addr = b.addr;
            std::thread::spawn(move || {
                let mut c = Client::connect(addr, &format!("storm-{i}")).unwrap();
                let id = join(&mut c, "stormy", "").member_id;
                let _ = join(&mut c, "stormy", &id);
            })
        })
        .collect();
    for _ in 0..20 {
        assert_eq!(heartbeat(&mut steady, "steady", generation, &member), 0);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(described(b.addr, "steady"), ("Stable".into(), 1));

    // A duplicate static instance: the second incarnation takes the place, without a
    // rebalance, and the first is fenced.
    let static_join = |c: &mut Client| -> JoinGroupResponse {
        c.call(
            5,
            &JoinGroupRequest {
                group_id: "statics".into(),
                session_timeout_ms: 6000,
                rebalance_timeout_ms: 10_000,
                member_id: String::new(),
                group_instance_id: Some("the-one".into()),
                protocol_type: "consumer".into(),
                protocols: vec![JoinGroupRequestProtocol {
                    name: "range".into(),
                    metadata: Bytes(vec![0, 0, 0, 0, 0, 0]),
                }],
                ..Default::default()
            },
        )
        .unwrap()
    };
    let mut first = Client::connect(b.addr, "first").unwrap();
    let one = static_join(&mut first);
    assert_eq!(one.error_code, 0, "static members skip MEMBER_ID_REQUIRED");
    let synced: SyncGroupResponse = first
        .call(
            3,
            &SyncGroupRequest {
                group_id: "statics".into(),
                generation_id: one.generation_id,
                member_id: one.member_id.clone(),
                group_instance_id: Some("the-one".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(synced.error_code, 0);
    let mut second = Client::connect(b.addr, "second").unwrap();
    let two = static_join(&mut second);
    assert_eq!(
        (two.error_code, two.generation_id),
        (0, one.generation_id),
        "no rebalance"
    );
    assert_ne!(two.member_id, one.member_id);
    let fenced: HeartbeatResponse = first
        .call(
            3,
            &HeartbeatRequest {
                group_id: "statics".into(),
                generation_id: one.generation_id,
                member_id: one.member_id.clone(),
                group_instance_id: Some("the-one".into()),
            },
        )
        .unwrap();
    assert_eq!(fenced.error_code, ErrorCode::FENCED_INSTANCE_ID.0);

    // A member that stops heartbeating is removed after its session timeout.
    let (_silent, _) = lone_member(&mut c, "silent");
    wait_until(
        "the silent member is removed",
        Duration::from_secs(20),
        || described(b.addr, "silent").1 == 0,
    );
    for h in storm {
        h.join().unwrap();
    }
    b.stop();
}

/// Calls `request` until it answers with something other than Kafka's "coordinator
/// still loading" codes (Kafka answers them for a while after it starts).
fn settled(who: &str, mut request: impl FnMut() -> i16) -> i16 {
    let loading = [
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS.0,
        ErrorCode::COORDINATOR_NOT_AVAILABLE.0,
        ErrorCode::NOT_COORDINATOR.0,
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let code = request();
        if !loading.contains(&code) || Instant::now() > deadline {
            return code;
        }
        eprintln!("{who}: coordinator loading ({code}), retrying");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asks for `key`'s coordinator until it is found. Kafka creates its offsets topic,
/// and so its coordinator, at the first FindCoordinator, as clients send it before any
/// group request.
fn find_coordinator(who: &str, c: &mut Client, key: &str) {
    let found = settled(who, || {
        let r: FindCoordinatorResponse = c
            .call(
                3,
                &FindCoordinatorRequest {
                    key: key.into(),
                    ..Default::default()
                },
            )
            .unwrap();
        r.error_code
    });
    assert_eq!(found, 0, "{who}: FindCoordinator");
}

/// Requests Kafka refuses before it creates a group leave nothing behind, on Kafka and
/// on pagecast alike: 2,000 JoinGroups naming a member of a group that does not exist,
/// 2,000 ConsumerGroupHeartbeats with a made-up group, member and epoch, and 2,000
/// OffsetCommits outside a group to a topic that does not exist, each get Kafka's
/// error, and ListGroups then lists no group.
#[test]
fn refused_joins_and_heartbeats_create_no_group_as_on_kafka() {
    const EACH: usize = 2000;
    let kafka = support::kafka::Kafka::start(&[]);
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut answers = Vec::new();
    for (who, addr) in [("Kafka", kafka.bootstrap()), ("pagecast", b.bootstrap())] {
        let mut c = Client::connect(addr.parse().unwrap(), "refused").unwrap();
        c.stream()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        find_coordinator(who, &mut c, "refused");
        let mut codes = BTreeMap::new();
        for i in 0..EACH {
            let group = format!("no-such-group-{i}");
            let join = settled(who, || {
                join(&mut c, &group, &format!("made-up-{i}")).error_code
            });
            *codes.entry(("JoinGroup", join)).or_insert(0) += 1;
            let beat = settled(who, || {
                let r: ConsumerGroupHeartbeatResponse = c
                    .call(
                        0,
                        &ConsumerGroupHeartbeatRequest {
                            group_id: format!("no-such-consumer-group-{i}"),
                            member_id: format!("made-up-{i}"),
                            member_epoch: 7,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                r.error_code
            });
            *codes.entry(("ConsumerGroupHeartbeat", beat)).or_insert(0) += 1;
            let commit: OffsetCommitResponse = c
                .call(
                    7,
                    &OffsetCommitRequest {
                        group_id: format!("no-such-committer-{i}"),
                        generation_id_or_member_epoch: -1,
                        topics: vec![OffsetCommitRequestTopic {
                            name: "no-such-topic".into(),
                            partitions: vec![OffsetCommitRequestPartition {
                                partition_index: 0,
                                committed_offset: 1,
                                ..Default::default()
                            }],
                        }],
                        ..Default::default()
                    },
                )
                .unwrap();
            let code = commit.topics[0].partitions[0].error_code;
            *codes.entry(("OffsetCommit", code)).or_insert(0) += 1;
        }
        let listed: ListGroupsResponse = c.call(4, &ListGroupsRequest::default()).unwrap();
        assert_eq!(listed.error_code, 0, "{who}");
        let names: Vec<&str> = listed.groups.iter().map(|g| g.group_id.as_str()).collect();
        assert!(
            names.is_empty(),
            "{who} holds groups it refused: {} of them, {:?}…",
            names.len(),
            &names[..names.len().min(5)]
        );
        answers.push(codes);
    }
    assert_eq!(
        answers[1], answers[0],
        "pagecast's answers (right) differ from Kafka's (left)"
    );
    let refused = |api: &str| {
        answers[0]
            .iter()
            .filter(|((a, code), _)| *a == api && *code != 0)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    assert_eq!(refused("JoinGroup"), EACH, "{:?}", answers[0]);
    assert_eq!(refused("ConsumerGroupHeartbeat"), EACH, "{:?}", answers[0]);
    assert_eq!(refused("OffsetCommit"), EACH, "{:?}", answers[0]);
    b.stop();
}

/// What a group coordinator answer rests on is written before the answer goes out: a
/// broker killed right after a LeaveGroup's answer comes back with the group Empty,
/// and after a ConsumerGroupHeartbeat's answer with the member it admitted.
#[test]
fn coordinator_answers_survive_a_kill_right_after_them() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let mut c = Client::connect(b.addr, "kill").unwrap();
    run_ok(&mut clients(
        "produce-values",
        &[&b.bootstrap(), "t", "1", "1"],
    ));
    let (id, _) = lone_member(&mut c, "left");
    let joined: ConsumerGroupHeartbeatResponse = c
        .call(
            0,
            &ConsumerGroupHeartbeatRequest {
                group_id: "admitted".into(),
                member_epoch: 0,
                rebalance_timeout_ms: 30_000,
                subscribed_topic_names: Some(vec!["t".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(joined.error_code, 0);
    let left: pagecast_kafka::messages::leave_group::LeaveGroupResponse = c
        .call(
            0,
            &pagecast_kafka::messages::leave_group::LeaveGroupRequest {
                group_id: "left".into(),
                member_id: id,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(left.error_code, 0);
    b.kill();
    let b = Broker::start(data.path(), "segment", &[]);
    assert_eq!(
        described(b.addr, "left"),
        ("Empty".into(), 0),
        "the member that left came back"
    );
    let mut c = Client::connect(b.addr, "kill").unwrap();
    let again: ConsumerGroupHeartbeatResponse = c
        .call(
            0,
            &ConsumerGroupHeartbeatRequest {
                group_id: "admitted".into(),
                member_id: joined.member_id.clone().unwrap(),
                member_epoch: joined.member_epoch,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (again.error_code, again.member_epoch),
        (0, joined.member_epoch),
        "the admitted member is known in its epoch"
    );
    b.stop();
}

/// A member that stops heartbeating is removed at its session's deadline: a
/// DeleteGroups sent 35 ms after the deadline finds the group empty. Twenty groups at
/// once, each from its own connection, their last heartbeats 2.5 ms apart: a check
/// every 50 ms would leave about a third of them "not empty" (all twenty pass that way
/// less than once in a thousand runs).
#[test]
fn a_session_ends_at_its_deadline() {
    let data = tempfile::tempdir().unwrap();
    let b = Broker::start(data.path(), "segment", &[]);
    let addr = b.addr;
    let answers: Vec<(String, i16)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..20u64)
            .map(|i| {
                s.spawn(move || {
                    let group = format!("silent-{i}");
                    let mut c = Client::connect(addr, "silent").unwrap();
                    let (member, generation) = lone_member(&mut c, &group);
                    // A last heartbeat at a different moment in each group, so that
                    // the deadlines fall at every phase of any periodic check.
                    std::thread::sleep(Duration::from_micros(7000 + 2500 * i));
                    assert_eq!(heartbeat(&mut c, &group, generation, &member), 0);
                    // The session (6 s, from `join`) restarted before the answer came.
                    let heard = Instant::now();
                    std::thread::sleep(
                        (heard + Duration::from_millis(6035))
                            .saturating_duration_since(Instant::now()),
                    );
                    let deleted: pagecast_kafka::messages::delete_groups::DeleteGroupsResponse = c
                        .call(
                            2,
                            &pagecast_kafka::messages::delete_groups::DeleteGroupsRequest {
                                groups_names: vec![group.clone()],
                            },
                        )
                        .unwrap();
                    (group, deleted.results[0].error_code)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let refused: Vec<&(String, i16)> = answers.iter().filter(|(_, code)| *code != 0).collect();
    assert!(
        refused.is_empty(),
        "DeleteGroups 35 ms after the session's end was refused (69: not found, 68: not empty): {refused:?}"
    );
    b.stop();
}

/// One broker's side of [`offsets_expire_with_their_group_as_on_kafka`].
struct Retained {
    who: &'static str,
    client: Client,
    live: (String, i32),
}

impl Retained {
    fn commit(&mut self, group: &str, generation: i32, member: &str) {
        let r: OffsetCommitResponse = self
            .client
            .call(
                7,
                &OffsetCommitRequest {
                    group_id: group.into(),
                    generation_id_or_member_epoch: generation,
                    member_id: member.into(),
                    topics: vec![OffsetCommitRequestTopic {
                        name: "kept".into(),
                        partitions: vec![OffsetCommitRequestPartition {
                            partition_index: 0,
                            committed_offset: 1,
                            ..Default::default()
                        }],
                    }],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            r.topics[0].partitions[0].error_code, 0,
            "{}: commit of {group}",
            self.who
        );
    }

    /// The offset `group` has committed for kept-0 (-1: none).
    fn committed(&mut self, group: &str) -> i64 {
        use pagecast_kafka::messages::offset_fetch::{
            OffsetFetchRequest, OffsetFetchRequestTopic, OffsetFetchResponse,
        };
        let r: OffsetFetchResponse = self
            .client
            .call(
                7,
                &OffsetFetchRequest {
                    group_id: group.into(),
                    topics: Some(vec![OffsetFetchRequestTopic {
                        name: "kept".into(),
                        partition_indexes: vec![0],
                    }]),
                    ..Default::default()
                },
            )
            .unwrap();
        r.topics[0].partitions[0].committed_offset
    }

    fn groups(&mut self) -> Vec<String> {
        let listed: ListGroupsResponse =
            self.client.call(4, &ListGroupsRequest::default()).unwrap();
        let mut names: Vec<String> = listed.groups.into_iter().map(|g| g.group_id).collect();
        names.sort();
        names
    }

    fn sets_up(who: &'static str, addr: &str) -> Retained {
        let mut client = Client::connect(addr.parse().unwrap(), "retention").unwrap();
        client
            .stream()
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        find_coordinator(who, &mut client, "live");
        // Kafka loads each group's coordinator partition after creating them.
        let loaded = settled(who, || {
            let d: DescribeGroupsResponse = client
                .call(
                    4,
                    &DescribeGroupsRequest {
                        groups: vec!["live".into(), "emptied".into(), "simple".into()],
                        ..Default::default()
                    },
                )
                .unwrap();
            d.groups
                .iter()
                .map(|g| g.error_code)
                .find(|c| *c != 0)
                .unwrap_or(0)
        });
        assert_eq!(loaded, 0, "{who}: DescribeGroups");
        let created: pagecast_kafka::messages::create_topics::CreateTopicsResponse = client
            .call(
                pagecast_kafka::client::CREATE_TOPICS_VERSION,
                &pagecast_kafka::messages::create_topics::CreateTopicsRequest {
                    topics: vec![pagecast_kafka::messages::create_topics::CreatableTopic {
                        name: "kept".into(),
                        num_partitions: 1,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    timeout_ms: 30_000,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(created.topics[0].error_code, 0, "{who}: CreateTopics");
        let kept = || subscription(&["kept"]);
        let live = lone_member_with(&mut client, "live", kept());
        let emptied = lone_member_with(&mut client, "emptied", kept());
        let mut r = Retained { who, client, live };
        r.commit("live", r.live.1, &r.live.0.clone());
        r.commit("emptied", emptied.1, &emptied.0);
        r.commit("simple", -1, "");
        let left: pagecast_kafka::messages::leave_group::LeaveGroupResponse = r
            .client
            .call(
                0,
                &pagecast_kafka::messages::leave_group::LeaveGroupRequest {
                    group_id: "emptied".into(),
                    member_id: emptied.0,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(left.error_code, 0, "{who}: LeaveGroup");
        r
    }

    fn heartbeat(&mut self) {
        let (member, generation) = self.live.clone();
        assert_eq!(
            heartbeat(&mut self.client, "live", generation, &member),
            0,
            "{}",
            self.who
        );
    }
}

/// Committed offsets expire as on Kafka with `offsets.retention.minutes=1`: a Stable
/// group keeps the offset of the topic it subscribes to, while an Empty group's offset
/// and a commit outside any group expire, and their groups (Kafka lists the committer's
/// as a group too) are deleted with them. After a restart, what expired stays gone.
#[test]
fn offsets_expire_with_their_group_as_on_kafka() {
    let kafka = support::kafka::Kafka::start(&[
        "offsets.retention.minutes=1",
        "offsets.retention.check.interval.ms=1000",
    ]);
    let data = tempfile::tempdir().unwrap();
    let flags = [
        "--offsets-retention-minutes",
        "1",
        "--offsets-retention-check-interval-ms",
        "1000",
        "--group-initial-rebalance-delay-ms",
        "0",
    ];
    let b = Broker::start(data.path(), "segment", &flags);
    let kafka_addr = kafka.bootstrap();
    let mut sides = [
        Retained::sets_up("Kafka", &kafka_addr),
        Retained::sets_up("pagecast", &b.bootstrap()),
    ];
    for s in &mut sides {
        let before = (
            s.groups(),
            s.committed("live"),
            s.committed("emptied"),
            s.committed("simple"),
        );
        assert_eq!(
            before,
            (
                vec!["emptied".to_owned(), "live".to_owned(), "simple".to_owned()],
                1,
                1,
                1
            ),
            "{}: before the retention",
            s.who
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut expired = [false, false];
    while expired.contains(&false) {
        assert!(
            Instant::now() < deadline,
            "offsets still held after 120 s: {expired:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
        for (s, done) in sides.iter_mut().zip(&mut expired) {
            s.heartbeat();
            *done = s.committed("emptied") == -1 && s.committed("simple") == -1;
        }
    }
    let after: Vec<_> = sides
        .iter_mut()
        .map(|s| (s.groups(), s.committed("live")))
        .collect();
    assert_eq!(after[0], (vec!["live".to_owned()], 1), "Kafka");
    assert_eq!(
        after[1], after[0],
        "pagecast (right) differs from Kafka (left)"
    );
    drop(sides);
    b.stop();
    let b = Broker::start(data.path(), "segment", &flags);
    let mut again = Client::connect(b.addr, "retention").unwrap();
    let listed: ListGroupsResponse = again.call(4, &ListGroupsRequest::default()).unwrap();
    let names: Vec<String> = listed.groups.into_iter().map(|g| g.group_id).collect();
    assert_eq!(names, ["live"], "after a restart");
    let mut r = Retained {
        who: "pagecast",
        client: again,
        live: (String::new(), 0),
    };
    assert_eq!(
        (
            r.committed("emptied"),
            r.committed("simple"),
            r.committed("live")
        ),
        (-1, -1, 1)
    );
    b.stop();
}

/// Commits `offset` for partitions 0..8 of "t" as `group` (outside any generation),
/// with a metadata string that makes each record a little over 100 bytes.
fn commit_all(c: &mut Client, group: &str, offset: i64) {
    let r: OffsetCommitResponse = c
        .call(
            7,
            &OffsetCommitRequest {
                group_id: group.into(),
                generation_id_or_member_epoch: -1,
                topics: vec![OffsetCommitRequestTopic {
                    name: "t".into(),
                    partitions: (0..8)
                        .map(|p| OffsetCommitRequestPartition {
                            partition_index: p,
                            committed_offset: offset,
                            committed_metadata: Some(format!("round {offset} of a long run")),
                            ..Default::default()
                        })
                        .collect(),
                }],
                ..Default::default()
            },
        )
        .unwrap();
    let codes: Vec<i16> = r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(codes, [0; 8], "commit of {group}");
}

/// The offsets `group` has committed for partitions 0..8 of "t" (-1: none).
fn committed_all(c: &mut Client, group: &str) -> Vec<i64> {
    use pagecast_kafka::messages::offset_fetch::{
        OffsetFetchRequest, OffsetFetchRequestTopic, OffsetFetchResponse,
    };
    let r: OffsetFetchResponse = c
        .call(
            7,
            &OffsetFetchRequest {
                group_id: group.into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t".into(),
                    partition_indexes: (0..8).collect(),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect()
}

/// The bytes of the internal partition's segments.
fn internal_bytes(data: &std::path::Path) -> u64 {
    std::fs::read_dir(data.join("internal").join("__consumer_offsets-0"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// The number in the broker's "read N record(s) of __consumer_offsets-0" line.
fn records_replayed(printed: &str) -> u64 {
    printed
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("pagecast broker: read ")?;
            let (n, tail) = rest.split_once(' ')?;
            tail.starts_with("record(s) of __consumer_offsets-0")
                .then(|| n.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no replay line in {printed}"))
}

/// `__consumer_offsets` is compacted as Kafka's: 2000 commits of the same eight offsets
/// shrink to the latest of each once their segments are cleaned, and a restart reads
/// only those and the active segment, not the 16 000 records written. Deleted groups
/// stay deleted, other groups' offsets stay, on both engines (the internal partition has
/// a segment store of its own under either). A data directory whose internal partition
/// is still in the topics' store (as brokers before the compacted store kept it) has it
/// moved on start, its offsets kept.
#[test]
fn the_internal_partition_is_compacted_and_a_restart_reads_only_live_records() {
    let flags = [
        "--offsets-topic-segment-bytes",
        "16384",
        "--log-cleaner-backoff-ms",
        "100",
    ];
    for engine in support::broker::ENGINES {
        let data = tempfile::tempdir().unwrap();
        let b = Broker::start(data.path(), engine, &flags);
        let mut c = Client::connect(b.addr, "compaction").unwrap();
        let created: pagecast_kafka::messages::create_topics::CreateTopicsResponse = c
            .call(
                pagecast_kafka::client::CREATE_TOPICS_VERSION,
                &pagecast_kafka::messages::create_topics::CreateTopicsRequest {
                    topics: vec![pagecast_kafka::messages::create_topics::CreatableTopic {
                        name: "t".into(),
                        num_partitions: 8,
                        replication_factor: 1,
                        ..Default::default()
                    }],
                    timeout_ms: 30_000,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(created.topics[0].error_code, 0);
        for other in ["a", "b", "gone"] {
            commit_all(&mut c, other, 7);
        }
        for round in 0..2000 {
            commit_all(&mut c, "busy", round);
        }
        let deleted: pagecast_kafka::messages::delete_groups::DeleteGroupsResponse = c
            .call(
                2,
                &pagecast_kafka::messages::delete_groups::DeleteGroupsRequest {
                    groups_names: vec!["gone".into()],
                },
            )
            .unwrap();
        assert_eq!(deleted.results[0].error_code, 0);
        wait_until(
            "the cleaner shrinks the internal partition",
            Duration::from_secs(60),
            || internal_bytes(data.path()) < 64 << 10,
        );
        let printed = b.stop();
        assert!(
            printed.contains("cleaned __consumer_offsets-0"),
            "{printed}"
        );

        let b = Broker::start(data.path(), engine, &flags);
        let mut c = Client::connect(b.addr, "compaction").unwrap();
        assert_eq!(committed_all(&mut c, "busy"), [1999; 8], "{engine}");
        assert_eq!(committed_all(&mut c, "a"), [7; 8], "{engine}");
        assert_eq!(committed_all(&mut c, "gone"), [-1; 8], "{engine}");
        let printed = b.stop();
        let read = records_replayed(&printed);
        // The live commits, and what the segments not cleaned yet hold: the active
        // one, and the one before if the cleaner had not reached it (each 16 KiB, of
        // about 200 records).
        assert!(
            (24..=800).contains(&read),
            "{engine}: {read} records read at start-up, of 16 000 written"
        );

        if engine == "segment" {
            // The layout of brokers before the internal store: the partition in the
            // topics' store.
            let from = data.path().join("internal").join("__consumer_offsets-0");
            let to = data.path().join("log").join("__consumer_offsets-0");
            std::fs::rename(&from, &to).unwrap();
            let b = Broker::start(data.path(), engine, &flags);
            let mut c = Client::connect(b.addr, "compaction").unwrap();
            assert_eq!(committed_all(&mut c, "busy"), [1999; 8], "after the move");
            assert_eq!(committed_all(&mut c, "a"), [7; 8], "after the move");
            assert_eq!(committed_all(&mut c, "gone"), [-1; 8], "after the move");
            let printed = b.stop();
            assert!(printed.contains("moved __consumer_offsets-0"), "{printed}");
            assert!(!to.exists(), "the old partition is deleted");
        }
    }
}
