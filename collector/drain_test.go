package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
)

// slowSink takes delay per write and fails while down.
type slowSink struct {
	delay time.Duration
	down  atomic.Bool
	got   atomic.Int64
}

func (s *slowSink) Start(context.Context) error { return nil }
func (s *slowSink) Close() error                { return nil }
func (s *slowSink) Write(ctx context.Context, b []*pipeline.Record) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.down.Load() {
		return errors.New("connection refused")
	}
	s.got.Add(int64(len(b)))
	return nil
}

// TestDrainBuffersWaitsForASlowDestination: at the end of -once, a disk
// buffer whose destination answers slowly (one write longer than the stall
// time) is drained, not given up on as if it were down — the flake seen as
// "1500 record(s) are still in disk buffers" on a loaded machine; a
// destination that fails is given up on after the stall time.
func TestDrainBuffersWaitsForASlowDestination(t *testing.T) {
	for _, down := range []bool{false, true} {
		t.Run(fmt.Sprintf("down=%v", down), func(t *testing.T) {
			sink := &slowSink{delay: 300 * time.Millisecond}
			sink.down.Store(down)
			d := &pipeline.Deliverer{Name: "slow", Sink: sink, Retry: pipeline.RetryPolicy{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond}}
			bs, err := buffer.New(d, buffer.Options{Dir: t.TempDir(), MaxEvents: 10})
			if err != nil {
				t.Fatal(err)
			}
			defer bs.Close()
			ctx := context.Background()
			if err := bs.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var recs []*pipeline.Record
			for i := range 30 {
				r, err := pipeline.NewRecord(pipeline.Events, "t", []byte(fmt.Sprintf(`{"id":"e%d","type":"Event::Endpoint::Threat::Detected","created_at":"2026-12-07T10:00:00.000Z"}`, i)))
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, &r)
			}
			if err := bs.Write(ctx, recs); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			as := &Assembly{buffered: []*buffer.Sink{bs}}
			start := time.Now()
			as.drainBuffers(100*time.Millisecond, time.Now().Add(20*time.Second), slog.New(slog.NewTextHandler(&logs, nil)))
			took := time.Since(start)
			if down {
				if bs.Pending() == 0 || !bytes.Contains(logs.Bytes(), []byte("30 record(s) are still in disk buffers")) || took > 5*time.Second {
					t.Fatalf("destination down: pending %d after %s, log %s", bs.Pending(), took, logs.String())
				}
				return
			}
			if bs.Pending() != 0 || sink.got.Load() != 30 {
				t.Fatalf("slow destination given up on after %s: %d pending, %d delivered; log %s", took, bs.Pending(), sink.got.Load(), logs.String())
			}
		})
	}
}
