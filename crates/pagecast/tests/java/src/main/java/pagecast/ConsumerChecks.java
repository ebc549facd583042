package pagecast;

import static pagecast.Checks.expect;
import static pagecast.Checks.fail;
import static pagecast.Checks.info;
import static pagecast.Checks.props;
import static pagecast.Checks.same;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/** KafkaConsumer: groups of the classic protocol (eager and cooperative-sticky) and of
 * the consumer protocol (KIP-848) through a member joining and one leaving, commits in
 * onPartitionsRevoked; assign and seek, offsetsForTimes, committed, endOffsets. */
final class ConsumerChecks {
  private ConsumerChecks() {}

  static final int PARTITIONS = 4;
  static final int PER_PARTITION = 100;
  /** Record timestamps are BASE + 1000 * offset: an hour ago, well inside retention
   * (7 days) and the segment age (7 days), so neither deletes nor rolls what a check
   * reads. Observations name times relative to it. */
  static final long BASE = System.currentTimeMillis() / 1000 * 1000 - 3_600_000;

  static void run(String bootstrap) throws Exception {
    try (var admin = Admin.create(props(bootstrap))) {
      admin
          .createTopics(
              List.of(
                  new NewTopic("group-eager", PARTITIONS, (short) 1),
                  new NewTopic("group-cooperative", PARTITIONS, (short) 1),
                  new NewTopic("group-consumer", PARTITIONS, (short) 1),
                  new NewTopic("times", 1, (short) 1)))
          .all()
          .get();
    }
    try (var p = ProducerChecks.producer(bootstrap, "linger.ms", "5")) {
      for (var t : List.of("group-eager", "group-cooperative", "group-consumer")) {
        for (int part = 0; part < PARTITIONS; part++) {
          for (int i = 0; i < PER_PARTITION; i++) {
            p.send(new ProducerRecord<>(t, part, null, ProducerChecks.bytes(t + "-" + part + "-" + i)));
          }
        }
      }
      for (int i = 0; i < 100; i++) {
        p.send(new ProducerRecord<>("times", 0, BASE + 1000L * i, null, ProducerChecks.bytes("t-" + i)));
      }
      p.flush();
    }
    group(bootstrap, "eager", "group.protocol", "classic", "partition.assignment.strategy",
        "org.apache.kafka.clients.consumer.RangeAssignor");
    group(bootstrap, "cooperative", "group.protocol", "classic", "partition.assignment.strategy",
        "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
    group(bootstrap, "consumer", "group.protocol", "consumer");
    seekAndTimes(bootstrap);
  }

  /** One member of a group, polling on its own thread. */
  static final class Member implements Runnable {
    final String name;
    final KafkaConsumer<byte[], byte[]> consumer;
    final String topic;
    final Set<String> seen;
    final AtomicBoolean stop = new AtomicBoolean();
    final AtomicInteger revokeCommits = new AtomicInteger();
    final List<String> revokeFailures = new ArrayList<>();
    volatile int assigned = 0;
    volatile Throwable died;
    final Thread thread;

    Member(String name, String bootstrap, String group, String topic, Set<String> seen, String... kv) {
      this.name = name;
      this.topic = topic;
      this.seen = seen;
      var all = new ArrayList<>(List.of(kv));
      all.addAll(List.of("group.id", group, "enable.auto.commit", "false", "max.poll.records", "7",
          "auto.offset.reset", "earliest"));
      if (!all.contains("consumer")) {
        // The consumer protocol takes its heartbeat interval from the broker.
        all.addAll(List.of("heartbeat.interval.ms", "500", "session.timeout.ms", "10000"));
      }
      this.consumer = ProducerChecks.reader(bootstrap, all.toArray(new String[0]));
      this.thread = new Thread(this, name);
    }

    public void run() {
      try {
        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
          public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            // What an at-least-once consumer does: commit what it processed before it
            // gives partitions up, so their next owner does not process them again.
            var offsets = new HashMap<TopicPartition, OffsetAndMetadata>();
            for (var tp : parts) {
              offsets.put(tp, new OffsetAndMetadata(consumer.position(tp)));
            }
            try {
              if (!offsets.isEmpty()) {
                consumer.commitSync(offsets);
                revokeCommits.incrementAndGet();
              }
            } catch (RuntimeException e) {
              synchronized (revokeFailures) {
                revokeFailures.add(e.getClass().getSimpleName() + ": " + e.getMessage());
              }
            }
            assigned = consumer.assignment().size() - parts.size();
          }

          public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            assigned = consumer.assignment().size();
          }

          public void onPartitionsLost(Collection<TopicPartition> parts) {
            synchronized (revokeFailures) {
              revokeFailures.add("lost " + parts);
            }
          }
        });
        while (!stop.get()) {
          for (var r : consumer.poll(Duration.ofMillis(100))) {
            seen.add(new String(r.value(), StandardCharsets.UTF_8));
          }
          assigned = consumer.assignment().size();
          // Slow enough that a rebalance happens mid-stream.
          Thread.sleep(5);
        }
        consumer.commitSync();
      } catch (Throwable t) {
        died = t;
      } finally {
        consumer.close();
      }
    }
  }

  static boolean await(String what, long ms, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.currentTimeMillis() + ms;
    while (System.currentTimeMillis() < deadline) {
      if (cond.getAsBoolean()) {
        return true;
      }
      Thread.sleep(20);
    }
    fail(what, "not within " + ms + " ms");
    return false;
  }

  static void group(String bootstrap, String mode, String... kv) throws Exception {
    String topic = "group-" + mode;
    String group = "g-" + mode;
    Set<String> seen = ConcurrentHashMap.newKeySet();
    var a = new Member("a", bootstrap, group, topic, seen, kv);
    a.thread.start();
    await(mode + ": the first member owns every partition", 60_000,
        () -> a.assigned == PARTITIONS && seen.size() >= 20);
    var b = new Member("b", bootstrap, group, topic, seen, kv);
    b.thread.start();
    boolean joined = await(mode + ": a second member joins", 60_000,
        () -> a.assigned == PARTITIONS / 2 && b.assigned == PARTITIONS / 2);
    same(mode + " after a member joins", "a=" + a.assigned + " b=" + b.assigned);
    if (joined) {
      int before = seen.size();
      await(mode + ": both consume", 30_000, () -> seen.size() >= Math.min(before + 20, PARTITIONS * PER_PARTITION));
    }
    b.stop.set(true);
    b.thread.join(60_000);
    await(mode + ": the first member owns every partition again", 60_000, () -> a.assigned == PARTITIONS);
    same(mode + " after a member leaves", "a=" + a.assigned);
    await(mode + ": every record consumed", 60_000, () -> seen.size() == PARTITIONS * PER_PARTITION);
    a.stop.set(true);
    a.thread.join(60_000);
    expect(mode + " records consumed", seen.size(), PARTITIONS * PER_PARTITION);
    for (var m : List.of(a, b)) {
      if (m.died != null) {
        fail(mode + " member " + m.name, m.died);
      }
    }
    var failures = new ArrayList<String>();
    failures.addAll(a.revokeFailures);
    failures.addAll(b.revokeFailures);
    expect(mode + " commits in onPartitionsRevoked that failed", failures, List.of());
    int commits = a.revokeCommits.get() + b.revokeCommits.get();
    info(mode + ": " + commits + " commits in onPartitionsRevoked");
    if (commits == 0) {
      fail(mode + " commits in onPartitionsRevoked", "none was made");
    }
    try (var admin = Admin.create(props(bootstrap))) {
      var committed = new TreeMap<Integer, Long>();
      for (var e : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().entrySet()) {
        committed.put(e.getKey().partition(), e.getValue().offset());
      }
      var want = new TreeMap<Integer, Long>();
      for (int p = 0; p < PARTITIONS; p++) {
        want.put(p, (long) PER_PARTITION);
      }
      expect(mode + " committed offsets", committed, want);
    }
  }

  static void seekAndTimes(String bootstrap) {
    var tp = new TopicPartition("times", 0);
    try (var c = ProducerChecks.reader(bootstrap, "group.id", "g-seek", "enable.auto.commit", "false", "max.poll.records", "1")) {
      c.assign(List.of(tp));
      c.seek(tp, 50);
      var first = "";
      long deadline = System.currentTimeMillis() + 30_000;
      while (first.isEmpty() && System.currentTimeMillis() < deadline) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          if (first.isEmpty()) {
            first = r.offset() + " " + new String(r.value(), StandardCharsets.UTF_8) + " at +" + (r.timestamp() - BASE);
          }
        }
      }
      expect("first record after seek(50)", first, "50 t-50 at +50000");

      var at = c.offsetsForTimes(Map.of(tp, BASE + 30_500)).get(tp);
      expect("offsetsForTimes(+30.5 s)", at == null ? "none" : at.offset() + " at +" + (at.timestamp() - BASE), "31 at +31000");
      var exact = c.offsetsForTimes(Map.of(tp, BASE + 12_000)).get(tp);
      expect("offsetsForTimes(+12 s)", exact == null ? "none" : exact.offset() + "", "12");
      var after = c.offsetsForTimes(Map.of(tp, BASE + 1_000_000)).get(tp);
      expect("offsetsForTimes(after the last record)", after == null ? "none" : after.offset() + "", "none");

      expect("endOffsets", c.endOffsets(List.of(tp)).get(tp), 100);
      expect("beginningOffsets", c.beginningOffsets(List.of(tp)).get(tp), 0);

      expect("committed before any commit", c.committed(Set.of(tp)).get(tp), null);
      c.commitSync(Map.of(tp, new OffsetAndMetadata(42, "checkpoint")));
      var committed = c.committed(Set.of(tp)).get(tp);
      expect("committed after commitSync", committed == null ? "none" : committed.offset() + " " + committed.metadata(), "42 checkpoint");
      expect("position", c.position(tp), 51);
    }
  }
}
