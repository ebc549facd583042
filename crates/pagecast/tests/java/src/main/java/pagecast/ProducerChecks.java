package pagecast;

import static pagecast.Checks.expect;
import static pagecast.Checks.fail;
import static pagecast.Checks.props;
import static pagecast.Checks.same;
import static pagecast.Checks.thrown;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.Future;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** KafkaProducer with its defaults (idempotent, acks=all): every codec, keys, headers, a
 * 900 KB record, and a send to a topic that does not exist. */
final class ProducerChecks {
  private ProducerChecks() {}

  static final String[] CODECS = {"none", "gzip", "snappy", "lz4", "zstd"};
  static final int RECORDS = 300;

  static KafkaProducer<byte[], byte[]> producer(String bootstrap, String... kv) {
    var p = props(bootstrap, kv);
    p.put("key.serializer", ByteArraySerializer.class.getName());
    p.put("value.serializer", ByteArraySerializer.class.getName());
    return new KafkaProducer<>(p);
  }

  static KafkaConsumer<byte[], byte[]> reader(String bootstrap, String... kv) {
    var p = props(bootstrap, kv);
    p.put("key.deserializer", ByteArrayDeserializer.class.getName());
    p.put("value.deserializer", ByteArrayDeserializer.class.getName());
    p.putIfAbsent("auto.offset.reset", "earliest");
    return new KafkaConsumer<>(p);
  }

  /** Every record of the topic's partitions, read from the start by assignment. */
  static List<ConsumerRecord<byte[], byte[]>> readAll(
      String bootstrap, String topic, int partitions, int want) {
    var out = new ArrayList<ConsumerRecord<byte[], byte[]>>();
    try (var c = reader(bootstrap, "fetch.max.bytes", "2000000")) {
      var tps = new ArrayList<TopicPartition>();
      for (int p = 0; p < partitions; p++) {
        tps.add(new TopicPartition(topic, p));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      long deadline = System.currentTimeMillis() + 30_000;
      while (out.size() < want && System.currentTimeMillis() < deadline) {
        for (var r : c.poll(Duration.ofMillis(200))) {
          out.add(r);
        }
      }
    }
    return out;
  }

  static void run(String bootstrap) throws Exception {
    try (var admin = Admin.create(props(bootstrap))) {
      var topics = new ArrayList<NewTopic>();
      for (var codec : CODECS) {
        topics.add(new NewTopic("codec-" + codec, 3, (short) 1));
      }
      topics.add(new NewTopic("big", 1, (short) 1));
      admin.createTopics(topics).all().get();
    }
    for (var codec : CODECS) {
      codec(bootstrap, codec);
    }
    big(bootstrap);
    missing(bootstrap);
  }

  static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static void codec(String bootstrap, String codec) throws Exception {
    String topic = "codec-" + codec;
    var sent = new HashMap<String, String>();
    var partitions = new TreeMap<Integer, Integer>();
    var offsets = new TreeMap<Integer, List<Long>>();
    try (var p = producer(bootstrap, "compression.type", codec, "linger.ms", "20")) {
      var futures = new ArrayList<Future<RecordMetadata>>();
      for (int i = 0; i < RECORDS; i++) {
        var r = new ProducerRecord<>(topic, bytes("key-" + (i % 17)), bytes(codec + "-value-" + i));
        r.headers().add("seq", ByteBuffer.allocate(4).putInt(i).array());
        r.headers().add("codec", bytes(codec));
        futures.add(p.send(r));
      }
      for (int i = 0; i < RECORDS; i++) {
        var m = futures.get(i).get();
        partitions.merge(m.partition(), 1, Integer::sum);
        offsets.computeIfAbsent(m.partition(), k -> new ArrayList<>()).add(m.offset());
        sent.put(m.partition() + "@" + m.offset(), codec + "-value-" + i);
      }
    }
    // The default partitioner hashes keys with murmur2: the spread is the client's, and
    // must match on every broker.
    same(topic + " records per partition", partitions);
    boolean contiguous = true;
    for (var e : offsets.entrySet()) {
      var list = e.getValue();
      for (int j = 0; j < list.size(); j++) {
        contiguous &= list.get(j) == j;
      }
    }
    expect(topic + " offsets from 0 in send order", contiguous, true);
    var got = readAll(bootstrap, topic, 3, RECORDS);
    int matching = 0;
    for (var r : got) {
      var value = new String(r.value(), StandardCharsets.UTF_8);
      int seq = ByteBuffer.wrap(r.headers().lastHeader("seq").value()).getInt();
      Header c = r.headers().lastHeader("codec");
      boolean ok =
          value.equals(sent.get(r.partition() + "@" + r.offset()))
              && value.equals(codec + "-value-" + seq)
              && Arrays.equals(r.key(), bytes("key-" + (seq % 17)))
              && c != null
              && codec.equals(new String(c.value(), StandardCharsets.UTF_8));
      if (ok) {
        matching++;
      }
    }
    expect(topic + " records read back with key, value and headers", matching + " of " + got.size(), RECORDS + " of " + RECORDS);
  }

  static void big(String bootstrap) throws Exception {
    var value = new byte[900_000];
    new Random(7).nextBytes(value);
    RecordMetadata m;
    try (var p = producer(bootstrap)) {
      m = p.send(new ProducerRecord<>("big", bytes("big"), value)).get();
    }
    same("900 KB record's offset", m.offset());
    var got = readAll(bootstrap, "big", 1, 1);
    expect("900 KB record read back", got.size() == 1 && Arrays.equals(got.get(0).value(), value), true);
  }

  static void missing(String bootstrap) {
    try (var p = producer(bootstrap, "max.block.ms", "3000")) {
      try {
        p.send(new ProducerRecord<>("no-such-topic", bytes("v"))).get();
        fail("send to a missing topic", "succeeded");
      } catch (Exception e) {
        // With auto-creation off the topic never appears in metadata.
        same("send to a missing topic throws", thrown(e));
      }
    }
  }
}
