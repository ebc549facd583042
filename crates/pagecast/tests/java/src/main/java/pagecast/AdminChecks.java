package pagecast;

import static pagecast.Checks.expect;
import static pagecast.Checks.fail;
import static pagecast.Checks.props;
import static pagecast.Checks.same;
import static pagecast.Checks.thrown;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.DeleteRecordsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;

/** AdminClient: topics, partitions, configs, the cluster, offsets, consumer groups and
 * their offsets, and DeleteRecords. */
final class AdminChecks {
  private AdminChecks() {}

  /** Record timestamps are BASE + 1000 * offset: an hour ago, well inside retention
   * (7 days) and the segment age (7 days), so neither deletes nor rolls what a check
   * reads. Observations name times relative to it. */
  static final long BASE = System.currentTimeMillis() / 1000 * 1000 - 3_600_000;

  static void run(String bootstrap) throws Exception {
    try (var admin = Admin.create(props(bootstrap))) {
      topics(admin);
      configs(admin);
      cluster(admin);
      offsetsAndRecords(bootstrap, admin);
      groups(bootstrap, admin);
      deleteTopics(admin);
    }
  }

  static String attempt(ThrowingRunnable r) {
    try {
      r.run();
      return "ok";
    } catch (Exception e) {
      return thrown(e);
    }
  }

  interface ThrowingRunnable {
    void run() throws Exception;
  }

  static Set<String> userTopics(Admin admin) throws Exception {
    return new TreeSet<>(admin.listTopics().names().get());
  }

  static String describe(Admin admin, String topic) throws Exception {
    var d = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
    var parts = new ArrayList<String>();
    for (var p : d.partitions()) {
      parts.add(p.partition() + ":leader=" + p.leader().id() + ",replicas=" + p.replicas().size() + ",isr=" + p.isr().size());
    }
    return d.name() + " internal=" + d.isInternal() + " id-set=" + (d.topicId() != null) + " " + parts;
  }

  static void topics(Admin admin) throws Exception {
    var a = new NewTopic("adm-a", 2, (short) 1).configs(Map.of("retention.ms", "3600000"));
    expect("createTopics", attempt(() -> admin.createTopics(List.of(a, new NewTopic("adm-b", 1, (short) 1))).all().get()), "ok");
    same("createTopics of an existing topic", attempt(() -> admin.createTopics(List.of(new NewTopic("adm-a", 1, (short) 1))).all().get()));
    same("createTopics with a bad name", attempt(() -> admin.createTopics(List.of(new NewTopic("bad topic!", 1, (short) 1))).all().get()));
    same("listTopics", userTopics(admin));
    same("describeTopics", describe(admin, "adm-a"));
    same("describeTopics of a missing topic", attempt(() -> admin.describeTopics(List.of("missing")).allTopicNames().get()));
    expect("createPartitions to 4", attempt(() -> admin.createPartitions(Map.of("adm-a", NewPartitions.increaseTo(4))).all().get()), "ok");
    same("describeTopics after createPartitions", describe(admin, "adm-a"));
    same("createPartitions to fewer", attempt(() -> admin.createPartitions(Map.of("adm-a", NewPartitions.increaseTo(3))).all().get()));
  }

  static String config(Admin admin, String topic, String... names) throws Exception {
    var r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
    var c = admin.describeConfigs(List.of(r)).all().get().get(r);
    var out = new TreeMap<String, String>();
    for (var n : names) {
      ConfigEntry e = c.get(n);
      out.put(n, e == null ? "absent" : e.value() + " (" + e.source() + ")");
    }
    return out.toString();
  }

