package sophos

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// encodeSink encodes every record (format ecs, as an Elasticsearch sink
// would) and discards the bytes: the pipeline's cost without a destination.
type encodeSink struct {
	enc encoding.Encoder
	buf []byte
	n   int
}

func (s *encodeSink) Start(context.Context) error { return nil }
func (s *encodeSink) Close() error                { return nil }
func (s *encodeSink) Write(_ context.Context, batch []*pipeline.Record) error {
	for _, r := range batch {
		var err error
		if s.buf, err = s.enc.Append(s.buf[:0], r); err != nil {
			return err
		}
		s.n++
	}
	_, _ = io.Discard.Write(s.buf)
	return nil
}

// benchXDR runs -once passes of stream through the pipeline (source,
// checkpoints, an ecs-encoding sink) against an emulator with n items on
// one tenant, and reports records/s of the first pass (every item new).
func benchXDR(b *testing.B, st pipeline.Stream, x emulator.XDR, want int) {
	emu := newEmu(b, emulator.Options{Events: -1, Alerts: -1, XDR: x})
	var total int
	var elapsed time.Duration
	var cpu float64
	for b.Loop() {
		cl, _ := newTestClient(b, emu, nil)
		src, err := NewSource(cl, SourceOptions{Streams: []pipeline.Stream{st},
			Detections: DetectionsOptions{PageSize: 2000, MaxWindow: 24 * time.Hour, PollInitial: time.Millisecond, PollMax: 5 * time.Millisecond},
			Cases:      CasesOptions{PageSize: 50, MaxRemembered: 200000}})
		if err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		cps, _ := pipeline.OpenCheckpoints(dir)
		dlq, _ := pipeline.OpenDeadLetter(dir)
		enc, _ := encoding.New("ecs", encoding.Options{})
		sink := &encodeSink{enc: enc}
		start, cpu0 := time.Now(), cpuSeconds()
		_, err = pipeline.Run(context.Background(), pipeline.Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true,
			Log: slog.New(slog.DiscardHandler), Sinks: []pipeline.SinkSpec{{Name: "ecs", Sink: sink}}})
		elapsed += time.Since(start)
		cpu += cpuSeconds() - cpu0
		dlq.Close()
		if err != nil || sink.n != want {
			b.Fatalf("pass: %v, %d records, want %d", err, sink.n, want)
		}
		total += sink.n
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), string(st)+"s/s")
	if cpu > 0 {
		// Per CPU-second of the whole process (collector and emulator):
		// what the machine's other load does not change.
		b.ReportMetric(float64(total)/cpu, string(st)+"s/cpu-s")
	}
}

// BenchmarkDetectionsPipeline: 20,000 detections of one tenant (one query,
// 10 results pages of 2000), emulator on the same cores.
func BenchmarkDetectionsPipeline(b *testing.B) {
	benchXDR(b, pipeline.Detections, emulator.XDR{Detections: 20000, Cases: -1}, 20000)
}

// BenchmarkCasesPipeline: 5,000 cases of one tenant in pages of 50 (the
// cap), each compared with the (id, updatedAt) memory.
func BenchmarkCasesPipeline(b *testing.B) {
	benchXDR(b, pipeline.Cases, emulator.XDR{Detections: 50, Cases: 5000}, 5000)
}
