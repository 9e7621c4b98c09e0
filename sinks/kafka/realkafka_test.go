package kafka

// Tests against a real Apache Kafka broker (test/services/kafka.sh; .ci/run
// starts it and exports its env file). They skip without KAFKA_BROKERS, and
// fail then under CI.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// realKafka is the env file of test/services/kafka.sh.
type realKafka struct {
	brokers, saslBrokers, caFile       string
	autoBrokers, autoSASLBrokers       string
	autoCAFile, badAdvertised, restart string
	restartBrokers                     string            // the node KAFKA_RESTART_CMD restarts
	users                              map[string]string // SCRAM user → password
}

// needKafka returns the real broker's coordinates, or skips (fails under CI).
func needKafka(t *testing.T) realKafka {
	t.Helper()
	k := realKafka{
		brokers: os.Getenv("KAFKA_BROKERS"), saslBrokers: os.Getenv("KAFKA_SASL_BROKERS"), caFile: os.Getenv("KAFKA_CA_FILE"),
		autoBrokers: os.Getenv("KAFKA_AUTOCREATE_BROKERS"), autoSASLBrokers: os.Getenv("KAFKA_AUTOCREATE_SASL_BROKERS"),
		autoCAFile: os.Getenv("KAFKA_AUTOCREATE_CA_FILE"), badAdvertised: os.Getenv("KAFKA_BAD_ADVERTISED_BROKERS"),
		restart: os.Getenv("KAFKA_RESTART_CMD"), restartBrokers: os.Getenv("KAFKA_RESTART_BROKERS"), users: map[string]string{},
	}
	if k.brokers == "" {
		why := "KAFKA_BROKERS is not set: start a real broker with `eval \"$(bash test/services/kafka.sh start)\"` to run this test"
		if os.Getenv("CI") != "" {
			t.Fatal(why + " (CI is set, so this is a failure)")
		}
		t.Skip(why)
	}
	for _, up := range strings.Fields(os.Getenv("KAFKA_SCRAM_USERS")) {
		u, p, _ := strings.Cut(up, ":")
		k.users[u] = p
	}
	return k
}

// uniqueTopic names a topic no earlier run used (the broker outlives tests).
func uniqueTopic(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano())
}

