// Checks of current Go Kafka clients against a broker: franz-go (kgo: produce with
// every codec, consume, a consumer group through a member leaving; kadm: admin) and
// IBM/sarama (produce with every codec, a consumer group). pagecast's tests run them
// against the real Kafka and against pagecast with the same arguments.
//
// Usage: checks franz|sarama BOOTSTRAP. As the Java checks: every observation is a line
// "same NAME: VALUE" that must be the same on every broker, "fail NAME: WHY" is an
// expectation that did not hold, "info ..." is for people. Topics and groups are named
// by the check, so every run needs a fresh broker with topic auto-creation off.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var failures int

func same(name string, value any) { fmt.Printf("same %s: %v\n", name, value) }

func fail(name string, why any) {
	failures++
	fmt.Printf("fail %s: %v\n", name, why)
}

func info(format string, args ...any) { fmt.Printf("info "+format+"\n", args...) }

func expect(name string, got, want any) {
	same(name, got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		fail(name, fmt.Sprintf("got %v, want %v", got, want))
	}
}

// errName is the error's text as a client reports it, or "ok".
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

const records = 200

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: checks franz|sarama BOOTSTRAP")
		os.Exit(2)
	}
	bootstrap := os.Args[2]
	switch os.Args[1] {
	case "franz":
		franz(bootstrap)
	case "sarama":
		saramaChecks(bootstrap)
	default:
		fmt.Fprintln(os.Stderr, "unknown check", os.Args[1])
		os.Exit(2)
	}
	info("done, %d failures", failures)
	if failures > 0 {
		os.Exit(1)
	}
}

var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func franzCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

func must(name string, err error) {
	if err != nil {
		fail(name, err)
		info("done, %d failures", failures)
		os.Exit(1)
	}
}

// readAll reads every record of the topic's partitions from the start, by assignment.
func readAll(bootstrap, topic string, partitions int32, want int) []*kgo.Record {
	offsets := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	must("client", err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				fail("fetch "+topic, err)
			}
		})
		out = append(out, fs.Records()...)
	}
	return out
}

