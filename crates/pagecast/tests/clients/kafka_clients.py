"""Real Kafka clients against a running `pagecast broker`, driven by tests/broker_*.rs.

Each command exits 0 when every check passed and prints what it saw; a failed check
raises, so the test shows the traceback.

    python3 kafka_clients.py confluent-codecs BOOTSTRAP TOPIC
    python3 kafka_clients.py confluent-offsets BOOTSTRAP TOPIC
    python3 kafka_clients.py confluent-large BOOTSTRAP TOPIC
    python3 kafka_clients.py confluent-admin BOOTSTRAP TOPIC ENGINE
    python3 kafka_clients.py retention BOOTSTRAP TOPIC
    python3 kafka_clients.py kafka-python BOOTSTRAP TOPIC
    python3 kafka_clients.py committed BOOTSTRAP TOPIC GROUP
    python3 kafka_clients.py topic-id BOOTSTRAP TOPIC
    python3 kafka_clients.py produce-acked BOOTSTRAP TOPIC OUT_FILE
    python3 kafka_clients.py consume-all BOOTSTRAP TOPIC COUNT
    python3 kafka_clients.py produce-values BOOTSTRAP TOPIC COUNT [PARTITIONS]
    python3 kafka_clients.py consume-group BOOTSTRAP TOPIC COUNT
    python3 kafka_clients.py group-member BOOTSTRAP TOPIC GROUP STRATEGY [INSTANCE]
    python3 kafka_clients.py kafka-python-group BOOTSTRAP TOPIC COUNT
"""

import sys
import time

TIMEOUT = 30


def fail(msg):
    raise SystemExit(f"FAILED: {msg}")


def confluent_consume(bootstrap, topic, partition, start, count, extra=None):
    from confluent_kafka import Consumer, TopicPartition

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "checker",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra or {})
    c = Consumer(conf)
    c.assign([TopicPartition(topic, partition, start)])
    got = []
    deadline = time.time() + TIMEOUT
    while len(got) < count and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            fail(f"consumer error: {m.error()}")
        got.append(m)
    c.close()
    if len(got) != count:
        fail(f"consumed {len(got)} of {count} records from {topic}[{partition}] at {start}")
    return got


def confluent_codecs(bootstrap, topic):
    from confluent_kafka import Producer

    from confluent_kafka import Consumer, TopicPartition

    codecs = ["none", "gzip", "snappy", "lz4", "zstd"]
    expected = []
    base = int(time.time() * 1000) - 3_600_000
    for n, codec in enumerate(codecs):
        # A long linger puts each codec's 50 records in one batch, so finding a
        # timestamp exactly means looking inside the compressed batch.
        p = Producer({"bootstrap.servers": bootstrap, "compression.codec": codec, "linger.ms": 200})
        for i in range(50):
            key = f"{codec}-key-{i}".encode()
            value = (f"{codec}-value-{i}-" + "x" * (i * 7)).encode()
            headers = [("codec", codec.encode()), ("i", str(i).encode())]
            p.produce(topic, key=key, value=value, headers=headers, partition=0,
                      timestamp=base + n * 1000 + i * 10)
            expected.append((key, value, headers))
        if p.flush(TIMEOUT) != 0:
            fail(f"{codec}: records left unacknowledged")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "codecs"})
    for n, codec in enumerate(codecs):
        for i in (0, 17, 49):
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, base + n * 1000 + i * 10 - 5)], timeout=TIMEOUT)
            if tp.offset != n * 50 + i:
                fail(f"{codec}: offsets_for_times of record {i} gave offset {tp.offset}, expected {n * 50 + i}")
    c.close()
    got = confluent_consume(bootstrap, topic, 0, 0, len(expected))
    for offset, (m, (key, value, headers)) in enumerate(zip(got, expected)):
        if m.offset() != offset:
            fail(f"record {offset} came with offset {m.offset()}")
        if m.key() != key or m.value() != value:
            fail(f"record {offset}: got {m.key()!r}={m.value()[:40]!r}, expected {key!r}")
        if [(k, v) for k, v in m.headers()] != headers:
            fail(f"record {offset}: headers {m.headers()} != {headers}")
    print(f"{len(expected)} records in {len(codecs)} codecs round-tripped")


