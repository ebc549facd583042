package pagecast;

import static pagecast.Checks.expect;
import static pagecast.Checks.info;
import static pagecast.Checks.props;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/** One consumer of 1,000 idle partitions, as the Java client fetches them (in an
 * incremental fetch session where the broker offers one, KIP-227): a record produced
 * to one of them while it polls must arrive, and the bytes each fetch sends and
 * receives are measured from the client's own metrics. */
final class SessionChecks {
  private SessionChecks() {}

  static final int PARTITIONS = 1000;
  static final long IDLE_MS = 5_000;

  static double metric(KafkaConsumer<byte[], byte[]> c, String group, String name) {
    double sum = 0;
    for (var e : c.metrics().entrySet()) {
      var n = e.getKey();
      if (n.group().equals(group) && n.name().equals(name)) {
        Metric m = e.getValue();
        Object v = m.metricValue();
        if (v instanceof Double d && !d.isNaN()) {
          sum += d;
        }
      }
    }
    return sum;
  }

  static void run(String bootstrap) throws Exception {
    try (var admin = Admin.create(props(bootstrap))) {
      admin.createTopics(List.of(new NewTopic("idle", PARTITIONS, (short) 1))).all().get();
    }
    var tps = new ArrayList<TopicPartition>();
    for (int p = 0; p < PARTITIONS; p++) {
      tps.add(new TopicPartition("idle", p));
    }
    try (var c = ProducerChecks.reader(bootstrap, "fetch.max.wait.ms", "100");
        var producer = ProducerChecks.producer(bootstrap)) {
      c.assign(tps);
      c.seekToBeginning(tps);
      for (var tp : tps) {
        c.position(tp, Duration.ofSeconds(60));
      }
      // Settle: the first fetches open the session and learn every partition.
      long until = System.currentTimeMillis() + 2_000;
      while (System.currentTimeMillis() < until) {
        c.poll(Duration.ofMillis(100));
      }
      double fetches0 = metric(c, "consumer-fetch-manager-metrics", "fetch-total");
      double out0 = metric(c, "consumer-node-metrics", "outgoing-byte-total");
      double in0 = metric(c, "consumer-node-metrics", "incoming-byte-total");
      long start = System.currentTimeMillis();
      int idleRecords = 0;
      while (System.currentTimeMillis() - start < IDLE_MS) {
        idleRecords += c.poll(Duration.ofMillis(100)).count();
      }
      double fetches = metric(c, "consumer-fetch-manager-metrics", "fetch-total") - fetches0;
      double out = metric(c, "consumer-node-metrics", "outgoing-byte-total") - out0;
      double in = metric(c, "consumer-node-metrics", "incoming-byte-total") - in0;
      expect("records while idle", idleRecords, 0);
      // For the test to read, not to compare: the numbers differ between brokers.
      info(String.format("fetch bytes per poll: fetches=%.0f request=%.0f response=%.0f",
          fetches, fetches > 0 ? out / fetches : 0, fetches > 0 ? in / fetches : 0));

      producer.send(new ProducerRecord<>("idle", 537, null, ProducerChecks.bytes("news"))).get();
      String got = "nothing";
      long deadline = System.currentTimeMillis() + 30_000;
      while (got.equals("nothing") && System.currentTimeMillis() < deadline) {
        for (var r : c.poll(Duration.ofMillis(100))) {
          got = r.partition() + "@" + r.offset() + " " + new String(r.value(), StandardCharsets.UTF_8);
        }
      }
      expect("a record produced to one of 1000 idle partitions", got, "537@0 news");

      // The client now fetches 537 from offset 1, an update the session must take, and
      // another partition wakes.
      producer.send(new ProducerRecord<>("idle", 537, null, ProducerChecks.bytes("more"))).get();
      producer.send(new ProducerRecord<>("idle", 12, null, ProducerChecks.bytes("other"))).get();
      var later = new java.util.TreeSet<String>();
      deadline = System.currentTimeMillis() + 30_000;
      while (later.size() < 2 && System.currentTimeMillis() < deadline) {
        for (var r : c.poll(Duration.ofMillis(100))) {
          later.add(r.partition() + "@" + r.offset() + " " + new String(r.value(), StandardCharsets.UTF_8));
        }
      }
      expect("records produced next to two partitions", later, "[12@0 other, 537@1 more]");
    }
  }
}