// createTopic creates a topic as the PLAINTEXT super user.
func createTopic(t *testing.T, brokers, name string, partitions int, configs ...kafkago.ConfigEntry) {
	t.Helper()
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers), Transport: tr, Timeout: 20 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cl.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: name, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs,
	}}})
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	if err := res.Errors[name]; err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	// Wait until every partition's leader serves it: the metadata names a
	// leader a moment before that broker answers as one (a produce then
	// fails with NOT_LEADER_OR_FOLLOWER, which the sink retries).
	offsets := map[string][]kafkago.OffsetRequest{name: {}}
	for p := 0; p < partitions; p++ {
		offsets[name] = append(offsets[name], kafkago.FirstOffsetOf(p))
	}
	for {
		res, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: offsets})
		ready := err == nil && len(res.Topics[name]) == partitions
		if ready {
			for _, p := range res.Topics[name] {
				ready = ready && p.Error == nil
			}
		}
		if ready {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("topic %s not served: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// realConfig is a sink config for the PLAINTEXT listener.
func realConfig(brokers, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = []string{brokers}
	cfg.Topic = topic
	cfg.WriteTimeout = config.Duration(5 * time.Second)
	return cfg
}

// saslConfig is a sink config for a SASL_SSL listener as user.
func (k realKafka) saslConfig(t *testing.T, brokers, caFile, topic, mech, user string) Config {
	t.Helper()
	pw, ok := k.users[user]
	if !ok {
		t.Fatalf("user %s is not in KAFKA_SCRAM_USERS", user)
	}
	cfg := realConfig(brokers, topic)
	cfg.TLS = &config.TLS{CAFile: caFile}
	cfg.SASL = SASL{Mechanism: mech, Username: user, Password: config.Secret(pw)}
	return cfg
}

// readAsAdmin reads a SASL_SSL topic with kafka-go's own SCRAM client (an
// implementation independent of the sink's) as the super user.
func (k realKafka) readAsAdmin(t *testing.T, brokers, caFile, topic string) []readMsg {
	t.Helper()
	mech, err := scram.Mechanism(scram.SHA512, "admin", k.users["admin"])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := (&config.TLS{CAFile: caFile}).Config()
	if err != nil {
		t.Fatal(err)
	}
	return readTopicWith(t, &kafkago.Transport{TLS: tc, SASL: mech}, []string{brokers}, topic)
}

// TestRealKafkaEveryCodec produces with every compression codec to a real
// broker and reads back with a kafka-go client: exactly the records, keyed
// by id in the Java client's murmur2 partition, with the raw value and the
// four headers.
func TestRealKafkaEveryCodec(t *testing.T) {
	k := needKafka(t)
	for _, codec := range Compressions {
		t.Run(codec, func(t *testing.T) {
			topic := uniqueTopic("codec-" + codec + "-")
			createTopic(t, k.brokers, topic, 3)
			cfg := realConfig(k.brokers, topic)
			cfg.Compression = codec
			s := newStarted(t, cfg)
			recs := makeRecords(t, 1200, []string{"t1", "t2", "t3"}, 31)
			writeAll(t, s, recs, 300)
			checkDelivered(t, s, recs, readTopic(t, cfg.Brokers, topic), 3)
		})
	}
}

// TestRealKafkaKeyedOrdering: with key tenant, each tenant's records land in
// one partition in the order they were written, across Writes.
func TestRealKafkaKeyedOrdering(t *testing.T) {
	k := needKafka(t)
	topic := uniqueTopic("ordering-")
	createTopic(t, k.brokers, topic, 3)
	cfg := realConfig(k.brokers, topic)
	cfg.Key = "tenant"
	s := newStarted(t, cfg)
	tenants := []string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"}
	recs := makeRecords(t, 2000, tenants, 32)
	writeAll(t, s, recs, 250)
	want := map[string][]string{}
	for _, r := range recs {
		want[r.Tenant] = append(want[r.Tenant], r.ID)
	}
	got := map[string][]string{}
	part := map[string]int{}
	for _, m := range readTopic(t, cfg.Brokers, topic) { // sorted by partition, offset
		if p, ok := part[m.Key]; ok && p != m.Partition {
			t.Fatalf("tenant %s in partitions %d and %d", m.Key, p, m.Partition)
		}
		part[m.Key] = m.Partition
		got[m.Key] = append(got[m.Key], m.Headers["id"])
	}
	for _, tn := range tenants {
		if strings.Join(got[tn], ",") != strings.Join(want[tn], ",") {
			t.Errorf("tenant %s: %d records read, order differs from the %d written", tn, len(got[tn]), len(want[tn]))
		}
	}
}

// TestRealKafkaSCRAM delivers over SASL_SSL with the sink's own SCRAM
// client: SHA-256 and SHA-512, and a password with characters SASLprep would
// rewrite (NFKC: the ligature "ﬁ" becomes "fi", the numeral "Ⅸ" "IX") — Kafka stores and
// checks the password bytes as given, so the sink must send them as-is.
func TestRealKafkaSCRAM(t *testing.T) {
	k := needKafka(t)
	topic := uniqueTopic("sasl-scram-")
	createTopic(t, k.brokers, topic, 2)
	var all []*pipeline.Record
	for i, c := range []struct{ mech, user string }{
		{"scram-sha-256", "writer"}, {"scram-sha-512", "writer"}, {"scram-sha-256", "unicode"},
	} {
		t.Run(c.mech+"-"+c.user, func(t *testing.T) {
			s := newStarted(t, k.saslConfig(t, k.saslBrokers, k.caFile, topic, c.mech, c.user))
			recs := makeRecords(t, 300, []string{"t1"}, uint64(40+i))
			writeAll(t, s, recs, 150)
			all = append(all, recs...)
		})
	}
	s, _ := New("bus", k.saslConfig(t, k.saslBrokers, k.caFile, topic, "scram-sha-512", "writer"), testLogger(t))
	checkDelivered(t, s, all, k.readAsAdmin(t, k.saslBrokers, k.caFile, topic), 2)

	// A wrong password fails at Start, naming the user, never the password.
	cfg := k.saslConfig(t, k.saslBrokers, k.caFile, topic, "scram-sha-512", "writer")
	cfg.SASL.Password = "not-the-password"
	err := startErr(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "SASL authentication failed — check sasl.username and sasl.password (scram-sha-512 as writer)") ||
		strings.Contains(err.Error(), "not-the-password") || !pipeline.IsAuthFailure(err) {
		t.Fatalf("Start with a wrong password: %v (want an authentication failure)", err)
	}
	// The unicode user's password normalized (as SASLprep would) fails.
	cfg = k.saslConfig(t, k.saslBrokers, k.caFile, topic, "scram-sha-256", "unicode")
	cfg.SASL.Password = config.Secret(strings.NewReplacer("ﬁ", "fi", "Ⅸ", "IX").Replace(string(cfg.SASL.Password)))
	if cfg.SASL.Password == config.Secret(k.users["unicode"]) {
		t.Fatalf("the unicode user's password %q has nothing SASLprep changes", k.users["unicode"])
	}
	if err := startErr(t, cfg); err == nil {
		t.Fatal("Start with the SASLprep-normalized password succeeded: the broker does no SASLprep, so the test's premise is wrong")
	}
}

// TestRealKafkaNoWrite: a principal that may describe but not write the
// topic fails at Start (from the topic's authorized operations, Metadata
// v8), and a Write without Start is refused for good, every record.
func TestRealKafkaNoWrite(t *testing.T) {
	k := needKafka(t)
	topic := uniqueTopic("sasl-nowrite-")
	createTopic(t, k.brokers, topic, 1)
	cfg := k.saslConfig(t, k.saslBrokers, k.caFile, topic, "scram-sha-512", "nowrite")
	err := startErr(t, cfg)
	if want := fmt.Sprintf("not authorized to write to topic %q — grant the sink's principal WRITE", topic); err == nil || !strings.Contains(err.Error(), want) || !pipeline.IsAuthFailure(err) {
		t.Fatalf("Start: %v, want %q", err, want)
	}
	s, err := New("bus", cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := makeRecords(t, 20, []string{"t1"}, 50)
	be := asBatchError(t, s.Write(context.Background(), recs))
	if len(be.Items) != len(recs) {
		t.Fatalf("%d of %d records failed", len(be.Items), len(recs))
	}
	for _, it := range be.Items {
		if !pipeline.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "grant the sink's principal WRITE and DESCRIBE") {
			t.Fatalf("record %d: %v, want a permanent authorization error", it.Index, it.Err)
		}
	}
	// A topic outside its ACLs: not even DESCRIBE.
	if err := startErr(t, k.saslConfig(t, k.saslBrokers, k.caFile, uniqueTopic("other-"), "scram-sha-512", "nowrite")); err == nil ||
		!strings.Contains(err.Error(), "not authorized to write to topic") {
		t.Fatalf("Start on a topic outside the ACLs: %v", err)
	}
}

// TestRealKafkaNoCreate: on brokers that auto-create topics, a principal
// with WRITE and DESCRIBE but no CREATE gets TOPIC_AUTHORIZATION_FAILED for a
// topic that does not exist yet: Start and Write say CREATE is missing; the
// principal with CREATE gets the topic created and its records delivered.
func TestRealKafkaNoCreate(t *testing.T) {
	k := needKafka(t)
	if k.autoSASLBrokers == "" {
		t.Fatal("KAFKA_AUTOCREATE_SASL_BROKERS is not set: kafka.sh starts that node too")
	}
	topic := uniqueTopic("sasl-nocreate-")
	cfg := k.saslConfig(t, k.autoSASLBrokers, k.autoCAFile, topic, "scram-sha-512", "nocreate")
	want := fmt.Sprintf("topic %q does not exist and the sink's principal may not create it — grant it CREATE", topic)
	if err := startErr(t, cfg); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Start: %v, want %q", err, want)
	}
	cfg.Topic = "sasl-nocreate-${tenant}"
	s := newStarted(t, cfg) // templated: brokers only
	recs := makeRecords(t, 10, []string{fmt.Sprint(time.Now().UnixNano())}, 51)
	be := asBatchError(t, s.Write(context.Background(), recs))
	for _, it := range be.Items {
		if !pipeline.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "may not create it — grant it CREATE") {
			t.Fatalf("record %d: %v, want a permanent missing-CREATE error", it.Index, it.Err)
		}
	}
	if len(be.Items) != len(recs) {
		t.Fatalf("%d of %d records failed", len(be.Items), len(recs))
	}

	// With CREATE the broker creates the topic at Start.
	cfg = k.saslConfig(t, k.autoSASLBrokers, k.autoCAFile, uniqueTopic("sasl-created-"), "scram-sha-256", "writer")
	s = newStarted(t, cfg)
	recs = makeRecords(t, 200, []string{"t1"}, 52)
	writeAll(t, s, recs, 100)
	checkDelivered(t, s, recs, k.readAsAdmin(t, k.autoSASLBrokers, k.autoCAFile, cfg.Topic), 3)
}