def confluent_offsets(bootstrap, topic):
    from confluent_kafka import Consumer, Producer, TopicPartition

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    # An hour ago: timestamps older than retention.ms (7 days) would be deleted, as
    # Kafka deletes them.
    base = int(time.time() * 1000) - 3_600_000
    for i in range(20):
        p.produce(topic, value=f"v{i}".encode(), partition=0, timestamp=base + i * 1000)
        p.flush(TIMEOUT)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-check", "enable.auto.commit": False})
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
    if (low, high) != (0, 20):
        fail(f"watermarks {(low, high)} != (0, 20)")
    for i, want in [(0, 0), (7, 7), (19, 19)]:
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, base + i * 1000)], timeout=TIMEOUT)
        if tp.offset != want:
            fail(f"offsets_for_times({base + i * 1000}) = {tp.offset}, expected {want}")
    [tp] = c.offsets_for_times([TopicPartition(topic, 0, base + 7500)], timeout=TIMEOUT)
    if tp.offset != 8:
        fail(f"offsets_for_times between records 7 and 8 = {tp.offset}, expected 8")
    [tp] = c.offsets_for_times([TopicPartition(topic, 0, base + 10**9)], timeout=TIMEOUT)
    if tp.offset != -1:
        fail(f"offsets_for_times after every record = {tp.offset}, expected -1 (end)")
    c.commit(offsets=[TopicPartition(topic, 0, 13)], asynchronous=False)
    [tp] = c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)
    if tp.offset != 13:
        fail(f"committed offset {tp.offset} != 13")
    c.close()
    print("watermarks, offsets_for_times and committed offsets as expected")


def committed(bootstrap, topic, group):
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    [tp] = c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT)
    c.close()
    print(f"committed {tp.offset}")


def topic_id(bootstrap, topic):
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    a = AdminClient({"bootstrap.servers": bootstrap})
    [(_, future)] = a.describe_topics(TopicCollection([topic])).items()
    print(future.result(TIMEOUT).topic_id)