  static void configs(Admin admin) throws Exception {
    String[] names = {"retention.ms", "cleanup.policy", "max.message.bytes"};
    same("describeConfigs", config(admin, "adm-a", names));
    var r = new ConfigResource(ConfigResource.Type.TOPIC, "adm-a");
    expect("incrementalAlterConfigs SET", attempt(() -> admin.incrementalAlterConfigs(Map.of(r, List.of(
        new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
        new AlterConfigOp(new ConfigEntry("max.message.bytes", "500000"), AlterConfigOp.OpType.SET)))).all().get()), "ok");
    same("describeConfigs after SET", config(admin, "adm-a", names));
    expect("incrementalAlterConfigs DELETE", attempt(() -> admin.incrementalAlterConfigs(Map.of(r, List.of(
        new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE)))).all().get()), "ok");
    same("describeConfigs after DELETE", config(admin, "adm-a", names));
    same("incrementalAlterConfigs of a bad value", attempt(() -> admin.incrementalAlterConfigs(Map.of(r, List.of(
        new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all().get()));
  }

  static void cluster(Admin admin) throws Exception {
    var c = admin.describeCluster();
    var nodes = c.nodes().get();
    same("describeCluster", "nodes=" + nodes.size() + " ids=" + nodes.stream().map(n -> n.id()).toList()
        + " controller=" + c.controller().get().id() + " cluster-id-set=" + (c.clusterId().get() != null));
  }

  static long listOffset(Admin admin, TopicPartition tp, OffsetSpec spec) throws Exception {
    return admin.listOffsets(Map.of(tp, spec)).partitionResult(tp).get().offset();
  }

  static void offsetsAndRecords(String bootstrap, Admin admin) throws Exception {
    var tp = new TopicPartition("adm-b", 0);
    try (var p = ProducerChecks.producer(bootstrap)) {
      for (int i = 0; i < 10; i++) {
        p.send(new ProducerRecord<>("adm-b", 0, BASE + 1000L * i, null, ProducerChecks.bytes("b-" + i)));
      }
      p.flush();
    }
    expect("listOffsets earliest", listOffset(admin, tp, OffsetSpec.earliest()), 0);
    expect("listOffsets latest", listOffset(admin, tp, OffsetSpec.latest()), 10);
    expect("listOffsets max timestamp", listOffset(admin, tp, OffsetSpec.maxTimestamp()), 9);
    expect("listOffsets for +4.5 s", listOffset(admin, tp, OffsetSpec.forTimestamp(BASE + 4500)), 5);

    var low = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(tp).get().lowWatermark();
    expect("deleteRecords before 4: low watermark", low, 4);
    expect("listOffsets earliest after deleteRecords", listOffset(admin, tp, OffsetSpec.earliest()), 4);
    expect("listOffsets latest after deleteRecords", listOffset(admin, tp, OffsetSpec.latest()), 10);
    same("deleteRecords past the end", attempt(() -> admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(11))).all().get()));
    same("deleteRecords of a missing partition", attempt(() -> admin.deleteRecords(Map.of(new TopicPartition("adm-b", 5),
        RecordsToDelete.beforeOffset(1)), new DeleteRecordsOptions().timeoutMs(3000)).all().get()));
    expect("listOffsets earliest after refused deleteRecords", listOffset(admin, tp, OffsetSpec.earliest()), 4);
    expect("deleteRecords below the start again", admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(2))).lowWatermarks().get(tp).get().lowWatermark(), 4);

    try (var c = ProducerChecks.reader(bootstrap)) {
      c.assign(List.of(tp));
      c.seekToBeginning(List.of(tp));
      expect("first offset read after deleteRecords", first(c), "4 b-4");
    }
    try (var c = ProducerChecks.reader(bootstrap, "auto.offset.reset", "none")) {
      c.assign(List.of(tp));
      c.seek(tp, 2);
      String got;
      try {
        got = first(c);
      } catch (RuntimeException e) {
        got = thrown(e);
      }
      same("a fetch below the start offset with auto.offset.reset=none", got);
    }
    try (var c = ProducerChecks.reader(bootstrap, "auto.offset.reset", "earliest")) {
      c.assign(List.of(tp));
      c.seek(tp, 2);
      expect("a fetch below the start offset with auto.offset.reset=earliest", first(c), "4 b-4");
    }
    var all = admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(-1))).lowWatermarks().get(tp).get().lowWatermark();
    expect("deleteRecords up to the high watermark", all, 10);
    expect("listOffsets earliest when everything is deleted", listOffset(admin, tp, OffsetSpec.earliest()), 10);
  }

  static String first(org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> c) {
    long deadline = System.currentTimeMillis() + 20_000;
    while (System.currentTimeMillis() < deadline) {
      for (var r : c.poll(Duration.ofMillis(200))) {
        return r.offset() + " " + new String(r.value(), StandardCharsets.UTF_8);
      }
    }
    return "nothing";
  }

  static String groupListing(Admin admin, String group) throws Exception {
    for (ConsumerGroupListing g : admin.listConsumerGroups().all().get()) {
      if (g.groupId().equals(group)) {
        return g.groupId() + " state=" + g.groupState().map(Object::toString).orElse("?")
            + " type=" + g.type().map(Object::toString).orElse("?") + " simple=" + g.isSimpleConsumerGroup();
      }
    }
    return "absent";
  }

  static TreeMap<String, Long> groupOffsets(Admin admin, String group) throws Exception {
    var out = new TreeMap<String, Long>();
    for (var e : admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().entrySet()) {
      out.put(e.getKey().toString(), e.getValue() == null ? -1 : e.getValue().offset());
    }
    return out;
  }

  static void groups(String bootstrap, Admin admin) throws Exception {
    String group = "adm-g";
    var tp = new TopicPartition("adm-a", 1);
    try (var p = ProducerChecks.producer(bootstrap)) {
      for (int i = 0; i < 5; i++) {
        p.send(new ProducerRecord<>("adm-a", 1, null, ProducerChecks.bytes("a-" + i)));
      }
      p.flush();
    }
    try (var c = ProducerChecks.reader(bootstrap, "group.id", group, "group.protocol", "classic", "enable.auto.commit", "false")) {
      c.subscribe(List.of("adm-a"));
      int n = 0;
      long deadline = System.currentTimeMillis() + 30_000;
      while (n < 5 && System.currentTimeMillis() < deadline) {
        n += c.poll(Duration.ofMillis(200)).count();
      }
      expect("group consumed", n, 5);
      c.commitSync();
      var d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
      same("describeConsumerGroups while a member is in", "state=" + d.groupState() + " members=" + d.members().size()
          + " assignor=" + d.partitionAssignor() + " assigned=" + d.members().iterator().next().assignment().topicPartitions().size()
          + " coordinator=" + d.coordinator().id());
      same("listConsumerGroups while a member is in", groupListing(admin, group));
    }
    var d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
    same("describeConsumerGroups when empty", "state=" + d.groupState() + " members=" + d.members().size() + " simple=" + d.isSimpleConsumerGroup());
    same("listConsumerGroups when empty", groupListing(admin, group));
    same("listConsumerGroupOffsets", groupOffsets(admin, group));
    expect("alterConsumerGroupOffsets", attempt(() -> admin.alterConsumerGroupOffsets(group,
        Map.of(tp, new OffsetAndMetadata(3), new TopicPartition("adm-a", 0), new OffsetAndMetadata(0))).all().get()), "ok");
    same("listConsumerGroupOffsets after alter", groupOffsets(admin, group));
    expect("deleteConsumerGroupOffsets", attempt(() -> admin.deleteConsumerGroupOffsets(group, Set.of(tp)).all().get()), "ok");
    same("listConsumerGroupOffsets after deleting one", groupOffsets(admin, group));
    same("describeConsumerGroups of a missing group", attempt(() -> {
      var g = admin.describeConsumerGroups(List.of("no-such-group")).all().get().get("no-such-group");
      if (!g.members().isEmpty()) {
        throw new IllegalStateException("members");
      }
      System.out.println("info missing group described as " + g.groupState());
    }));
    expect("deleteConsumerGroups", attempt(() -> admin.deleteConsumerGroups(List.of(group)).all().get()), "ok");
    expect("listConsumerGroups after delete", groupListing(admin, group), "absent");
    same("listConsumerGroupOffsets after delete", groupOffsets(admin, group));
    same("deleteConsumerGroups of a missing group", attempt(() -> admin.deleteConsumerGroups(List.of("no-such-group")).all().get()));
  }

  static void deleteTopics(Admin admin) throws Exception {
    expect("deleteTopics", attempt(() -> admin.deleteTopics(List.of("adm-a")).all().get()), "ok");
    long deadline = System.currentTimeMillis() + 10_000;
    while (userTopics(admin).contains("adm-a") && System.currentTimeMillis() < deadline) {
      Thread.sleep(100);
    }
    same("listTopics after delete", userTopics(admin));
    same("deleteTopics of a missing topic", attempt(() -> admin.deleteTopics(List.of("adm-a")).all().get()));
  }
}
