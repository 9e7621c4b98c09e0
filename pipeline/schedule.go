package pipeline

import (
	"context"
	"fmt"
	"sync"
)

// DefaultPagesPerTurn is how many pages a partition pulls before the others
// get their turn.
const DefaultPagesPerTurn = 4

// schedule pulls every partition of a pass until each is caught up (or
// failed), fairly: Workers goroutines take partitions from a round-robin
// queue, each turn pulls at most PagesPerTurn pages, and a partition with
// more waiting goes to the back of the queue. So a tenant with a long
// backlog delays every other tenant by at most one turn, and a slow or
// failing tenant holds only the worker pulling it.
func (r *runner) schedule(ctx context.Context, parts []Partition) (failed int) {
	if len(parts) == 0 {
		return 0
	}
	// Every partition is queued at most once, so sends never block.
	queue := make(chan Partition, len(parts))
	for _, p := range parts {
		queue <- p
	}
	var mu sync.Mutex
	left := len(parts)
	finish := func(bad bool) {
		mu.Lock()
		defer mu.Unlock()
		if bad {
			failed++
		}
		if left--; left == 0 {
			close(queue)
		}
	}
	var wg sync.WaitGroup
	for range min(r.o.Workers, len(parts)) {
		wg.Go(func() {
			for p := range queue {
				more, err := r.pullPartition(ctx, p, r.o.PagesPerTurn)
				if what, ok := notAvailable(err); ok {
					r.o.Metrics.Board.NotAvailable(p.Tenant, p.TenantName, string(p.Stream), what+": "+err.Error(), r.o.Now())
					finish(false)
					continue
				}
				switch {
				case err != nil && ctx.Err() == nil:
					r.failedMu.Lock()
					r.failed = append(r.failed, p.String())
					r.failedMu.Unlock()
					r.o.Metrics.Board.Failed(p.Tenant, p.TenantName, string(p.Stream), err.Error(), r.o.Now())
					r.o.Metrics.PartitionFailures.WithLabelValues(p.Tenant, string(p.Stream)).Inc()
					r.log.Error(fmt.Sprintf("pull %s: %v — failed for this pass, retried next pass from its last committed cursor", p, err), "source", sourceName(p.Stream), "tenant", p.Tenant, "stream", p.Stream.Plural())
					finish(true)
				case more && ctx.Err() == nil:
					queue <- p
				default:
					finish(false)
				}
			}
		})
	}
	wg.Wait()
	return failed
}

// DefaultMaxInflightBytes bounds the bytes of pages in flight: about 16
// full SIEM pages (1000 items, some 800 KB), as many as the default
// MaxInflightPages of four workers allowed.
const DefaultMaxInflightBytes = 16 << 20

// byteBudget holds fetches back while the pages in flight add up to max
// bytes or more (one page always passes, however large).
type byteBudget struct {
	mu      sync.Mutex
	used    int64
	max     int64
	changed chan struct{}
}

func newByteBudget(max int64) *byteBudget {
	return &byteBudget{max: max, changed: make(chan struct{})}
}

func (b *byteBudget) wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.used < b.max {
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// full reports whether the budget is used up (pulls wait).
func (b *byteBudget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.max
}

func (b *byteBudget) add(n int64) {
	b.mu.Lock()
	b.used += n
	b.mu.Unlock()
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