func franz(bootstrap string) {
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	must("client", err)
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// kadm: topics.
	var names []string
	for _, c := range codecs {
		names = append(names, "fz-"+c)
	}
	created, err := adm.CreateTopics(ctx, 3, 1, nil, names...)
	must("create topics", err)
	for _, name := range names {
		expect("create "+name, errName(created[name].Err), "ok")
	}
	one, _ := adm.CreateTopics(ctx, 2, 1, map[string]*string{"retention.ms": kadm.StringPtr("3600000")}, "fz-admin")
	expect("create fz-admin with a config", errName(one["fz-admin"].Err), "ok")
	// Kafka's metadata follows its controller a moment later.
	waitFor("fz-admin in metadata", func() bool {
		d, err := adm.ListTopics(ctx, "fz-admin")
		return err == nil && len(d["fz-admin"].Partitions) == 2
	})
	again, _ := adm.CreateTopics(ctx, 1, 1, nil, "fz-admin")
	same("create an existing topic", errName(again["fz-admin"].Err))
	details, err := adm.ListTopics(ctx)
	must("list topics", err)
	same("topics", strings.Join(details.Names(), ","))
	d := details["fz-admin"]
	same("fz-admin described", fmt.Sprintf("partitions=%d internal=%v id-set=%v", len(d.Partitions), d.IsInternal, d.ID != [16]byte{}))
	grown, err := adm.CreatePartitions(ctx, 2, "fz-admin")
	must("create partitions", err)
	expect("create 2 more partitions", errName(grown["fz-admin"].Err), "ok")
	waitFor("4 partitions in metadata", func() bool {
		d, err := adm.ListTopics(ctx, "fz-admin")
		return err == nil && len(d["fz-admin"].Partitions) == 4
	})
	details, _ = adm.ListTopics(ctx, "fz-admin")
	expect("partitions after growing", len(details["fz-admin"].Partitions), 4)
	cfgs, err := adm.DescribeTopicConfigs(ctx, "fz-admin")
	must("describe configs", err)
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" || c.Key == "cleanup.policy" {
				same("config "+c.Key, fmt.Sprintf("%s (%s)", c.MaybeValue(), c.Source))
			}
		}
	}
	altered, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("7200000")}}, "fz-admin")
	must("alter configs", err)
	for _, a := range altered {
		expect("alter retention.ms", errName(a.Err), "ok")
	}
	cfgs, _ = adm.DescribeTopicConfigs(ctx, "fz-admin")
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key == "retention.ms" {
				expect("retention.ms after alter", c.MaybeValue(), "7200000")
			}
		}
	}

	// kgo: produce with every codec, keys and headers, then read back.
	for _, c := range codecs {
		topic := "fz-" + c
		pcl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ProducerBatchCompression(franzCodec(c)), kgo.ProducerLinger(5*time.Millisecond))
		must("producer", err)
		var rs []*kgo.Record
		for i := 0; i < records; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%13)), Value: []byte(fmt.Sprintf("%s-%d", c, i)),
				Headers: []kgo.RecordHeader{{Key: "seq", Value: []byte(fmt.Sprint(i))}}})
		}
		results := pcl.ProduceSync(ctx, rs...)
		expect(topic+" produced", errName(results.FirstErr()), "ok")
		perPartition := map[int32]int{}
		for _, r := range results {
			if r.Err == nil {
				perPartition[r.Record.Partition]++
			}
		}
		same(topic+" records per partition", perPartition)
		pcl.Close()
		got := readAll(bootstrap, topic, 3, records)
		matching := 0
		for _, r := range got {
			if len(r.Headers) == 1 && string(r.Value) == fmt.Sprintf("%s-%s", c, r.Headers[0].Value) {
				matching++
			}
		}
		expect(topic+" read back with headers", fmt.Sprintf("%d of %d", matching, len(got)), fmt.Sprintf("%d of %d", records, records))
	}

	// kgo: a consumer group of two members over 4 partitions, one leaving.
	group := "fz-g"
	topic := "fz-group"
	_, err = adm.CreateTopics(ctx, 4, 1, nil, topic)
	must("create group topic", err)
	waitFor("fz-group in metadata", func() bool {
		d, err := adm.ListTopics(ctx, topic)
		return err == nil && len(d[topic].Partitions) == 4
	})
	var rs []*kgo.Record
	for i := 0; i < 400; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: []byte(fmt.Sprint(i))})
	}
	pcl, _ := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	expect("group topic produced", errName(pcl.ProduceSync(ctx, rs...).FirstErr()), "ok")
	pcl.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	member := func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		m, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.OnPartitionsRevoked(func(ctx context.Context, c *kgo.Client, _ map[string][]int32) {
				if err := c.CommitUncommittedOffsets(ctx); err != nil {
					fail("commit in onRevoked", err)
				}
			}))
		must("member", err)
		defer m.Close()
		for {
			select {
			case <-stop:
				if err := m.CommitUncommittedOffsets(ctx); err != nil {
					fail("commit at close", err)
				}
				m.LeaveGroup()
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := m.PollRecords(pctx, 10)
			cancel()
			mu.Lock()
			for _, r := range fs.Records() {
				seen[fmt.Sprintf("%d@%d", r.Partition, r.Offset)] = true
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	stopA, doneA := make(chan struct{}), make(chan struct{})
	stopB, doneB := make(chan struct{}), make(chan struct{})
	go member(stopA, doneA)
	waitFor("first member consumes", func() bool { return count() >= 40 })
	go member(stopB, doneB)
	time.Sleep(3 * time.Second)
	close(stopB)
	<-doneB
	waitFor("every record consumed", func() bool { return count() == 400 })
	close(stopA)
	<-doneA
	expect("group consumed", count(), 400)
	offsets, err := adm.FetchOffsets(ctx, group)
	must("fetch offsets", err)
	var committed []string
	offsets.Each(func(o kadm.OffsetResponse) { committed = append(committed, fmt.Sprintf("%d=%d", o.Partition, o.At)) })
	sort.Strings(committed)
	expect("group committed", strings.Join(committed, ","), "0=100,1=100,2=100,3=100")
	groups, err := adm.ListGroups(ctx)
	must("list groups", err)
	same("listed group", fmt.Sprintf("%v %s", groups.Groups()[0] == group, groups[group].State))
	described, err := adm.DescribeGroups(ctx, group)
	must("describe groups", err)
	same("described group", fmt.Sprintf("%s members=%d protocol-type=%s", described[group].State, len(described[group].Members), described[group].ProtocolType))

	// kadm: offsets and DeleteRecords.
	listed, err := adm.ListEndOffsets(ctx, topic)
	must("list end offsets", err)
	var ends []string
	listed.Each(func(o kadm.ListedOffset) { ends = append(ends, fmt.Sprintf("%d=%d", o.Partition, o.Offset)) })
	sort.Strings(ends)
	expect("end offsets", strings.Join(ends, ","), "0=100,1=100,2=100,3=100")
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: topic, Partition: 0, At: 30})
	deleted, err := adm.DeleteRecords(ctx, del)
	must("delete records", err)
	deleted.Each(func(d kadm.DeleteRecordsResponse) { expect("delete records low watermark", d.LowWatermark, 30) })
	starts, _ := adm.ListStartOffsets(ctx, topic)
	starts.Each(func(o kadm.ListedOffset) {
		if o.Partition == 0 {
			expect("start offset after delete records", o.Offset, 30)
		}
	})

	dg, err := adm.DeleteGroups(ctx, group)
	must("delete groups", err)
	expect("delete group", errName(dg[group].Err), "ok")
	dt, err := adm.DeleteTopics(ctx, "fz-admin")
	must("delete topics", err)
	expect("delete topic", errName(dt["fz-admin"].Err), "ok")
}

