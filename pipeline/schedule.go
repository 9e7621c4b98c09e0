package pipeline

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultPagesPerTurn is how many pages a partition pulls before the others
// get their turn.
const DefaultPagesPerTurn = 4

// partScheduler hands partitions to the pull workers, each partition on
// its own clock: a turn pulls at most PagesPerTurn pages; a partition with
// more waiting goes to the back of the queue (so a long backlog delays the
// others by one turn at most), and one that is caught up or failed is due
// again pull_time (interval) after its turn ended. A slow, hanging or
// looping tenant holds only the worker pulling it: no pass waits for it.
//
// Passes remain for what happens per pull_time: the partition list is
// read again (new tenants are queued at once, departed ones dropped) and
// NextPass is asked. With Once (untilCaughtUp) a pass ends when every
// partition is caught up or failed.
type partScheduler struct {
	untilCaughtUp bool

	mu       sync.Mutex
	entries  map[string]*partEntry
	ready    []string      // keys, in turn order
	interval time.Duration // < 0: not known yet (before the first NextPass)
	wake     chan struct{} // closed and replaced when something changed
	stopped  bool
	passLeft int
	passDone chan struct{}
}

type partEntry struct {
	p        Partition
	busy     bool      // queued or being pulled
	inPass   bool      // the current pass waits for its turn
	gone     bool      // no longer listed: dropped when its turn ends
	finished time.Time // end of its last turn that caught up or failed
}

func newPartScheduler(untilCaughtUp bool, interval time.Duration) *partScheduler {
	if interval <= 0 {
		interval = -1
	}
	return &partScheduler{untilCaughtUp: untilCaughtUp, interval: interval, entries: map[string]*partEntry{}, wake: make(chan struct{})}
}

// startPass takes the partition list: new and due partitions are queued
// at once, departed ones dropped. The returned channel is closed when every
// partition queued now has finished its turn (with untilCaughtUp: is
// caught up or failed); the others run on meanwhile.
func (s *partScheduler) startPass(parts []Partition) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passLeft = 0
	s.passDone = make(chan struct{})
	listed := make(map[string]bool, len(parts))
	now := time.Now()
	for _, p := range parts {
		key := p.Key()
		listed[key] = true
		e := s.entries[key]
		if e == nil {
			e = &partEntry{}
			s.entries[key] = e
		}
		e.p, e.gone = p, false
		if e.busy || (s.interval >= 0 && !e.finished.IsZero() && e.finished.Add(s.interval).After(now)) {
			continue // being pulled, or not due yet: its own clock queues it
		}
		e.busy, e.inPass = true, true
		s.passLeft++
		s.ready = append(s.ready, key)
	}
	for key, e := range s.entries {
		if !listed[key] {
			e.gone = true
			if !e.busy {
				delete(s.entries, key)
			}
		}
	}
	if s.passLeft == 0 {
		close(s.passDone)
	}
	s.signal()
	return s.passDone
}

// setInterval sets the pause between a partition's turns (pull_time).
func (s *partScheduler) setInterval(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interval = max(d, 0)
	s.signal()
}

func (s *partScheduler) signal() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// promote queues the idle partitions that are due; it returns the time the
// next one will be due (zero: none).
func (s *partScheduler) promote(now time.Time) (next time.Time) {
	if s.interval < 0 || s.untilCaughtUp {
		return time.Time{}
	}
	var due []*partEntry
	for _, e := range s.entries {
		if e.busy || e.finished.IsZero() {
			continue
		}
		at := e.finished.Add(s.interval)
		if !at.After(now) {
			due = append(due, e)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	slices.SortFunc(due, func(a, b *partEntry) int { return a.finished.Compare(b.finished) })
	for _, e := range due {
		e.busy = true
		s.ready = append(s.ready, e.p.Key())
	}
	return next
}

// next returns the partition to pull next; ok is false once the scheduler
// stopped or ctx ended.
func (s *partScheduler) next(ctx context.Context) (p Partition, ok bool) {
	for {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return Partition{}, false
		}
		nextDue := s.promote(time.Now())
		if len(s.ready) > 0 {
			key := s.ready[0]
			s.ready = s.ready[1:]
			p = s.entries[key].p
			s.mu.Unlock()
			return p, true
		}
		wake := s.wake
		s.mu.Unlock()
		var t *time.Timer
		var timer <-chan time.Time
		if !nextDue.IsZero() {
			t = time.NewTimer(time.Until(nextDue))
			timer = t.C
		}
		select {
		case <-wake:
		case <-timer:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return Partition{}, false
		}
	}
}

// finish ends p's turn: more puts it at the back of the queue; otherwise
// it is due again one interval from now.
func (s *partScheduler) finish(p Partition, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := p.Key()
	e := s.entries[key]
	if more && !s.stopped {
		s.ready = append(s.ready, key)
		s.signal()
		if s.untilCaughtUp {
			return
		}
	} else {
		e.busy = false
		e.finished = time.Now()
		if e.gone {
			delete(s.entries, key)
		}
		s.signal()
	}
	if e.inPass {
		e.inPass = false
		if s.passLeft--; s.passLeft == 0 {
			close(s.passDone)
		}
	}
}

// stop hands out no more turns; workers return after their current one.
func (s *partScheduler) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		s.ready = nil
		s.signal()
	}
}

// pullWorkers runs Workers goroutines taking turns from the scheduler
// until it stops or ctx ends; wait returns when all have returned.
func (r *runner) pullWorkers(ctx context.Context, s *partScheduler) (wait func()) {
	var wg sync.WaitGroup
	for range r.o.Workers {
		wg.Go(func() {
			for {
				p, ok := s.next(ctx)
				if !ok {
					return
				}
				more, err := r.pullPartition(ctx, p, r.o.PagesPerTurn)
				if what, ok := notAvailable(err); ok {
					r.o.Metrics.Board.NotAvailable(p.Tenant, p.TenantName, string(p.Stream), what+": "+err.Error(), r.o.Now())
					s.finish(p, false)
					continue
				}
				if err != nil && ctx.Err() == nil {
					r.partitionFailed(p, err)
				}
				s.finish(p, more && err == nil && ctx.Err() == nil)
			}
		})
	}
	return wg.Wait
}

// partitionFailed reports a partition whose turn failed: it is retried at
// the next pass from its last committed cursor.
func (r *runner) partitionFailed(p Partition, err error) {
	r.failedMu.Lock()
	r.failed = append(r.failed, p.String())
	r.failedMu.Unlock()
	r.o.Metrics.Board.Failed(p.Tenant, p.TenantName, string(p.Stream), err.Error(), r.o.Now())
	r.o.Metrics.PartitionFailures.WithLabelValues(p.Tenant, string(p.Stream)).Inc()
	r.log.Error(fmt.Sprintf("pull %s: %v — failed for this pass, retried next pass from its last committed cursor", p, err), "source", sourceName(p.Stream), "tenant", p.Tenant, "stream", p.Stream.Plural())
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