// TestRealKafkaMissingTopicTimeout: auto-creation off, templated topics. A
// tenant whose topic does not exist is retried, its records failing alone
// (the other tenant's are delivered), until topic_missing_timeout: then they
// are permanent failures (dead-lettered) whose reason names the fix. Once
// the topic exists, it is written again.
func TestRealKafkaMissingTopicTimeout(t *testing.T) {
	k := needKafka(t)
	base := uniqueTopic("missing-")
	createTopic(t, k.brokers, base+"-tenant-a", 2)
	cfg := realConfig(k.brokers, base+"-${tenant}")
	cfg.TopicMissingTimeout = config.Duration(1500 * time.Millisecond)
	s := newStarted(t, cfg)
	missing := base + "-tenant-b"

	write := func(recs []*pipeline.Record) (delivered, failed []*pipeline.Record, errs []error) {
		err := s.Write(context.Background(), recs)
		bad := map[int]error{}
		var be *pipeline.BatchError
		switch {
		case err == nil:
		case errors.As(err, &be):
			for _, it := range be.Items {
				bad[it.Index] = it.Err
			}
		default: // the whole batch failed alike
			for i := range recs {
				bad[i] = err
			}
		}
		for i, r := range recs {
			if e, ok := bad[i]; ok {
				failed, errs = append(failed, r), append(errs, e)
				if r.Tenant != "tenant-b" {
					t.Fatalf("record of %s failed: %v", r.Tenant, e)
				}
			} else {
				delivered = append(delivered, r)
				if r.Tenant == "tenant-b" {
					t.Fatalf("record of tenant-b delivered to a missing topic")
				}
			}
		}
		return
	}
	recs := makeRecords(t, 100, []string{"tenant-a", "tenant-b"}, 60)
	delivered, failed, errs := write(recs)
	for _, e := range errs {
		if pipeline.IsPermanent(e) || !strings.Contains(e.Error(), "create topic "+missing+" or enable auto-create") {
			t.Fatalf("before the timeout: %v, want a retriable missing-topic error with the fix", e)
		}
	}
	time.Sleep(1600 * time.Millisecond)
	_, failed, errs = write(failed)
	if len(errs) != 50 {
		t.Fatalf("%d failures after the timeout, want 50", len(errs))
	}
	for _, e := range errs {
		if !pipeline.IsPermanent(e) || !strings.Contains(e.Error(), "create topic "+missing+" or enable auto-create") {
			t.Fatalf("after the timeout: %v, want a permanent error naming the fix", e)
		}
	}
	t.Logf("dead-letter reason: %v", errs[0])

	// The operator creates the topic; the replayed records go through.
	createTopic(t, k.brokers, missing, 2)
	if err := s.Write(context.Background(), failed); err != nil {
		t.Fatalf("Write after the topic was created: %v", err)
	}
	checkDelivered(t, s, delivered, readTopic(t, cfg.Brokers, base+"-tenant-a"), 2)
	checkDelivered(t, s, failed, readTopic(t, cfg.Brokers, missing), 2)
	if got := strings.Join(s.tr.MetadataTopics, ","); got != base+"-tenant-a,"+missing {
		t.Errorf("MetadataTopics = %s, want only the sink's two topics", got)
	}
}