def confluent_admin(bootstrap, topic, engine):
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource, NewPartitions, NewTopic, ResourceType)

    a = AdminClient({"bootstrap.servers": bootstrap})

    def error_code(future):
        try:
            future.result(TIMEOUT)
        except KafkaException as e:
            return e.args[0].code()
        fail("expected an error")

    # Both engines accept a topic's storage settings, as Kafka does (the commit log keeps
    # them without acting on them: its one log's retention is the whole store's).
    storage = {"retention.ms": "3600000", "segment.bytes": "1048576"}
    a.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1, config=storage)])[topic].result(TIMEOUT)
    if error_code(a.create_topics([NewTopic(topic, 1, 1)])[topic]) != KafkaError.TOPIC_ALREADY_EXISTS:
        fail("creating it twice was not TOPIC_ALREADY_EXISTS")
    if error_code(a.create_topics([NewTopic("bad/name", 1, 1)])["bad/name"]) != KafkaError.TOPIC_EXCEPTION:
        fail("an invalid name was not INVALID_TOPIC_EXCEPTION")
    if error_code(a.create_topics([NewTopic(topic + "-x", 1, 3)])[topic + "-x"]) != KafkaError.INVALID_REPLICATION_FACTOR:
        fail("replication factor 3 on one broker was accepted")
    bad = {"retention.ms": "soon"}
    if error_code(a.create_topics([NewTopic(topic + "-y", 1, 1, config=bad)])[topic + "-y"]) != KafkaError.INVALID_CONFIG:
        fail("retention.ms=soon was accepted")

    res = ConfigResource(ResourceType.TOPIC, topic)
    cfg = a.describe_configs([res])[res].result(TIMEOUT)
    if cfg["retention.ms"].value != "3600000" or cfg["retention.ms"].source != ConfigSource.DYNAMIC_TOPIC_CONFIG.value:
        fail(f"retention.ms described as {cfg['retention.ms']}")
    if cfg["segment.ms"].value != str(7 * 24 * 3600 * 1000) or cfg["segment.ms"].source != ConfigSource.DEFAULT_CONFIG.value:
        fail(f"segment.ms described as {cfg['segment.ms']}")
    if cfg["message.timestamp.type"].value != "CreateTime":
        fail("message.timestamp.type is not CreateTime by default")

    change = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("message.timestamp.type", "LogAppendTime", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    a.incremental_alter_configs([change])[change].result(TIMEOUT)
    cfg = a.describe_configs([res])[res].result(TIMEOUT)
    if cfg["message.timestamp.type"].value != "LogAppendTime":
        fail("message.timestamp.type was not changed")
    if cfg["retention.ms"].source != ConfigSource.DEFAULT_CONFIG.value:
        fail("retention.ms was not deleted back to its default")
    invalid = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("segment.bytes", "7", incremental_operation=AlterConfigOpType.SET)])
    if error_code(a.incremental_alter_configs([invalid])[invalid]) != KafkaError.INVALID_CONFIG:
        fail("segment.bytes=7 was accepted")

    # LogAppendTime: the broker's clock replaces the producer's timestamp.
    before = int(time.time() * 1000)
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=b"stamped", partition=1, timestamp=1000)
    p.flush(TIMEOUT)
    [m] = confluent_consume(bootstrap, topic, 1, 0, 1)
    kind, ts = m.timestamp()
    if kind != 2 or not before - 1000 <= ts <= time.time() * 1000 + 1000:
        fail(f"LogAppendTime record came with timestamp {(kind, ts)}")

    a.create_partitions([NewPartitions(topic, 5)])[topic].result(TIMEOUT)
    if len(a.list_topics(topic, timeout=TIMEOUT).topics[topic].partitions) != 5:
        fail("create_partitions did not make 5 partitions")
    if error_code(a.create_partitions([NewPartitions(topic, 2)])[topic]) != KafkaError.INVALID_PARTITIONS:
        fail("shrinking a topic was accepted")
    p = Producer({"bootstrap.servers": bootstrap})  # a new client sees the new partitions
    p.produce(topic, value=b"in a new partition", partition=4)
    if p.flush(TIMEOUT) != 0:
        fail("producing to a new partition failed")

    cluster = a.describe_cluster().result(TIMEOUT)
    if cluster.controller.id != 1 or [n.id for n in cluster.nodes] != [1]:
        fail(f"describe_cluster: {cluster}")

    a.delete_topics([topic])[topic].result(TIMEOUT)
    if topic in a.list_topics(timeout=TIMEOUT).topics:
        fail("the deleted topic is still listed")
    if error_code(a.delete_topics([topic])[topic]) != KafkaError.UNKNOWN_TOPIC_OR_PART:
        fail("deleting it twice was not UNKNOWN_TOPIC_OR_PART")
    print("create, describe, alter, grow and delete as Kafka does")


