package diskq

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkAppendRead appends batches of 500 entries of 1 KiB, reads them
// back and acknowledges them, on the test's temporary directory (a real
// disk: fsync costs what it costs there). One op = one batch; MB/s counts
// payload bytes, entries/s is reported alongside.
func BenchmarkAppendRead(b *testing.B) {
	const batch, size = 500, 1024
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = payload(i, size)
	}
	for _, bc := range []struct {
		name string
		sync SyncPolicy
	}{{"sync=always", SyncAlways}, {"sync=interval", SyncInterval}} {
		b.Run(bc.name, func(b *testing.B) {
			q, err := Open(b.TempDir(), Options{Sync: bc.sync, SyncEvery: time.Second, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			ctx := context.Background()
			b.SetBytes(batch * size)
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Append(ctx, payloads); err != nil {
					b.Fatal(err)
				}
				es, err := q.Read(batch)
				if err != nil || len(es) != batch {
					b.Fatalf("Read: %d entries, %v", len(es), err)
				}
				if err := q.Ack(es[len(es)-1].Pos); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
