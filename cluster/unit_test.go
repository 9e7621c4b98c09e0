package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestPartitionOfIsFNV1a pins the tenant → partition map to FNV-1a 32 of
// the lower-cased id (values from an independent Python implementation):
// every member, and every version, must agree on it.
func TestPartitionOfIsFNV1a(t *testing.T) {
	for _, c := range []struct {
		tenant string
		n, p   int
	}{
		{"3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", 64, 26},
		{"3F8A2C71-5D1E-4B9A-8C07-6E2F19D4A5B8", 64, 26},
		{"11111111-2222-3333-4444-555555555555", 64, 25},
		{"11111111-2222-3333-4444-555555555555", 16, 9},
		{"ABC", 16, 11},
	} {
		if got := PartitionOf(c.tenant, c.n); got != c.p {
			t.Errorf("PartitionOf(%s, %d) = %d, want %d", c.tenant, c.n, got, c.p)
		}
	}
}

func parse(t *testing.T, y string) (*Config, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(y), &doc); err != nil {
		t.Fatal(err)
	}
	return Parse(&config.Section{Node: doc.Content[0], Line: doc.Content[0].Line})
}

func TestParseDefaultsAndErrors(t *testing.T) {
	c, err := parse(t, "brokers: [k1:9092]\ngroup: sophos-connect-prod\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Partitions != 64 || c.SessionTimeout.D() != 30*time.Second || c.HeartbeatInterval.D() != 3*time.Second ||
		c.RebalanceTimeout.D() != 30*time.Second || c.ReplicationFactor != -1 ||
		c.CoordinationTopic != "sophos-connect-prod-coordination" || c.CheckpointTopic != "sophos-connect-prod-checkpoints" {
		t.Errorf("defaults: %+v", c)
	}
	if c.DrainTimeout() != 15*time.Second {
		t.Errorf("drain timeout %s, want 15s (half the rebalance timeout)", c.DrainTimeout())
	}
	if d := c.Describe(); !strings.Contains(d, "64 partitions") || !strings.Contains(d, "sasl off") {
		t.Errorf("Describe: %s", d)
	}

	for _, bad := range []struct{ y, want string }{
		{"group: g\n", "cluster.brokers: missing"},
		{"brokers: [k1]\ngroup: g\n", `cluster.brokers[0]: "k1" is not host:port`},
		{"brokers: [k1:9092]\n", "cluster.group: missing"},
		{"brokers: [k1:9092]\ngroup: 'a b'\n", `cluster.group: "a b": use letters`},
		{"brokers: [k1:9092]\ngroup: g\npartitions: 0\n", "cluster.partitions: 0: must be between 1 and 10000"},
		{"brokers: [k1:9092]\ngroup: g\nsession_timeout: 5s\n", "cluster.session_timeout: 5s: must be at least three heartbeat_intervals"},
		{"brokers: [k1:9092]\ngroup: g\ncheckpoint_topic: x\ncoordination_topic: x\n", "must differ"},
		{"brokers: [k1:9092]\ngroup: g\nsasl: {mechanism: scram-sha-512, username: u}\n", "3: cluster.sasl.password: missing"},
		{"group: g\nbrokers:\n  - k1:9092\n  - k2\n", `4: cluster.brokers[1]: "k2" is not host:port`},
		{"brokers: [k1:9092]\ngroup: g\nparitions: 3\n", "unknown key"},
	} {
		_, err := parse(t, bad.y)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: got %v, want %q", bad.y, err, bad.want)
		}
	}
	if c, err := Parse(nil); c != nil || err != nil {
		t.Errorf("no cluster block: %v %v", c, err)
	}
}

// fakeSource lists whatever tenants it is told to.
type fakeSource struct{ tenants []string }

func (f *fakeSource) Partitions(context.Context) ([]pipeline.Partition, error) {
	var out []pipeline.Partition
	for _, tn := range f.tenants {
		out = append(out, pipeline.Partition{Tenant: tn, Stream: pipeline.Alerts}, pipeline.Partition{Tenant: tn, Stream: pipeline.Events})
	}
	return out, nil
}
func (f *fakeSource) Fetch(context.Context, pipeline.Partition, pipeline.Position) (*pipeline.Page, error) {
	return nil, errors.New("not used")
}

