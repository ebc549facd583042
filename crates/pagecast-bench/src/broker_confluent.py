"""The `pagecast bench broker` load with confluent-kafka's producer and consumer.

Arguments: BOOTSTRAP TOPIC RECORDS RECORD_SIZE BATCH_BYTES ACKS. Prints "start PHASE"
as each phase begins and "done PHASE SECONDS BYTES RECORDS" as it ends, BYTES being
record value bytes; the benchmark reads the broker's CPU at each line.
"""

import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, topic = sys.argv[1], sys.argv[2]
records, record_size, batch_bytes, acks = (int(a) for a in sys.argv[3:7])
value = b"x" * record_size

producer = Producer({
    "bootstrap.servers": bootstrap,
    "acks": str(acks),
    "linger.ms": 5,
    "batch.size": batch_bytes,
    "queue.buffering.max.messages": 1_000_000,
    "enable.idempotence": False,
})
partitions = len(producer.list_topics(topic, timeout=30).topics[topic].partitions)
print("start produce", flush=True)
start = time.perf_counter()
for i in range(records):
    while True:
        try:
            producer.produce(topic, value, partition=i % partitions)
            break
        except BufferError:
            producer.poll(0.001)
left = producer.flush(120)
elapsed = time.perf_counter() - start
if left:
    sys.exit(f"{left} records were not acknowledged")
print(f"done produce {elapsed:.6f} {records * record_size} {records}", flush=True)

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "pagecast-bench",
    "enable.auto.commit": False,
    "fetch.max.bytes": 64 << 20,
    "max.partition.fetch.bytes": 8 << 20,
})
consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
print("start consume", flush=True)
start = time.perf_counter()
got = 0
size = 0
while got < records:
    for m in consumer.consume(num_messages=10_000, timeout=5):
        if m.error():
            sys.exit(f"consumer: {m.error()}")
        got += 1
        size += len(m.value())
elapsed = time.perf_counter() - start
consumer.close()
print(f"done consume {elapsed:.6f} {size} {got}", flush=True)
