package kafka

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// writeAll sends recs through s in pipeline-sized batches; every Write must
// succeed.
func writeAll(t testing.TB, s *Sink, recs []*pipeline.Record, batch int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < len(recs); i += batch {
		if err := s.Write(ctx, recs[i:min(i+batch, len(recs))]); err != nil {
			t.Fatalf("Write batch at %d: %v", i, err)
		}
	}
}

// checkDelivered verifies that msgs are exactly recs: one message per record,
// on the record's topic, keyed by its id (in the partition the Java client's
// murmur2 partitioner picks), the raw encoding as value, and the stream,
// tenant, type and id headers.
func checkDelivered(t testing.TB, s *Sink, recs []*pipeline.Record, msgs []readMsg, partitions int) {
	t.Helper()
	enc, err := encoding.New("raw", encoding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byID := make(map[string]*pipeline.Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	if len(msgs) != len(recs) {
		t.Errorf("read %d messages, want exactly %d", len(msgs), len(recs))
	}
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	seen := map[string]bool{}
	bad := 0
	for _, m := range msgs {
		r := byID[m.Key]
		switch {
		case !m.HasKey || r == nil:
			t.Errorf("message %s/%d@%d has key %q (present %v): not a record id", m.Topic, m.Partition, m.Offset, m.Key, m.HasKey)
			bad++
		case seen[m.Key]:
			t.Errorf("record %s delivered twice", m.Key)
			bad++
		default:
			seen[m.Key] = true
			want, _ := enc.Append(nil, r)
			wantPart := kafkago.Murmur2Balancer{}.Balance(kafkago.Message{Key: []byte(r.ID)}, ids...)
			h := m.Headers
			if m.Topic != s.topic.Expand(r) || m.Value != string(want) || m.Partition != wantPart ||
				h["stream"] != string(r.Stream) || h["tenant"] != r.Tenant || h["type"] != r.Type || h["id"] != r.ID || len(h) != 4 {
				t.Errorf("message for %s: topic %s (want %s) partition %d (want %d) headers %v, value ok %v",
					r.ID, m.Topic, s.topic.Expand(r), m.Partition, wantPart, h, m.Value == string(want))
				bad++
			}
		}
		if bad > 10 {
			t.Fatal("too many errors")
		}
	}
	if len(seen) != len(recs) {
		t.Errorf("%d distinct records delivered, want %d", len(seen), len(recs))
	}
}

// TestDeliverEveryCodec produces N records per compression codec to a fixed
// topic and reads them back: exactly N, keys, partitions, values, headers.
func TestDeliverEveryCodec(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(6, "sophos-none", "sophos-gzip", "sophos-snappy", "sophos-lz4", "sophos-zstd"))
	for _, codec := range Compressions {
		t.Run(codec, func(t *testing.T) {
			n := 1000
			if codec == "snappy" { // the default gets the large run
				n = 5000
			}
			cfg := testConfig(c, "sophos-"+codec)
			cfg.Compression = codec
			s := newStarted(t, cfg)
			recs := makeRecords(t, n, []string{"tenant-a", "tenant-b"}, uint64(len(codec)))
			writeAll(t, s, recs, 500)
			checkDelivered(t, s, recs, readTopic(t, cfg.Brokers, cfg.Topic), 6)
		})
	}
}

// TestDeliverTemplatedTopics spreads records over one topic per stream and
// tenant, auto-created by a three-broker cluster, so one Write sends several
// produce requests (one per leader) with several partitions each.
func TestDeliverTemplatedTopics(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(3), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(5))
	cfg := testConfig(c, "soc.${tenant}.${stream}s")
	s := newStarted(t, cfg)
	tenants := []string{"3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8", "9d2e6b14-0c7a-4f83-b5e1-2a9c4d8f7e60", "tenant-3"}
	recs := makeRecords(t, 5000, tenants, 7)
	writeAll(t, s, recs, 1000)

	var msgs []readMsg
	for _, tenant := range tenants {
		for _, stream := range []string{"alerts", "events"} {
			topic := "soc." + tenant + "." + stream
			got := readTopic(t, cfg.Brokers, topic)
			if len(got) == 0 {
				t.Errorf("topic %s is empty", topic)
			}
			msgs = append(msgs, got...)
		}
	}
	checkDelivered(t, s, recs, msgs, 5)
}

// TestRequiredAcks delivers with each acknowledgement level. With none the
// broker does not answer, so the read-back waits for the records to land.
func TestRequiredAcks(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(3, "acks-none", "acks-one", "acks-all"))
	for _, acks := range Acks {
		t.Run(acks, func(t *testing.T) {
			cfg := testConfig(c, "acks-"+acks)
			cfg.RequiredAcks = acks
			s := newStarted(t, cfg)
			recs := makeRecords(t, 1000, []string{"t1"}, 3)
			writeAll(t, s, recs, 500)
			msgs := readTopic(t, cfg.Brokers, cfg.Topic)
			for deadline := time.Now().Add(10 * time.Second); acks == "none" && len(msgs) < len(recs) && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
				msgs = readTopic(t, cfg.Brokers, cfg.Topic)
			}
			checkDelivered(t, s, recs, msgs, 3)
		})
	}
}

// TestKeyChoices checks the key options: a record field, a raw-item path
// (string and number) and no key at all.
func TestKeyChoices(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(4, "k-tenant", "k-path", "k-num", "k-none"))
	recs := makeRecords(t, 200, []string{"tenant-a", "tenant-b"}, 9)
	cases := []struct {
		topic, key string
		want       func(r *pipeline.Record) (string, bool)
	}{
		{"k-tenant", "tenant", func(r *pipeline.Record) (string, bool) { return r.Tenant, true }},
		{"k-path", "source_info.ip", func(r *pipeline.Record) (string, bool) {
			return stringAt(t, r.Raw, "source_info", "ip"), true
		}},
		{"k-num", "core_remedy_items.totalItems", func(r *pipeline.Record) (string, bool) { return "1", true }},
		{"k-none", "", func(r *pipeline.Record) (string, bool) { return "", false }},
	}
	for _, tc := range cases {
		t.Run(tc.topic, func(t *testing.T) {
			cfg := testConfig(c, tc.topic)
			cfg.Key = tc.key
			s := newStarted(t, cfg)
			writeAll(t, s, recs, 100)
			msgs := readTopic(t, cfg.Brokers, cfg.Topic)
			if len(msgs) != len(recs) {
				t.Fatalf("read %d, want %d", len(msgs), len(recs))
			}
			got, byID := map[string]bool{}, recsByID(recs)
			for _, m := range msgs {
				r := byID[m.Headers["id"]]
				if r == nil {
					t.Fatalf("unknown id header %q", m.Headers["id"])
				}
				got[r.ID] = true
				want, has := tc.want(r)
				if m.Key != want || m.HasKey != has {
					t.Fatalf("record %s: key %q (present %v), want %q (present %v)", r.ID, m.Key, m.HasKey, want, has)
				}
			}
			if len(got) != len(recs) {
				t.Fatalf("%d distinct records, want %d", len(got), len(recs))
			}
		})
	}
}

func stringAt(t testing.TB, raw []byte, path ...string) string {
	v := rawjson.String(rawjson.Get(raw, path...))
	if v == "" {
		t.Fatalf("no string at %v", path)
	}
	return v
}

func recsByID(recs []*pipeline.Record) map[string]*pipeline.Record {
	m := make(map[string]*pipeline.Record, len(recs))
	for _, r := range recs {
		m[r.ID] = r
	}
	return m
}