// TestOwnedSourceNewTenant: the tenant list is re-read every pass, and a
// tenant that appears later is listed by exactly the member owning its
// partition.
func TestOwnedSourceNewTenant(t *testing.T) {
	const n = 4
	src := &fakeSource{tenants: []string{"t-1", "t-2", "t-3"}}
	members := make([]*ownedSource, n)
	listed := make([][]string, n)
	for i := range members {
		i := i
		members[i] = &ownedSource{Source: src, owns: func(tn string) bool { return PartitionOf(tn, n) == i },
			listed: func(ts []string) { listed[i] = ts }}
	}
	check := func() {
		t.Helper()
		seen := map[string]int{}
		for i, m := range members {
			parts, _ := m.Partitions(context.Background())
			for _, p := range parts {
				if PartitionOf(p.Tenant, n) != i {
					t.Errorf("member %d lists %s of partition %d", i, p.Tenant, PartitionOf(p.Tenant, n))
				}
				seen[p.Key()]++
			}
		}
		for _, tn := range src.tenants {
			for _, st := range []string{"alert", "event"} {
				if seen[tn+"/"+st] != 1 {
					t.Errorf("%s/%s listed by %d members, want 1", tn, st, seen[tn+"/"+st])
				}
			}
		}
	}
	check()
	src.tenants = append(src.tenants, "t-new-4", "t-new-5", "t-new-6", "t-new-7")
	check()
	owner := PartitionOf("t-new-4", n)
	found := false
	for _, tn := range listed[owner] {
		found = found || tn == "t-new-4"
	}
	if !found {
		t.Errorf("owner %d does not show t-new-4 among its tenants: %v", owner, listed[owner])
	}
}

func kfakeConfig(t *testing.T, group string) (*Config, *kfake.Cluster) {
	t.Helper()
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	c := &Config{Brokers: kc.ListenAddrs(), Group: group, Partitions: 8, ReplicationFactor: -1,
		CoordinationTopic: group + "-coordination", CheckpointTopic: group + "-checkpoints",
		SessionTimeout: cfgDur(6 * time.Second), HeartbeatInterval: cfgDur(time.Second), RebalanceTimeout: cfgDur(8 * time.Second), ClientID: "t"}
	return c, kc
}

// TestStoreRoundTrip: cursors flushed by one member are what the next owner
// reads (newest value per key, only its own tenants, tombstones honoured),
// and the topics are created as the config says.
func TestStoreRoundTrip(t *testing.T) {
	cfg, _ := kfakeConfig(t, "rt")
	ctx := context.Background()
	ks := &killSwitch{}
	k, err := newConns(cfg, ks.dial, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	if err := ensureTopics(ctx, k, cfg); err != nil {
		t.Fatal(err)
	}
	if err := ensureTopics(ctx, k, cfg); err != nil { // idempotent
		t.Fatal(err)
	}
	md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.CoordinationTopic, cfg.CheckpointTopic}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range md.Topics {
		want := map[string]int{cfg.CoordinationTopic: 8, cfg.CheckpointTopic: 1}[tp.Name]
		if len(tp.Partitions) != want {
			t.Errorf("topic %s has %d partitions, want %d", tp.Name, len(tp.Partitions), want)
		}
	}
	dc, err := k.client.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: cfg.CheckpointTopic, ConfigNames: []string{"cleanup.policy"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(dc.Resources) != 1 || len(dc.Resources[0].ConfigEntries) != 1 || dc.Resources[0].ConfigEntries[0].ConfigValue != "compact" {
		t.Errorf("checkpoint topic cleanup.policy: %+v", dc.Resources)
	}

	all := func(string) bool { return true }
	s1, err := loadStore(ctx, k.client, cfg.CheckpointTopic, "m1", 1, time.Second, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(s1.All()) != 0 {
		t.Fatalf("a new topic has cursors: %v", s1.All())
	}
	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	s1.Set("t1/alert", pipeline.Checkpoint{Cursor: "c1", SavedAt: at})
	s1.Set("t2/event", pipeline.Checkpoint{Cursor: "x1", SavedAt: at, TenantName: "Two"})
	if err := s1.Flush(); err != nil {
		t.Fatal(err)
	}
	s1.Set("t1/alert", pipeline.Checkpoint{Cursor: "c2", SavedAt: at.Add(time.Minute)})
	if err := s1.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Flush(); err != nil || s1.Writes() != 2 {
		t.Fatalf("an unchanged store wrote again: %v, %d writes", err, s1.Writes())
	}
	// A reset (`state reset` on a cluster would write this) removes the key.
	if _, err := k.client.Produce(ctx, &kafka.ProduceRequest{Topic: cfg.CheckpointTopic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{Key: kafka.NewBytes([]byte("t3/event")), Value: kafka.NewBytes([]byte(`{"cursor":"z"}`))},
			kafka.Record{Key: kafka.NewBytes([]byte("t3/event"))})}); err != nil {
		t.Fatal(err)
	}

	s2, err := loadStore(ctx, k.client, cfg.CheckpointTopic, "m2", 2, time.Second, func(tn string) bool { return tn != "t2" })
	if err != nil {
		t.Fatal(err)
	}
	got := s2.All()
	if len(got) != 1 || got["t1/alert"].Cursor != "c2" || !got["t1/alert"].SavedAt.Equal(at.Add(time.Minute)) {
		t.Errorf("second owner read %v, want only t1/alert at c2", got)
	}
	s3, err := loadStore(ctx, k.client, cfg.CheckpointTopic, "m3", 3, time.Second, all)
	if err != nil {
		t.Fatal(err)
	}
	if cp, ok := s3.Get("t2/event"); !ok || cp.Cursor != "x1" || cp.TenantName != "Two" {
		t.Errorf("t2/event: %+v %v", cp, ok)
	}
	if _, ok := s3.Get("t3/event"); ok {
		t.Error("a tombstoned cursor was read back")
	}
}

// pagesSource serves endless pages of one record for one partition.
type pagesSource struct {
	mu      sync.Mutex
	fetched int
}

func (p *pagesSource) Partitions(context.Context) ([]pipeline.Partition, error) {
	return []pipeline.Partition{{Tenant: "t1", Stream: pipeline.Events}}, nil
}

func (p *pagesSource) Fetch(_ context.Context, part pipeline.Partition, pos pipeline.Position) (*pipeline.Page, error) {
	p.mu.Lock()
	p.fetched++
	n := p.fetched
	p.mu.Unlock()
	rec, err := pipeline.NewRecord(pipeline.Events, part.Tenant, []byte(fmt.Sprintf(`{"id":"e-%d","type":"Event::Endpoint::Test","when":"2026-12-01T20:00:00.000Z","severity":"low"}`, n)))
	if err != nil {
		return nil, err
	}
	return &pipeline.Page{Records: []pipeline.Record{rec}, Cursor: fmt.Sprintf("c-%d", n), HasMore: true}, nil
}

func (p *pagesSource) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetched
}