def retention(bootstrap, topic):
    """A topic's own segment.bytes and retention.bytes delete its old segments."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": bootstrap})
    # Kafka's smallest segment.bytes is 1 MiB: 100 records of 50 KB fill five segments,
    # and retention keeps the newest 2 MiB.
    config = {"segment.bytes": "1048576", "retention.bytes": "2097152"}
    a.create_topics([NewTopic(topic, 1, 1, config=config)])[topic].result(TIMEOUT)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(100):
        p.produce(topic, value=b"x" * 50_000, partition=0)
        p.flush(TIMEOUT)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "retention"})
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT)
        if low > 30:
            print(f"retention kept offsets {low}..{high}")
            return
        time.sleep(0.2)
    fail(f"retention.bytes did not delete old segments: watermarks {low}..{high}")


def confluent_large(bootstrap, topic):
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 1_000_000})
    values = [bytes([i]) * 900_000 for i in range(5)]
    for v in values:
        p.produce(topic, value=v, partition=0)
    if p.flush(TIMEOUT) != 0:
        fail("900 KB records left unacknowledged")
    got = confluent_consume(bootstrap, topic, 0, 0, len(values), {"fetch.max.bytes": 1_000_000})
    for i, m in enumerate(got):
        if m.value() != values[i]:
            fail(f"900 KB record {i} differs")
    print(f"{len(values)} records of 900 KB round-tripped")


def kafka_python(bootstrap, topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    p = KafkaProducer(bootstrap_servers=bootstrap)  # idempotent by default in 3.x
    if not p.config.get("enable_idempotence"):
        fail("kafka-python did not turn idempotence on by default")
    futures = [p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0) for i in range(100)]
    offsets = [f.get(timeout=TIMEOUT).offset for f in futures]
    if offsets != list(range(100)):
        fail(f"acknowledged offsets {offsets[:5]}... are not 0..99")
    p.close()
    c = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = [(m.offset, m.key, m.value) for m in c]
    c.close()
    want = [(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(100)]
    if got != want:
        fail(f"kafka-python consumed {got[:3]}... ({len(got)} records)")
    print("kafka-python: 100 idempotent records produced and consumed")


def produce_acked(bootstrap, topic, out_file):
    """Produces with acks=all until killed, appending each acknowledged value."""
    from confluent_kafka import Producer

    out = open(out_file, "a", buffering=1)

    def acked(err, msg):
        if err is None:
            out.write(f"{msg.offset()} {msg.value().decode()}\n")

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 1,
                  "enable.idempotence": True, "message.timeout.ms": 5000})
    i = 0
    while True:
        p.produce(topic, value=f"record-{i:08d}".encode(), partition=0, on_delivery=acked)
        i += 1
        p.poll(0)
        if i % 100 == 0:
            p.flush(1)


def consume_group(bootstrap, topic, count):
    """Consumes in a group, committing after every record, until every offset below
    COUNT was seen; prints progress so the test can restart the broker meanwhile.
    Records seen twice (redelivered after the restart) are counted, none may be missing."""
    from confluent_kafka import Consumer

    count = int(count)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-group",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 10000, "reconnect.backoff.max.ms": 500})
    c.subscribe([topic])
    seen, duplicates = set(), 0
    deadline = time.time() + 90
    while len(seen) < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        if m.value() != f"v{m.offset()}".encode():
            fail(f"offset {m.offset()} holds {m.value()!r}")
        if m.offset() in seen:
            duplicates += 1
        seen.add(m.offset())
        try:
            c.commit(message=m, asynchronous=False)
        except Exception:
            pass  # the broker is restarting: the next commit covers this one
        if len(seen) % 100 == 0:
            print(f"seen {len(seen)}", flush=True)
    c.close()
    if len(seen) < count:
        fail(f"saw {len(seen)} of {count} records")
    print(f"all {count} records, {duplicates} seen twice", flush=True)


def produce_values(bootstrap, topic, count, partitions="1"):
    """Produces COUNT records "v0", "v1", ... round-robin over PARTITIONS partitions."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(int(count)):
        p.produce(topic, f"v{i}".encode(), partition=i % int(partitions))
    if p.flush(TIMEOUT) != 0:
        fail("records left unacknowledged")