// TestRealKafkaTopicCreatedLater: a topic created after the sink started
// (and after the metadata cache was filled) is written at once: the cache
// follows the sink's topics (MetadataTopics) and learns new ones.
func TestRealKafkaTopicCreatedLater(t *testing.T) {
	k := needKafka(t)
	base := uniqueTopic("later-")
	createTopic(t, k.brokers, base+"-t1", 1)
	cfg := realConfig(k.brokers, base+"-${tenant}")
	s := newStarted(t, cfg)
	r1 := makeRecords(t, 10, []string{"t1"}, 61)
	writeAll(t, s, r1, 10)
	createTopic(t, k.brokers, base+"-t2", 1)
	r2 := makeRecords(t, 10, []string{"t2"}, 62)
	start := time.Now()
	writeAll(t, s, r2, 10)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("first Write to the new topic took %s", d)
	}
	checkDelivered(t, s, r2, readTopic(t, cfg.Brokers, base+"-t2"), 1)
}

// TestRealKafkaTooLarge: a record over the topic's max.message.bytes (but
// under batch_bytes) is refused by the broker alone and dead-lettered; the
// rest of its batch is split off and delivered.
func TestRealKafkaTooLarge(t *testing.T) {
	k := needKafka(t)
	topic := uniqueTopic("large-")
	createTopic(t, k.brokers, topic, 1, kafkago.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: "65536"})
	cfg := realConfig(k.brokers, topic)
	cfg.Compression = "none"
	s := newStarted(t, cfg)
	recs := makeRecords(t, 40, []string{"t1"}, 63)
	recs[17] = bigRecord(t, "huge-17", 200<<10)
	be := asBatchError(t, s.Write(context.Background(), recs))
	if len(be.Items) != 1 || be.Items[0].Index != 17 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "larger than the broker accepts") {
		t.Fatalf("failures %v, want only record 17, permanent, too large", be.Items)
	}
	t.Logf("record 17: %v", be.Items[0].Err)
	checkDelivered(t, s, append(recs[:17:17], recs[18:]...), readTopic(t, cfg.Brokers, topic), 1)
}

