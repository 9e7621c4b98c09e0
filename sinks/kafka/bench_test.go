package kafka

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/internal/cputime"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Benchmarks against an in-process kfake broker (one broker, a 6-partition
// topic), ~1 KB records in batches of 1000 as the pipeline sends them:
//
//	go test -run '^$' -bench 'Kafka' -benchtime 200x ./sinks/kafka/
//
// store=memory keeps every record in kfake (what a consumer would read);
// store=blackhole (kfake.BlackholeProduce) acknowledges without storing, to
// take kfake's own storage cost out of the figure. BenchmarkKafkaGoWriter is
// the floor: kafka-go's Writer sending the same, already encoded messages.

const benchBatch = 1000

type benchCase struct {
	store, comp string
}

var benchCases = []benchCase{
	{"memory", "none"}, {"memory", "snappy"},
	{"blackhole", "none"}, {"blackhole", "snappy"}, {"blackhole", "lz4"}, {"blackhole", "zstd"}, {"blackhole", "gzip"},
}

func benchCluster(b *testing.B, store string) *kfake.Cluster {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(6, "bench")}
	if store == "blackhole" {
		opts = append(opts, kfake.BlackholeProduce())
	}
	return startCluster(b, opts...)
}

// cpuTime is the process's user+system CPU time (kept per package so the
// benchmarks read as before).
var cpuTime = cputime.Self

// startRate notes the CPU time where the timed loop starts.
func startRate(b *testing.B) time.Duration {
	b.ResetTimer()
	return cpuTime()
}

// reportRate adds records/s (wall clock) and records per CPU-second, which
// stays meaningful on a shared machine where wall time is noisy; MB/s comes
// from b.SetBytes (encoded values).
func reportRate(b *testing.B, records int, cpu0 time.Duration) {
	n := float64(records) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(n/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
}

func BenchmarkKafkaSink(b *testing.B) {
	recs := makeRecords(b, benchBatch, []string{"3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8"}, 99)
	bytes := encodedBytes(b, recs)
	for _, bc := range benchCases {
		b.Run("store="+bc.store+"/compression="+bc.comp, func(b *testing.B) {
			c := benchCluster(b, bc.store)
			cfg := testConfig(c, "bench")
			cfg.Compression = bc.comp
			s := newStarted(b, cfg)
			ctx := context.Background()
			if err := s.Write(ctx, recs); err != nil { // warm: connections, metadata
				b.Fatal(err)
			}
			b.SetBytes(int64(bytes))
			b.ReportAllocs()
			cpu0 := startRate(b)
			for i := 0; i < b.N; i++ {
				if err := s.Write(ctx, recs); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, len(recs), cpu0)
		})
	}
}

func BenchmarkKafkaGoWriter(b *testing.B) {
	recs := makeRecords(b, benchBatch, []string{"3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8"}, 99)
	msgs, bytes := benchMessages(b, recs)
	standardSnappy() // the same snappy encoder as the sink
	for _, bc := range benchCases[:4] {
		b.Run("store="+bc.store+"/compression="+bc.comp, func(b *testing.B) {
			c := benchCluster(b, bc.store)
			comp, _ := compressionOf(bc.comp)
			w := &kafkago.Writer{
				Addr: kafkago.TCP(c.ListenAddrs()...), Topic: "bench", Balancer: kafkago.Murmur2Balancer{},
				RequiredAcks: kafkago.RequireAll, Compression: comp,
				BatchSize: benchBatch, BatchBytes: 1 << 20, BatchTimeout: time.Millisecond, // no 1 s linger
			}
			defer w.Close()
			ctx := context.Background()
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(bytes))
			b.ReportAllocs()
			cpu0 := startRate(b)
			for i := 0; i < b.N; i++ {
				if err := w.WriteMessages(ctx, msgs...); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, len(msgs), cpu0)
		})
	}
}

// BenchmarkEncodeOnly is the sink's CPU before the network: raw encoding,
// key, headers, topic, partitioning (no request sent).
func BenchmarkEncodeOnly(b *testing.B) {
	recs := makeRecords(b, benchBatch, []string{"t1"}, 99)
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = []string{"127.0.0.1:9"}, "sophos-${stream}"
	s, err := New("bench", cfg, testLogger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.w.known = map[string]*topicState{}
	for _, t := range []string{"sophos-alert", "sophos-event"} { // as layout would find them
		s.w.known[t] = &topicState{name: t, leaders: make([]int32, 6), ids: []int{0, 1, 2, 3, 4, 5}, buckets: make([][]int32, 6)}
	}
	b.SetBytes(int64(encodedBytes(b, recs)))
	b.ReportAllocs()
	cpu0 := startRate(b)
	for i := 0; i < b.N; i++ {
		s.w.reset(len(recs))
		s.encode(recs)
		for _, t := range s.w.topics {
			for j := range t.buckets {
				t.buckets[j] = t.buckets[j][:0]
			}
		}
		s.assign(len(recs))
	}
	reportRate(b, len(recs), cpu0)
}

func encodedBytes(b *testing.B, recs []*pipeline.Record) int {
	enc, err := encoding.New("raw", encoding.Options{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	var buf []byte
	for _, r := range recs {
		buf, _ = enc.Append(buf[:0], r)
		n += len(buf)
	}
	return n
}

func benchMessages(b *testing.B, recs []*pipeline.Record) ([]kafkago.Message, int) {
	enc, err := encoding.New("raw", encoding.Options{})
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]kafkago.Message, len(recs))
	n := 0
	for i, r := range recs {
		v, _ := enc.Append(nil, r)
		n += len(v)
		msgs[i] = kafkago.Message{Key: []byte(r.ID), Value: v, Headers: []kafkago.Header{
			{Key: "stream", Value: []byte(r.Stream)}, {Key: "tenant", Value: []byte(r.Tenant)},
			{Key: "type", Value: []byte(r.Type)}, {Key: "id", Value: []byte(r.ID)}}}
	}
	return msgs, n
}