def group_member(bootstrap, topic, group, strategy, instance=""):
    """One member of a consumer group, until SIGTERM. Prints, flushed, one line per
    event: "assigned T:P,..." after each rebalance (the whole assignment),
    "processed P O" for each record and "committed P O" once its offset is committed
    (synchronously, record by record). STRATEGY is an assignor (range,
    cooperative-sticky) or "consumer" for the KIP-848 protocol."""
    import signal

    from confluent_kafka import Consumer

    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "reconnect.backoff.max.ms": 500}
    if strategy == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf.update({"partition.assignment.strategy": strategy, "session.timeout.ms": 6000,
                     "heartbeat.interval.ms": 500})
    if instance:
        conf["group.instance.id"] = instance
    c = Consumer(conf)
    owned = set()

    def show():
        print("assigned " + ",".join(f"{t}:{p}" for t, p in sorted(owned)), flush=True)

    def on_assign(consumer, partitions):
        if strategy == "cooperative-sticky" or strategy == "consumer":
            owned.update((p.topic, p.partition) for p in partitions)
        else:
            owned.clear()
            owned.update((p.topic, p.partition) for p in partitions)
        show()

    def on_revoke(consumer, partitions):
        owned.difference_update((p.topic, p.partition) for p in partitions)
        show()

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        print(f"processed {m.partition()} {m.offset()}", flush=True)
        try:
            c.commit(message=m, asynchronous=False)
            print(f"committed {m.partition()} {m.offset()}", flush=True)
        except Exception as e:  # a rebalance took the partition away: not committed
            print(f"commit-failed {m.partition()} {m.offset()} {e}", flush=True)
    c.close()
    print("closed", flush=True)


def kafka_python_group(bootstrap, topic, count):
    """Two kafka-python consumers in one group, each on its own thread, share a topic;
    when one leaves, the other takes its partitions and every record is consumed."""
    import threading

    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import CommitFailedError, RebalanceInProgressError

    count = int(count)
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(count):
        p.send(topic, f"v{i}".encode(), partition=i % 4)
    p.flush()
    p.close()
    seen, lock = set(), threading.Lock()
    leave = threading.Event()
    assignments = {}

    def member(name, stop):
        c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-g",
                          auto_offset_reset="earliest", enable_auto_commit=False,
                          session_timeout_ms=10000, heartbeat_interval_ms=500)
        while not stop():
            for records in c.poll(timeout_ms=200).values():
                with lock:
                    seen.update((r.partition, r.offset) for r in records)
            try:
                c.commit()
            except (CommitFailedError, RebalanceInProgressError):
                pass  # a rebalance is under way, as with Kafka: the next commit covers it
            assignments[name] = len(c.assignment())
        c.close()

    deadline = time.time() + 60
    done = threading.Event()
    first = threading.Thread(target=member, args=("first", done.is_set))
    second = threading.Thread(target=member, args=("second", leave.is_set))
    first.start()
    second.start()
    while time.time() < deadline and not (assignments.get("first") == 2 and assignments.get("second") == 2):
        time.sleep(0.1)
    if not (assignments.get("first") == 2 and assignments.get("second") == 2):
        done.set()
        leave.set()
        fail(f"the two members never split 4 partitions: {assignments}")
    leave.set()
    second.join()
    while time.time() < deadline and (assignments.get("first") != 4 or len(seen) < count):
        time.sleep(0.1)
    done.set()
    first.join()
    if assignments.get("first") != 4:
        fail(f"after one left, the other holds {assignments.get('first')} partitions")
    if len(seen) != count:
        fail(f"consumed {len(seen)} of {count} records")
    print(f"kafka-python: two members split 4 partitions, one left, the other took all and consumed {count} records")


def consume_all(bootstrap, topic, count):
    got = confluent_consume(bootstrap, topic, 0, 0, int(count))
    for m in got:
        print(m.offset(), m.value().decode())


COMMANDS = {
    "confluent-codecs": confluent_codecs,
    "confluent-offsets": confluent_offsets,
    "confluent-large": confluent_large,
    "committed": committed,
    "confluent-admin": confluent_admin,
    "retention": retention,
    "topic-id": topic_id,
    "kafka-python": kafka_python,
    "produce-acked": produce_acked,
    "consume-all": consume_all,
    "consume-group": consume_group,
    "group-member": group_member,
    "kafka-python-group": kafka_python_group,
    "produce-values": produce_values,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](*sys.argv[2:])
