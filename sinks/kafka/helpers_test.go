package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// startCluster runs an in-process kfake cluster closed with the test.
func startCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig is a valid config for the cluster.
func testConfig(c *kfake.Cluster, topic string) Config {
	cfg := DefaultConfig()
	cfg.Brokers = c.ListenAddrs()
	cfg.Topic = topic
	cfg.WriteTimeout = config.Duration(5 * time.Second)
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newStarted builds and starts a sink, closed with the test.
func newStarted(t testing.TB, cfg Config) *Sink {
	t.Helper()
	s, err := New("bus", cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return s
}

// makeRecords builds n event/alert records of about 1 KB from the shapes in
// the reference samples, spread over tenants and both streams, with unique
// ids. Fields vary pseudo-randomly (fixed seed) so compression sees
// realistic, not repetitive, data.
func makeRecords(t testing.TB, n int, tenants []string, seed uint64) []*pipeline.Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 42))
	hex := func(k int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, k)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	uuid := func() string { return hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12) }
	users := []string{`NORTHWIND\\mreyes`, `NORTHWIND\\jchen`, `n/a`, `CONTOSO\\admin.olsen`, `Lars Müller`}
	types := []string{"Event::Endpoint::Threat::Detected", "Event::Endpoint::Threat::CleanedUp", "Event::Endpoint::UpdateSuccess", "Event::Endpoint::WebControlViolation"}
	recs := make([]*pipeline.Record, n)
	for i := range recs {
		stream := pipeline.Events
		if i%5 < 2 { // tenants cycle by 3: every tenant gets both streams
			stream = pipeline.Alerts
		}
		tenant := tenants[i%len(tenants)]
		when := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z")
		file := fmt.Sprintf(`C:\\Users\\u%d\\Downloads\\%s.exe`, rng.IntN(500), hex(10))
		raw := fmt.Sprintf(`{"when":%q,"id":"%s-%06d","customer_id":%q,"severity":%q,"created_at":%q,`+
			`"source_info":{"ip":"10.%d.%d.%d"},"endpoint_type":"computer","endpoint_id":%q,"type":%q,`+
			`"location":"WKS-FIN-%04d","source":"%s","user_id":%q,"group":"MALWARE",`+
			`"core_remedy_items":{"items":[{"type":"file","result":"SUCCESS","suspendResult":"NOT_APPLICABLE","descriptor":"%s","processPath":"","sophosPid":"","sha256":%q}],"totalItems":1},`+
			`"name":"Malware detected: 'Troj/Agent-%s' at '%s'","description":"Threat %s quarantined on WKS-FIN-%04d by policy %s"}`,
			when, uuid()[:27], i, uuid(), []string{"low", "medium", "high"}[rng.IntN(3)], when,
			rng.IntN(256), rng.IntN(256), rng.IntN(256), uuid(), types[rng.IntN(len(types))],
			rng.IntN(10000), users[rng.IntN(len(users))], hex(24),
			file, hex(64), strings.ToUpper(hex(4)), file, hex(12), rng.IntN(10000), uuid())
		r, err := pipeline.NewRecord(stream, tenant, []byte(raw))
		if err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, raw)
		}
		recs[i] = &r
	}
	return recs
}

// readMsg is a message read back from the cluster.
type readMsg struct {
	Topic     string
	Partition int
	Offset    int64
	Key       string
	HasKey    bool
	Value     string
	Headers   map[string]string
}

// readTopic fetches every message of topic with a kafka-go Client, partition
// by partition from offset 0 up to the high watermark.
func readTopic(t testing.TB, brokers []string, topic string) []readMsg {
	t.Helper()
	return readTopicWith(t, &kafkago.Transport{}, brokers, topic)
}

// readTopicWith reads through tr (for TLS or SASL clusters) and closes it.
func readTopicWith(t testing.TB, tr *kafkago.Transport, brokers []string, topic string) []readMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr, Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		t.Fatalf("metadata %s: %+v", topic, md.Topics)
	}
	var out []readMsg
	for _, p := range md.Topics[0].Partitions {
		for offset := int64(0); ; {
			res, err := cl.Fetch(ctx, &kafkago.FetchRequest{Topic: topic, Partition: p.ID, Offset: offset, MaxBytes: 8 << 20, MaxWait: 10 * time.Millisecond})
			if err != nil {
				t.Fatalf("fetch %s/%d@%d: %v", topic, p.ID, offset, err)
			}
			if res.Error != nil {
				t.Fatalf("fetch %s/%d@%d: %v", topic, p.ID, offset, res.Error)
			}
			if offset >= res.HighWatermark {
				break
			}
			for {
				rec, err := res.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read %s/%d: %v", topic, p.ID, err)
				}
				m := readMsg{Topic: topic, Partition: p.ID, Offset: rec.Offset, Headers: map[string]string{}}
				if rec.Key != nil {
					k, _ := kafkago.ReadAll(rec.Key)
					m.Key, m.HasKey = string(k), true
				}
				v, _ := kafkago.ReadAll(rec.Value)
				m.Value = string(v)
				for _, h := range rec.Headers {
					m.Headers[h.Key] = string(h.Value)
				}
				if rec.Offset >= offset {
					out = append(out, m)
					offset = rec.Offset + 1
				}
			}
			res.Records.ReadRecord() // drain
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