func waitFor(what string, cond func() bool) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	fail(what, "not within 60 s")
}

func saramaCodec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	return sarama.CompressionNone
}

type handler struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[fmt.Sprintf("%d@%d", m.Partition, m.Offset)] = true
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func saramaChecks(bootstrap string) {
	if os.Getenv("SARAMA_LOG") != "" {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags)
	}
	base := sarama.NewConfig()
	base.Version = sarama.V3_6_0_0
	base.ClientID = "pagecast-checks"
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, base)
	must("cluster admin", err)
	defer admin.Close()
	for _, c := range append(codecs, "group") {
		must("create topic", admin.CreateTopic("sr-"+c, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false))
	}
	for _, c := range codecs {
		cfg := sarama.NewConfig()
		cfg.Version = base.Version
		cfg.Producer.Return.Successes = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Compression = saramaCodec(c)
		cfg.Producer.Flush.Frequency = 5 * time.Millisecond
		p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
		must("producer", err)
		var msgs []*sarama.ProducerMessage
		for i := 0; i < records; i++ {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: "sr-" + c, Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i%11)),
				Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", c, i))})
		}
		expect("sr-"+c+" produced", errName(p.SendMessages(msgs)), "ok")
		perPartition := map[int32]int{}
		for _, m := range msgs {
			perPartition[m.Partition]++
		}
		same("sr-"+c+" records per partition", perPartition)
		p.Close()
		got := readAll(bootstrap, "sr-"+c, 2, records)
		matching := 0
		for _, r := range got {
			if strings.HasPrefix(string(r.Value), c+"-") {
				matching++
			}
		}
		expect("sr-"+c+" read back", fmt.Sprintf("%d of %d", matching, len(got)), fmt.Sprintf("%d of %d", records, records))
	}

	// A consumer group: every record consumed and committed.
	cfg := sarama.NewConfig()
	cfg.Version = base.Version
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	must("producer", err)
	var msgs []*sarama.ProducerMessage
	for i := 0; i < records; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "sr-group", Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	expect("sr-group produced", errName(p.SendMessages(msgs)), "ok")
	p.Close()
	gcfg := sarama.NewConfig()
	gcfg.Version = base.Version
	gcfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	gcfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	g, err := sarama.NewConsumerGroup([]string{bootstrap}, "sr-g", gcfg)
	must("consumer group", err)
	h := &handler{seen: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{"sr-group"}, h); err != nil && ctx.Err() == nil {
				fail("consume", err)
				return
			}
		}
	}()
	waitFor("sarama group consumes everything", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.seen) == records })
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	must("close group", g.Close())
	expect("sarama group consumed", len(h.seen), records)
	res, err := admin.ListConsumerGroupOffsets("sr-g", map[string][]int32{"sr-group": {0, 1}})
	must("list group offsets", err)
	total := int64(0)
	for _, b := range res.Blocks["sr-group"] {
		total += b.Offset
	}
	expect("sarama group committed", total, records)
}