type nullSink struct{}

func (nullSink) Start(context.Context) error                     { return nil }
func (nullSink) Close() error                                    { return nil }
func (nullSink) Write(context.Context, []*pipeline.Record) error { return nil }

// TestCheckpointTopicDownStopsPulling: while the checkpoint topic cannot be
// written, the runner keeps the delivered pages in flight, so pulling stops
// after max_inflight_pages pages (the most a crash then repeats); once Kafka
// answers again the pending cursor is committed and pulling resumes.
func TestCheckpointTopicDownStopsPulling(t *testing.T) {
	cfg, _ := kfakeConfig(t, "down")
	ks := &killSwitch{}
	k, err := newConns(cfg, ks.dial, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := ensureTopics(ctx, k, cfg); err != nil {
		t.Fatal(err)
	}
	store, err := loadStore(ctx, k.client, cfg.CheckpointTopic, "m1", 1, 500*time.Millisecond, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	ks.kill()
	src := &pagesSource{}
	dlq, err := pipeline.OpenDeadLetter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	const inflight = 3
	done := make(chan error, 1)
	go func() {
		_, err := pipeline.Run(ctx, pipeline.Options{Source: src, Checkpoints: store, DeadLetter: dlq, Workers: 1, MaxInflightPages: inflight,
			Sinks:    []pipeline.SinkSpec{{Name: "null", Type: "test", Sink: nullSink{}}},
			NextPass: func() (bool, time.Duration) { return true, 10 * time.Millisecond }})
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	if n := src.count(); n > inflight {
		t.Fatalf("%d pages pulled while no checkpoint could be committed: more than max_inflight_pages (%d)", n, inflight)
	}
	if _, ok := store.DurableGet("t1/event"); ok {
		t.Fatal("a cursor counts as durable although Kafka never took it")
	}
	ks.revive()
	waitFor(t, 60*time.Second, "pulling to resume once the checkpoint topic is back", func() bool { return src.count() > 10*inflight })
	waitFor(t, 10*time.Second, "the cursor committed", func() bool { _, ok := store.DurableGet("t1/event"); return ok })
	cancel()
	<-done
	back, err := readCheckpoints(context.Background(), k.client, cfg.CheckpointTopic, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	if cp := back["t1/event"]; cp.Cursor == "" || cp.Cursor == "c-1" {
		t.Errorf("the topic holds %+v after the recovery, want a later cursor", cp)
	}
}