// TestRealKafkaWrongAdvertisedListener: the bootstrap listener answers but
// advertises an address nobody listens on; Start says so instead of passing
// and failing every write.
func TestRealKafkaWrongAdvertisedListener(t *testing.T) {
	k := needKafka(t)
	if k.badAdvertised == "" {
		t.Fatal("KAFKA_BAD_ADVERTISED_BROKERS is not set: kafka.sh opens that listener")
	}
	topic := uniqueTopic("adv-")
	createTopic(t, k.brokers, topic, 1)
	err := startErr(t, realConfig(k.badAdvertised, topic))
	if err == nil || !strings.Contains(err.Error(), "fix advertised.listeners on the brokers") {
		t.Fatalf("Start: %v, want the advertised.listeners fix", err)
	}
	t.Logf("Start: %v", err)
}

// TestRealKafkaRestartMidBatch restarts a broker (kafka.sh restart: the
// second node, same data and ports) while Writes are in flight. Every record not acknowledged
// is reported retriable, and writing those again after the restart delivers
// them: none lost.
func TestRealKafkaRestartMidBatch(t *testing.T) {
	k := needKafka(t)
	if k.restart == "" || k.restartBrokers == "" {
		t.Fatal("KAFKA_RESTART_CMD or KAFKA_RESTART_BROKERS is not set: kafka.sh writes them")
	}
	topic := uniqueTopic("restart-")
	createTopic(t, k.restartBrokers, topic, 3)
	cfg := realConfig(k.restartBrokers, topic)
	cfg.WriteTimeout = config.Duration(2 * time.Second)
	s := newStarted(t, cfg)
	recs := makeRecords(t, 6000, []string{"tenant-a", "tenant-b"}, 64)
	const batch = 200
	var restarted atomic.Bool
	done := make(chan error, 1)
	var pending []*pipeline.Record
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	failedWrites := 0
	launched := false
	for next := 0; next < len(recs); next += batch {
		if next == 1000 && !launched {
			launched = true
			go func() {
				out, err := exec.Command("bash", "-c", k.restart).CombinedOutput()
				if err != nil {
					err = fmt.Errorf("%v: %s", err, out)
				}
				restarted.Store(true)
				done <- err
			}()
		}
		b := recs[next:min(next+batch, len(recs))]
		if left := failedOf(t, b, s.Write(ctx, b)); len(left) > 0 {
			pending = append(pending, left...)
			failedWrites++
		}
		if next >= 1000 && !restarted.Load() && failedWrites == 0 {
			time.Sleep(20 * time.Millisecond) // keep writing through the restart
			next -= batch                     // (the same batch again: a duplicate, as a retry is)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("restart: %v", err)
	}
	if failedWrites == 0 {
		t.Fatal("no Write failed although the broker restarted")
	}
	t.Logf("%d records not acknowledged across the restart (%d failed Writes)", len(pending), failedWrites)
	// The pipeline's retry, bounded here by the test's deadline.
	var lastErr error
	for attempt := 1; len(pending) > 0; attempt++ {
		if ctx.Err() != nil {
			t.Fatalf("%d records still undelivered after %d attempts: %v", len(pending), attempt-1, lastErr)
		}
		var left []*pipeline.Record
		for i := 0; i < len(pending); i += batch {
			b := pending[i:min(i+batch, len(pending))]
			err := s.Write(ctx, b)
			if err != nil {
				lastErr = err
			}
			left = append(left, failedOf(t, b, err)...)
		}
		if pending = left; len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	byID := recsByID(recs)
	count := map[string]int{}
	for _, m := range readTopic(t, cfg.Brokers, topic) {
		if byID[m.Key] == nil {
			t.Fatalf("unknown key %q", m.Key)
		}
		count[m.Key]++
	}
	if len(count) != len(recs) {
		t.Fatalf("%d distinct records in the topic, want %d: records lost", len(count), len(recs))
	}
}
