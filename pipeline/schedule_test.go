package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// orderSource serves a big backlog for one partition and one page for each
// of the others, logging the order of fetches; hook may delay or fail one.
type orderSource struct {
	*listSource
	mu   sync.Mutex
	log  []string
	hook func(p Partition) error
}

func newOrderSource(small, bigPages int) *orderSource {
	s := &listSource{items: map[string][]string{}, pageSize: 10}
	add := func(p Partition, n int) {
		s.parts = append(s.parts, p)
		for i := range n {
			s.items[p.Key()] = append(s.items[p.Key()], fmt.Sprintf("%s-%d", p.Key(), i))
		}
	}
	add(Partition{Tenant: "big", Stream: Events}, bigPages*10)
	for i := range small {
		add(Partition{Tenant: fmt.Sprintf("small%03d", i), Stream: Events}, 3)
	}
	return &orderSource{listSource: s}
}

func (s *orderSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	if s.hook != nil {
		if err := s.hook(p); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.log = append(s.log, p.Tenant)
	s.mu.Unlock()
	return s.listSource.Fetch(ctx, p, pos)
}

func runWith(t *testing.T, src Source, o Options) (Stats, error) {
	t.Helper()
	dir := t.TempDir()
	cps, err := OpenCheckpoints(dir)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := OpenDeadLetter(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dlq.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o.Source, o.Checkpoints, o.DeadLetter, o.Once = src, cps, dlq, true
	o.Sinks = []SinkSpec{{Name: "s", Sink: newRecordingSink(), Retry: fastRetry()}}
	return Run(ctx, o)
}

// A tenant with 50 pages of backlog, listed first, delays the 200 small
// tenants by at most one turn (DefaultPagesPerTurn pages).
func TestFairnessBigBacklogDelaysOthersOneTurn(t *testing.T) {
	for _, workers := range []int{1, 4, 16} {
		src := newOrderSource(200, 50)
		st, err := runWith(t, src, Options{Workers: workers, MaxInflightPages: 64})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(50*10 + 200*3); st.Records != want {
			t.Fatalf("workers %d: %d records, want %d", workers, st.Records, want)
		}
		bigSeen, smallSeen := 0, 0
		for _, tenant := range src.log {
			if tenant == "big" {
				bigSeen++
				// When its second turn begins every small tenant has left
				// the queue; at most workers-1 may still be in the hands
				// of the other workers, not fetched yet.
				if bigSeen == DefaultPagesPerTurn+1 && smallSeen < 200-(workers-1) {
					t.Fatalf("workers %d: the big tenant's second turn began after only %d of 200 small tenants", workers, smallSeen)
				}
			} else {
				smallSeen++
			}
		}
		if bigSeen != 50 {
			t.Fatalf("workers %d: big tenant fetched %d pages, want 50", workers, bigSeen)
		}
	}
}

type permanent struct{ error }

func (permanent) Retryable() bool { return false }

// A tenant that hangs and one that fails hold only their own workers: the
// other 200 tenants are pulled meanwhile.
func TestSlowAndFailingTenantHoldOnlyTheirSlot(t *testing.T) {
	src := newOrderSource(200, 1)
	src.parts = append(src.parts, Partition{Tenant: "failing", Stream: Events})
	others := make(chan struct{})
	var smallDone sync.WaitGroup
	smallDone.Add(200)
	go func() { smallDone.Wait(); close(others) }()
	src.hook = func(p Partition) error {
		switch {
		case p.Tenant == "big": // slow: answers only once every other tenant was served
			select {
			case <-others:
			case <-time.After(20 * time.Second):
				return errors.New("the other tenants were not pulled while this one hung")
			}
		case p.Tenant == "failing":
			return permanent{errors.New("403 forbidden")}
		default:
			smallDone.Done()
		}
		return nil
	}
	st, err := runWith(t, src, Options{Workers: 4})
	if err == nil || st.Records != 10+200*3 {
		t.Fatalf("records %d (want %d), err %v (want the failed partition reported)", st.Records, 10+200*3, err)
	}
}

// sizedSource gives every page a size, as the Sophos source does.
type sizedSource struct {
	*listSource
	size int
}

func (s *sizedSource) Fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	pg, err := s.listSource.Fetch(ctx, p, pos)
	if pg != nil {
		pg.Bytes = s.size
	}
	return pg, err
}

// While a sink is down, pulling stops once the pages in flight reach
// MaxInflightBytes, long before MaxInflightPages; all arrive once it is up.
func TestInflightBytesBound(t *testing.T) {
	src := &sizedSource{listSource: newListSource(2, 200, 10), size: 1000}
	sink := newRecordingSink()
	sink.setDown(true)
	dir := t.TempDir()
	cps, _ := OpenCheckpoints(dir)
	dlq, _ := OpenDeadLetter(dir)
	t.Cleanup(func() { dlq.Close() })
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), Options{Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Workers: 4,
			MaxInflightPages: 64, MaxInflightBytes: 2500,
			Sinks: []SinkSpec{{Name: "s", Sink: sink, Retry: fastRetry()}}})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	src.mu.Lock()
	fetched := src.fetches
	src.mu.Unlock()
	// 0, 1000 and 2000 bytes in flight let a fetch start; 4 workers may
	// each pass the check at once before their pages are counted.
	if fetched < 3 || fetched > 6 {
		t.Fatalf("%d pages fetched while the sink was down; the byte bound (2500, 1000 per page) allows 3 to 6", fetched)
	}
	sink.setDown(false)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sink.count() != 800 {
		t.Fatalf("%d of 800 delivered", sink.count())
	}
}
