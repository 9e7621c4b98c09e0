package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// BatchPolicy says how a sink's records are grouped into writes.
type BatchPolicy struct {
	MaxEvents int           // records per Write (default 1000: one SIEM page)
	Timeout   time.Duration // wait this long for a partial batch to fill; 0 = write as soon as no more records are waiting
}

// Batcher is a sink that wants batches of its own size and linger (the s3
// sink: objects of max_records, written after max_age at the latest). The
// config's batch keys, when set, win.
type Batcher interface {
	Batch() (maxEvents int, linger time.Duration)
}

// RetryPolicy is the backoff between attempts of a failed write. Attempts
// never stop by default: a record leaves only delivered or dead-lettered.
type RetryPolicy struct {
	Initial     time.Duration // default 1s
	Max         time.Duration // default 1m
	MaxAttempts int           // 0 = retry until delivered; N = dead-letter after N failed attempts
}

// SinkSpec is one configured sink with its routing and policies.
type SinkSpec struct {
	Name   string
	Type   string
	Sink   Sink
	Routes Routes
	Batch  BatchPolicy
	Retry  RetryPolicy
	Desc   string // for `validate`
}

// StageSpec is one configured transform stage.
type StageSpec struct {
	Name    string
	Stage   Stage
	Streams []Stream // empty = every stream
	Desc    string
}

func (s StageSpec) applies(r *Record) bool {
	if len(s.Streams) == 0 {
		return true
	}
	for _, st := range s.Streams {
		if st == r.Stream {
			return true
		}
	}
	return false
}

// Options configure Run.
type Options struct {
	Source      Source
	Stages      []StageSpec
	Sinks       []SinkSpec
	Checkpoints Checkpointer // the local file store, or the cluster's Kafka topic
	DeadLetter  *DeadLetter
	// Observers learn about delivered pages (dedupe, auto-acknowledge).
	Observers []DeliveryObserver
	// PageObservers learn what each sink did with each settled page (the
	// delivery ledger).
	PageObservers []PageObserver
	// Gaps keeps the gaps found (the state dir's list); optional.
	Gaps GapRecorder
	// NoGapRecords stops a gap from sending its record to every sink
	// (gap_records: false); the ERROR, metric, status page and list stay.
	NoGapRecords bool
	// APIClock is the API's clock; default the Source's (if it is an
	// APIClock), else Now. The 24 h horizon is judged by it.
	APIClock APIClock
	Log      *slog.Logger
	Metrics  *Metrics

	// Once pulls every partition until has_more is false, delivers, commits and returns.
	Once bool
	// Since is where a partition without a checkpoint starts.
	Since time.Time
	// Workers bounds the partitions pulled at once (default 4).
	Workers int
	// PagesPerTurn bounds the pages a partition pulls before the other
	// partitions get their turn (default DefaultPagesPerTurn).
	PagesPerTurn int
	// MaxInflightPages bounds pages pulled but not yet committed: the
	// pipeline's memory bound and its back-pressure (default 4×Workers).
	MaxInflightPages int
	// MaxInflightBytes bounds the response bytes of those pages (default
	// DefaultMaxInflightBytes): many small pages of many tenants may be in
	// flight, but only a few full ones.
	MaxInflightBytes int64
	// NextPass is called after each pass in continuous mode: more=false ends
	// the run (the seed's run: false), wait is the pause before the next pass
	// and between two pulls of a caught-up partition.
	NextPass func() (more bool, wait time.Duration)
	// PullInterval is pull_time before the first NextPass (0: the first
	// pass waits until every partition finished its first turn).
	PullInterval time.Duration
	// DrainTimeout bounds how long shutdown waits for in-flight pages (default 30s).
	DrainTimeout time.Duration
	// SummaryEvery is the least time between two INFO pass summaries
	// (default 1 minute: one line per pass at the usual pull_time).
	SummaryEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// WindowWarn is the checkpoint age (by the API's clock) that raises a
	// WARN with its cause (default 12h); WindowError raises an ERROR
	// (default 20h). Sophos keeps 24 h.
	WindowWarn  time.Duration
	WindowError time.Duration
	// MaxEmptyPages is how many pages in a row may bring no item while
	// has_more is true before the partition fails (default 5).
	MaxEmptyPages int
	// CommitInterval is the least time between two checkpoint commits
	// (default 20ms): delivered pages wait at most that long for theirs.
	CommitInterval time.Duration
}

// Stats summarises a run.
type Stats struct {
	Pages, Records, Delivered, DeadLettered, Dropped int64
	FailedPartitions                                 int
	// Settled counts records (after the stages) of pages every sink has
	// settled: the seed's "N new logs added".
	Settled int64
	// Undelivered is, per sink, the records routed to it that were neither
	// delivered (or buffered) nor dead-lettered when the run ended.
	Undelivered map[string]int64
}

type pageState struct {
	page    *Page
	out     []*Record
	seq     uint64
	pending atomic.Int32
	done    bool
}

type chunk struct {
	ps   *pageState
	recs []*Record
}

type partTracker struct {
	next  uint64 // seq of the next page submitted
	queue []*pageState
}

type runner struct {
	o        Options
	failedMu sync.Mutex
	failed   []string // partitions that failed in the current pass
	log      *slog.Logger
	workers  []*sinkWorker
	inflight chan struct{}
	doneCh   chan *pageState
	// pullsDone is set once no more pages will be pulled (-once pass over,
	// or shutdown): lingering batches stop waiting.
	pullsDone atomic.Bool

	mu       sync.Mutex
	trackers map[string]*partTracker
	fetchPos map[string]Position
	emptyRun map[string]int // partition key -> pages in a row with has_more and no item
	parts    map[string]Partition
	// unflushed are partitions committed in memory since the last flush:
	// the status board shows a commit only once it reached disk.
	unflushed map[string]Partition

	commitSig chan struct{}
	toRelease atomic.Int64 // committed-in-memory pages whose slots free after the next flush
	relBytes  atomic.Int64 // and their bytes
	budget    *byteBudget
	stats     struct {
		pages, records, delivered, dlq, dropped, settled atomic.Int64
	}
	warned  sync.Map    // partition key -> alarm: the age alarm given
	summary summaryMark // what the last INFO pass summary counted up to
	// lastErr is each partition's last fetch error this run, cleared by a
	// successful fetch: the age alarm's cause.
	lastErr map[string]string
}

// Run pulls, transforms and delivers until ctx ends (then drains in-flight
// pages, commits and returns nil), until NextPass says stop, or, with Once,
// until every partition is caught up and delivered.
func Run(ctx context.Context, o Options) (Stats, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PagesPerTurn <= 0 {
		o.PagesPerTurn = DefaultPagesPerTurn
	}
	if o.MaxInflightPages <= 0 {
		o.MaxInflightPages = 4 * o.Workers
	}
	if o.MaxInflightBytes <= 0 {
		o.MaxInflightBytes = DefaultMaxInflightBytes
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.WindowWarn <= 0 {
		o.WindowWarn = 12 * time.Hour
	}
	if o.WindowError <= 0 {
		o.WindowError = 20 * time.Hour
	}
	if o.APIClock == nil {
		if c, ok := o.Source.(APIClock); ok {
			o.APIClock = c
		}
	}
	if o.MaxEmptyPages <= 0 {
		o.MaxEmptyPages = DefaultMaxEmptyPages
	}
	if o.CommitInterval <= 0 {
		o.CommitInterval = 20 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Checkpoints == nil || o.Source == nil || o.DeadLetter == nil {
		return Stats{}, errors.New("pipeline: Source, Checkpoints and DeadLetter are required")
	}
	r := &runner{
		o:         o,
		log:       o.Log,
		inflight:  make(chan struct{}, o.MaxInflightPages),
		doneCh:    make(chan *pageState, o.MaxInflightPages),
		trackers:  map[string]*partTracker{},
		fetchPos:  map[string]Position{},
		emptyRun:  map[string]int{},
		parts:     map[string]Partition{},
		unflushed: map[string]Partition{},
		lastErr:   map[string]string{},
		commitSig: make(chan struct{}, 1),
		budget:    newByteBudget(o.MaxInflightBytes),
	}

	// Delivery outlives ctx: after a stop request in-flight pages still drain
	// (bounded by DrainTimeout) so their cursors can be committed.
	deliverCtx, stopDelivery := context.WithCancel(context.Background())
	defer stopDelivery()

	var sinkWG sync.WaitGroup
	for i := range o.Sinks {
		w := newSinkWorker(r, &o.Sinks[i], i, o.MaxInflightPages)
		r.workers = append(r.workers, w)
		sinkWG.Add(1)
		go func() { defer sinkWG.Done(); w.run(deliverCtx) }()
	}
	ackDone := make(chan struct{})
	go func() { defer close(ackDone); r.ackLoop() }()
	commitDone := make(chan struct{})
	commitStop := make(chan struct{})
	go func() { defer close(commitDone); r.commitLoop(commitStop) }()

	runErr := r.passes(ctx)
	r.pullsDone.Store(true)

	// Drain: wait until every in-flight page is committed, or give up.
	drained := r.waitIdle(o.DrainTimeout)
	if !drained {
		msg := fmt.Sprintf("shutdown: %d page(s) were not delivered within %s; their cursors are not committed and they will be pulled again next run", len(r.inflight), o.DrainTimeout)
		r.log.Error(msg)
		if runErr == nil {
			runErr = &UndeliveredError{msg}
		}
	}
	stopDelivery()
	for _, w := range r.workers {
		close(w.in)
	}
	sinkWG.Wait()
	close(r.doneCh)
	<-ackDone
	close(commitStop)
	<-commitDone
	if err := o.Checkpoints.Flush(); err != nil && runErr == nil {
		runErr = err
	}
	st := Stats{
		Pages: r.stats.pages.Load(), Records: r.stats.records.Load(), Delivered: r.stats.delivered.Load(),
		DeadLettered: r.stats.dlq.Load(), Dropped: r.stats.dropped.Load(), Settled: r.stats.settled.Load(),
		Undelivered: map[string]int64{},
	}
	for _, w := range r.workers {
		if n := w.routed.Load() - w.settled.Load(); n > 0 {
			st.Undelivered[w.spec.Name] = n
		}
	}
	return st, runErr
}

// passes runs pull passes until ctx ends, NextPass says stop, or (Once)
// after one. A pass reads the partition list and asks NextPass; the
// partitions themselves are pulled on their own clocks (partScheduler).
func (r *runner) passes(ctx context.Context) error {
	sched := newPartScheduler(r.o.Once, r.o.PullInterval)
	wait := r.pullWorkers(ctx, sched)
	defer func() {
		sched.stop()
		wait()
	}()
	interval := r.o.PullInterval
	for {
		done, err := r.pass(ctx, sched)
		if done == nil {
			done = closedChan
		}
		if r.o.Once {
			if err == nil {
				select {
				case <-done:
				case <-ctx.Done():
				}
				r.pullsDone.Store(true) // lingering batches need not wait for more
				r.waitIdleCtx(ctx)
			}
			if ctx.Err() != nil {
				return nil
			}
			r.checkWindow()
			r.summarize(true)
			if err != nil {
				return err
			}
			if names := r.failedNames(); len(names) > 0 {
				return &PartitionsFailedError{Partitions: names}
			}
			return nil
		}
		if err != nil {
			r.log.Error(err.Error())
		}
		// The pass ends when the partitions it queued finished their turn
		// and pull_time has passed; every other partition goes on by its
		// own clock meanwhile, so a slow one delays only this list refresh.
		passEnd := time.After(max(interval, 0))
		select {
		case <-done:
			r.summarize(false)
		case <-ctx.Done():
		}
		select {
		case <-passEnd:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			return nil
		}
		more := true
		interval = 10 * time.Second
		if r.o.NextPass != nil {
			more, interval = r.o.NextPass()
		}
		if !more {
			return nil
		}
		sched.setInterval(interval)
		r.checkWindow()
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// pass lists the partitions and hands them to the scheduler; done closes
// when each partition it queued has finished its turn (Once: is caught up
// or failed).
func (r *runner) pass(ctx context.Context, sched *partScheduler) (done <-chan struct{}, err error) {
	parts, err := r.o.Source.Partitions(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("list partitions: %w", err)
	}
	// The seed's note at the start of each pull.
	for _, s := range []Stream{Alerts, Events} {
		for _, p := range parts {
			if p.Stream == s {
				r.log.Log(ctx, LevelLogPlus, "Pulling Sophos "+sourceName(s), "source", sourceName(s))
				break
			}
		}
	}
	r.failedMu.Lock()
	r.failed = r.failed[:0]
	if u, ok := r.o.Source.(Unpullable); ok {
		r.failed = append(r.failed, u.Unpullable()...)
	}
	r.failedMu.Unlock()
	return sched.startPass(parts), nil
}

func (r *runner) failedNames() []string {
	r.failedMu.Lock()
	defer r.failedMu.Unlock()
	return append([]string(nil), r.failed...)
}

// PartitionsFailedError says which partitions a -once pass could not pull
// completely; their cursors stay where delivery ended.
type PartitionsFailedError struct{ Partitions []string }

func (e *PartitionsFailedError) Error() string {
	return fmt.Sprintf("%d partition(s) could not be pulled completely (see the errors above), their cursors stay where delivery ended: %s", len(e.Partitions), strings.Join(e.Partitions, ", "))
}

// noMoreRecords reports whether a lingering batch can stop waiting: no page
// can be pulled until some in flight are committed (every in-flight slot or
// the byte budget is taken), or no more pulls come (the -once pass is over,
// or shutdown).
func (r *runner) noMoreRecords() bool {
	return r.pullsDone.Load() || len(r.inflight) == cap(r.inflight) || r.budget.full()
}

// waitIdleCtx waits until no page is in flight or ctx ends.
func (r *runner) waitIdleCtx(ctx context.Context) {
	for len(r.inflight) > 0 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
}

func sourceName(s Stream) string {
	switch s {
	case Alerts:
		return "Alerts"
	case Detections:
		return "Detections"
	case Cases:
		return "Cases"
	}
	return "Events"
}

// NotAvailable is implemented by a source error that means "this tenant has
// no such stream" (no licence): the partition is skipped and marked on the
// status page, and the pass does not count it as failed.
type NotAvailable interface{ NotAvailable() string }

func notAvailable(err error) (string, bool) {
	var na NotAvailable
	if err != nil && errors.As(err, &na) {
		return na.NotAvailable(), true
	}
	return "", false
}

// position returns where the partition's next fetch starts.
func (r *runner) position(p Partition) Position {
	key := p.Key()
	r.mu.Lock()
	r.parts[key] = p
	pos, ok := r.fetchPos[key]
	r.mu.Unlock()
	if ok {
		return pos
	}
	cp, ok := r.o.Checkpoints.Get(key)
	if !ok || cp.Cursor == "" {
		return Position{Since: r.o.Since}
	}
	if !p.Stream.SIEM() {
		// Detections and cases keep their windows in the cursor: Sophos'
		// 24 h SIEM cursor window does not apply to them.
		return Position{Cursor: cp.Cursor}
	}
	// The cursor is sent even when it is older than the API's window: the
	// API then restarts it at its horizon, and the answer's time tells the
	// gap exactly (pullPartition).
	return Position{Cursor: cp.Cursor, ServedUntil: cp.servedUntil()}
}

// apiNow is the API's time as its answers tell it (the host's clock when
// no answer has told yet).
func (r *runner) apiNow() time.Time {
	if r.o.APIClock != nil {
		if t := r.o.APIClock.APINow(); !t.IsZero() {
			return t
		}
	}
	return r.o.Now()
}

// gapBefore reports the span the API could no longer serve between the
// cursor at pos and page, its answer: the cursor had served up to
// pos.ServedUntil, and the answer restarts at its horizon, APITime − 24 h.
// Both times are the API's, so a host clock that runs fast or slow neither
// invents a gap nor hides one.
func gapBefore(p Partition, pos Position, page *Page) (Gap, bool) {
	if !p.Stream.SIEM() || pos.Cursor == "" || pos.ServedUntil.IsZero() || page.APITime.IsZero() {
		return Gap{}, false
	}
	horizon := page.APITime.Add(-APIWindow)
	if !horizon.After(pos.ServedUntil) {
		return Gap{}, false
	}
	old := page.APITime.Sub(pos.ServedUntil).Round(time.Minute)
	return Gap{Tenant: p.Tenant, TenantName: p.TenantName, Stream: p.Stream, From: pos.ServedUntil, To: horizon, FoundAt: page.APITime,
		Reason: fmt.Sprintf("the cursor had not been used for %s, beyond the API's 24 h window (the collector was stopped, or the tenant or a sink failed, that long), so the API restarted it at its horizon", old)}, true
}

// reportGap names a gap everywhere: an ERROR with the exact span, the
// metric, the status page, the state dir's list and (unless switched off)
// a gap record that goes first in page, to every sink.
func (r *runner) reportGap(g Gap, page *Page) {
	r.log.Error(fmt.Sprintf("GAP: %s %s from %s to %s (%s) could not be read and are lost: %s",
		Partition{Tenant: g.Tenant, TenantName: g.TenantName, Stream: g.Stream}.TenantLabel(), g.Stream.Plural(),
		g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339), g.To.Sub(g.From).Round(time.Second), g.Reason),
		"source", sourceName(g.Stream), "tenant", g.Tenant, "stream", g.Stream.Plural(), "gap_from", g.From.UTC(), "gap_to", g.To.UTC())
	r.o.Metrics.GapSeconds.WithLabelValues(g.Tenant, string(g.Stream)).Add(g.Seconds())
	r.o.Metrics.Board.Gap(g.Tenant, g.TenantName, string(g.Stream), g.From, g.To, g.Reason, g.FoundAt)
	if r.o.Gaps != nil {
		if err := r.o.Gaps.RecordGap(g); err != nil {
			r.log.Error(fmt.Sprintf("the gap above could not be added to the state dir's list (state gaps): %v", err))
		}
	}
	if !r.o.NoGapRecords {
		page.Records = append([]Record{gapRecord(g)}, page.Records...)
	}
}

// pullPartition pulls up to maxPages pages of p (one turn); more says it
// is not caught up yet.
func (r *runner) pullPartition(ctx context.Context, p Partition, maxPages int) (more bool, err error) {
	pos := r.position(p)
	for n := 0; ; n++ {
		if n == maxPages {
			return true, nil
		}
		select {
		case r.inflight <- struct{}{}:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		r.o.Metrics.InflightPages.Set(float64(len(r.inflight)))
		if err := r.budget.wait(ctx); err != nil {
			<-r.inflight
			return false, err
		}
		page, err := r.fetch(ctx, p, pos)
		if err != nil {
			<-r.inflight
			return false, err
		}
		if g, ok := gapBefore(p, pos, page); ok {
			r.reportGap(g, page)
		}
		r.budget.add(int64(page.Bytes))
		r.log.Log(ctx, LevelLogPlus, fmt.Sprintf("Pulled %d %s for %s", len(page.Records), p.Stream.Plural(), p.TenantLabel()), "source", sourceName(p.Stream))
		if err := r.submit(ctx, page); err != nil {
			// The page was held back (not committed, not delivered): the
			// next pass pulls it again from pos.
			r.budget.release(int64(page.Bytes))
			<-r.inflight
			return false, err
		}
		pos = Position{Cursor: page.Cursor, ServedUntil: page.ServedUntil}
		r.mu.Lock()
		r.fetchPos[p.Key()] = pos
		empty := 0
		// The SIEM API's cursors only: the XDR sources page through their
		// own windows, where a page of items already seen (the overlap, the
		// cases memory) rightly brings nothing new.
		if p.Stream.SIEM() && page.HasMore && len(page.Records) == 0 && len(page.Rejected) == 0 {
			empty = r.emptyRun[p.Key()] + 1
		}
		r.emptyRun[p.Key()] = empty
		r.mu.Unlock()
		if empty >= r.o.MaxEmptyPages {
			// Progress, not only equality: a cursor that changes on every
			// page while nothing comes would loop for good.
			r.mu.Lock()
			delete(r.emptyRun, p.Key())
			delete(r.fetchPos, p.Key()) // the next pass starts again from the last committed cursor
			r.mu.Unlock()
			return false, &CursorFaultError{Reason: fmt.Sprintf("%d pages in a row brought no item while has_more was true (the cursor moves but nothing comes)", empty)}
		}
		if !page.HasMore {
			return false, nil
		}
	}
}

// fetch pulls one page; the client already retried transient HTTP errors, so
// here only a few more attempts cover a broken page body.
func (r *runner) fetch(ctx context.Context, p Partition, pos Position) (*Page, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			if !sleepCtx(ctx, backoff(attempt, time.Second, 10*time.Second)) {
				return nil, ctx.Err()
			}
		}
		page, err := r.o.Source.Fetch(ctx, p, pos)
		if _, ok := notAvailable(err); ok {
			return nil, err // not an error of the pass: schedule marks it
		}
		if err == nil {
			err = cursorFault(p, page, pos)
		}
		if err == nil {
			page.Partition = p
			if page.APITime.IsZero() {
				page.APITime = r.apiNow()
			}
			if page.ServedUntil.IsZero() {
				page.ServedUntil = page.APITime
			}
			r.mu.Lock()
			delete(r.lastErr, p.Key())
			r.mu.Unlock()
			lbl := []string{p.Tenant, string(p.Stream)}
			r.o.Metrics.PagesPulled.WithLabelValues(lbl...).Inc()
			r.o.Metrics.RecordsPulled.WithLabelValues(lbl...).Add(float64(len(page.Records)))
			r.o.Metrics.BytesPulled.WithLabelValues(lbl...).Add(float64(page.Bytes))
			r.o.Metrics.Board.Pulled(p.Tenant, p.TenantName, string(p.Stream), len(page.Records), r.o.Now())
			return page, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
		r.mu.Lock()
		r.lastErr[p.Key()] = err.Error()
		r.mu.Unlock()
		r.o.Metrics.FetchErrors.WithLabelValues(p.Tenant, string(p.Stream)).Inc()
		r.o.Metrics.Board.Failed(p.Tenant, p.TenantName, string(p.Stream), err.Error(), r.o.Now())
		var pe interface{ Retryable() bool }
		if errors.As(err, &pe) && !pe.Retryable() {
			break
		}
		r.log.Error(fmt.Sprintf("fetch %s (attempt %d of 3): %v", p, attempt+1, err), "source", sourceName(p.Stream))
	}
	return nil, lastErr
}

// UndeliveredError says a stop's drain timeout ran out with pages still
// undelivered (not committed: they are pulled again next run).
type UndeliveredError struct{ msg string }

func (e *UndeliveredError) Error() string { return e.msg }

// CursorFaultError is a SIEM page whose next_cursor cannot be committed:
// empty, or the cursor just sent while has_more says there is more (the
// partition would loop on it forever). The page is not used.
type CursorFaultError struct {
	Reason string
	final  bool // asking again cannot help (an oversized cursor)
}

func (e *CursorFaultError) Error() string { return "API fault: " + e.Reason }

// Retryable says whether fetching the page again may help.
func (e *CursorFaultError) Retryable() bool { return !e.final }

// MaxCursorBytes bounds a SIEM next_cursor: a real one is under 200
// bytes; a bigger one would be committed with every checkpoint and sent
// with every request. The XDR streams' cursors are the collector's own
// checkpoints (the ids seen in the overlap, the cases memory), bounded by
// their own budgets, so the bound is not theirs.
const MaxCursorBytes = 4 << 10

// DefaultMaxEmptyPages is how many pages in a row may bring nothing while
// saying has_more before the partition fails (a cursor that changes on
// every page without progress would otherwise loop forever).
const DefaultMaxEmptyPages = 5

func cursorFault(p Partition, page *Page, pos Position) error {
	switch {
	case page.Cursor == "":
		return &CursorFaultError{Reason: "the page has no next_cursor (an empty cursor is never committed)"}
	case p.Stream.SIEM() && len(page.Cursor) > MaxCursorBytes:
		return &CursorFaultError{Reason: fmt.Sprintf("next_cursor is %d bytes, over the %d-byte bound (it is never committed)", len(page.Cursor), MaxCursorBytes), final: true}
	case page.HasMore && pos.Cursor != "" && page.Cursor == pos.Cursor:
		return &CursorFaultError{Reason: "next_cursor is the cursor just sent while has_more is true (the partition would loop on it)"}
	}
	return nil
}

// submit runs the stages over a page and hands it to the sinks. An error
// means the page was held back: a record could not be dead-lettered, so
// the page is neither delivered nor committed.
func (r *runner) submit(ctx context.Context, page *Page) error {
	out, err := r.runStages(ctx, page)
	if err != nil {
		return err
	}
	key := page.Partition.Key()
	r.mu.Lock()
	tr := r.trackers[key]
	if tr == nil {
		tr = &partTracker{}
		r.trackers[key] = tr
	}
	ps := &pageState{page: page, seq: tr.next, out: out}
	tr.next++
	tr.queue = append(tr.queue, ps)
	r.mu.Unlock()

	r.stats.pages.Add(1)
	r.stats.records.Add(int64(len(page.Records)))

	// Fan out. pending counts sinks that got records, plus one for this
	// function so the page cannot finish before every chunk is queued.
	ps.pending.Store(1)
	for _, w := range r.workers {
		recs := w.route(ps.out)
		if len(recs) == 0 {
			continue
		}
		ps.pending.Add(1)
		w.routed.Add(int64(len(recs)))
		r.o.Metrics.SinkQueued.WithLabelValues(w.spec.Name).Add(float64(len(recs)))
		r.o.Metrics.Board.SinkRouted(w.spec.Name, len(recs), time.Now())
		w.in <- chunk{ps: ps, recs: recs}
	}
	r.partDone(ps)
	return nil
}

// runStages dead-letters the page's rejected items and applies the stages
// to every record. It fails only when a dead-letter write kept failing until
// ctx ended: then the page must be held back.
func (r *runner) runStages(ctx context.Context, page *Page) ([]*Record, error) {
	if len(page.Rejected) > 0 {
		recs := make([]*Record, len(page.Rejected))
		reasons := make([]error, len(page.Rejected))
		for i, rj := range page.Rejected {
			recs[i] = &Record{Stream: page.Partition.Stream, Tenant: page.Partition.Tenant, ID: rj.ID, Raw: rj.Raw}
			reasons[i] = errors.New(rj.Reason)
		}
		if err := r.deadLetterHold(ctx, "source", recs, reasons); err != nil {
			return nil, err
		}
	}
	in := make([]*Record, len(page.Records))
	for i := range page.Records {
		in[i] = &page.Records[i]
	}
	if len(r.o.Stages) == 0 {
		return in, nil
	}
	return RunStages(r.o.Stages, in, make([]*Record, 0, len(in)), StageHooks{
		Refused: func(st *StageSpec, rec *Record, err error) error {
			return r.deadLetterHold(ctx, st.Name, []*Record{rec}, []error{fmt.Errorf("stage %s: %w", st.Name, err)})
		},
		Dropped: func(st *StageSpec) {
			r.stats.dropped.Add(1)
			r.o.Metrics.StageDropped.WithLabelValues(st.Name).Inc()
		},
	})
}

// deadLetterHold writes records a stage (or the source) refused to the
// dead-letter file. A failed write (state disk full) is retried with backoff
// like a failed sink write, holding the page back meanwhile; if ctx ends
// first the error is returned and the page must not be committed.
func (r *runner) deadLetterHold(ctx context.Context, stage string, recs []*Record, reasons []error) error {
	for attempt := 1; ; attempt++ {
		err := r.o.DeadLetter.Write("", stage, recs, reasons)
		if err == nil {
			break
		}
		wait := backoff(attempt, 100*time.Millisecond, 10*time.Second)
		r.log.Error(fmt.Sprintf("%v — the page of %s %s (tenant %s) is held back until it can be written; retrying in %s", err, recs[0].Stream, recs[0].ID, recs[0].Tenant, wait.Round(time.Millisecond)))
		if !sleepCtx(ctx, wait) {
			return fmt.Errorf("page held back, not committed: %w", err)
		}
	}
	who := "stage:" + stage
	r.o.Metrics.DeadLetters.WithLabelValues(who).Add(float64(len(recs)))
	r.stats.dlq.Add(int64(len(recs)))
	for i, rec := range recs {
		reason := ""
		if i < len(reasons) && reasons[i] != nil {
			reason = reasons[i].Error()
		}
		r.log.Error(fmt.Sprintf("dead-lettered %s %s (tenant %s): %s — see %s", rec.Stream, rec.ID, rec.Tenant, reason, r.o.DeadLetter.Path()))
	}
	return nil
}

// partDone is called when one sink finished its chunk of the page.
func (r *runner) partDone(ps *pageState) {
	if ps.pending.Add(-1) == 0 {
		r.doneCh <- ps
	}
}

// ackLoop commits pages in order per partition as they complete.
func (r *runner) ackLoop() {
	for ps := range r.doneCh {
		key := ps.page.Partition.Key()
		r.mu.Lock()
		ps.done = true
		tr := r.trackers[key]
		var ready []*pageState
		for len(tr.queue) > 0 && tr.queue[0].done {
			ready = append(ready, tr.queue[0])
			tr.queue[0] = nil
			tr.queue = tr.queue[1:]
		}
		r.mu.Unlock()
		if len(ready) == 0 {
			continue
		}
		for _, done := range ready {
			r.stats.settled.Add(int64(len(done.out)))
			for _, obs := range r.o.Observers {
				obs.Delivered(done.out)
			}
			if len(r.o.PageObservers) > 0 {
				sp := &SettledPage{Page: done.page, Out: done.out, Sinks: r.sinkNames(), routes: r.sinkRoutes()}
				for _, obs := range r.o.PageObservers {
					obs.PageSettled(sp)
				}
			}
		}
		last := ready[len(ready)-1]
		now := r.o.Now()
		p := last.page.Partition
		r.o.Checkpoints.Set(key, Checkpoint{Cursor: last.page.Cursor, SavedAt: now, ServedUntil: last.page.ServedUntil, TenantName: p.TenantName})
		r.mu.Lock()
		r.unflushed[key] = p
		r.mu.Unlock()
		r.toRelease.Add(int64(len(ready)))
		for _, done := range ready {
			r.relBytes.Add(int64(done.page.Bytes))
		}
		select {
		case r.commitSig <- struct{}{}:
		default:
		}
	}
}

// commitLoop writes the checkpoint file whenever it changed, coalescing
// commits, and only then frees the pages' in-flight slots: delivered but
// uncommitted pages count against MaxInflightPages, so a crash repeats at
// most that many pages.
//
// A commit that fails (state disk full or read-only) keeps the slots: after
// at most MaxInflightPages pages pulling stops, /readyz turns red, an ERROR
// is logged every minute, and the commit is retried with backoff.
func (r *runner) commitLoop(stop <-chan struct{}) {
	var (
		failures  int
		lastLog   time.Time
		retry     <-chan time.Time
		failStart time.Time
	)
	commit := func() {
		n, nb := r.toRelease.Swap(0), r.relBytes.Swap(0)
		r.mu.Lock()
		flushed := r.unflushed
		r.unflushed = map[string]Partition{}
		r.mu.Unlock()
		if err := r.o.Checkpoints.Flush(); err != nil {
			// Nothing reached disk: the pages stay in flight (slots and bytes).
			r.toRelease.Add(n)
			r.relBytes.Add(nb)
			r.mu.Lock()
			for k, p := range flushed {
				r.unflushed[k] = p
			}
			r.mu.Unlock()
			failures++
			if failures == 1 {
				failStart = r.o.Now()
			}
			r.o.Metrics.setCommitFailing(err)
			if failures == 1 || time.Since(lastLog) >= time.Minute {
				lastLog = time.Now()
				r.log.Error(fmt.Sprintf("%v — checkpoints cannot be committed (failing since %s, %d attempt(s)); pulling stops once %d page(s) wait for a commit, /readyz is red, nothing is lost: fix the state_dir (disk full? read-only?)",
					err, failStart.UTC().Format(time.RFC3339), failures, r.o.MaxInflightPages))
			}
			retry = time.After(backoff(min(failures, 6), 500*time.Millisecond, 30*time.Second))
			return
		}
		if failures > 0 {
			r.log.Info(fmt.Sprintf("checkpoints committed again after %d failed attempt(s)", failures))
		}
		failures, retry = 0, nil
		r.o.Metrics.setCommitFailing(nil)
		for k, p := range flushed {
			cp, _ := r.o.Checkpoints.DurableGet(k)
			r.o.Metrics.observeCommit(p, cp.SavedAt)
			r.warned.Delete(k)
		}
		r.boardCommitted(flushed)
		r.budget.release(nb)
		for ; n > 0; n-- {
			<-r.inflight
		}
		r.o.Metrics.InflightPages.Set(float64(len(r.inflight)))
	}
	for {
		select {
		case <-retry:
			commit()
		case <-r.commitSig:
			if retry != nil {
				continue // failing: the retry timer decides
			}
			t0 := time.Now()
			commit()
			// Coalesce: pages finishing in the next moment share one
			// fsync'ed commit instead of one each. The pause grows with
			// the commit's cost (the file holds every partition), so
			// with thousands of tenants commits take at most a third of
			// the time.
			select {
			case <-time.After(max(r.o.CommitInterval, 2*time.Since(t0))):
			case <-stop:
				commit()
				return
			}
		case <-stop:
			commit()
			return
		}
	}
}

// waitIdle waits up to timeout until no page is in flight.
func (r *runner) waitIdle(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for len(r.inflight) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// checkWindow raises the age alarms of partitions whose committed cursor
// is getting old by the API's clock: a WARN past WindowWarn (12 h) and an
// ERROR past WindowError (20 h), each once per run and level, naming the
// cause, before Sophos Central's 24 h window loses data.
func (r *runner) checkWindow() {
	now := r.apiNow()
	for key, cp := range r.o.Checkpoints.Durable() {
		age := now.Sub(cp.servedUntil())
		r.mu.Lock()
		p, ok := r.parts[key]
		r.mu.Unlock()
		if !ok {
			continue
		}
		r.o.Metrics.CheckpointAge.WithLabelValues(p.Tenant, string(p.Stream)).Set(age.Seconds())
		if !p.Stream.SIEM() {
			continue // the 24 h window is the SIEM API's
		}
		level := 0
		switch {
		case age > r.o.WindowError:
			level = 2
		case age > r.o.WindowWarn:
			level = 1
		}
		if level == 0 {
			r.warned.Delete(key)
			continue
		}
		kind, cause := r.lagCause(key)
		// Once per level and cause: again when it gets worse or the cause changes.
		if prev, _ := r.warned.Load(key); prev != nil && prev.(alarm).level >= level && prev.(alarm).kind == kind {
			continue
		}
		r.warned.Store(key, alarm{level, kind})
		msg := fmt.Sprintf("%s: nothing has been committed for %s (by the API's clock); Sophos Central keeps only 24 h, data is lost in %s unless it catches up — cause: %s",
			p, age.Round(time.Minute), (APIWindow - age).Round(time.Minute), cause)
		if level == 2 {
			r.log.Error(msg, "source", sourceName(p.Stream))
		} else {
			r.log.Warn(msg, "source", sourceName(p.Stream))
		}
	}
}

// alarm is the age alarm given for a partition: its level (1 WARN,
// 2 ERROR) and the kind of its cause.
type alarm struct {
	level int
	kind  string
}

// lagCause says why a partition's checkpoint is old: its tenant failing,
// a sink not delivering its pages, or the collector behind.
func (r *runner) lagCause(key string) (kind, cause string) {
	r.mu.Lock()
	fetchErr := r.lastErr[key]
	waiting := 0
	if tr := r.trackers[key]; tr != nil {
		waiting = len(tr.queue)
	}
	r.mu.Unlock()
	switch {
	case fetchErr != "":
		return "tenant", "the tenant is failing: " + fetchErr
	case waiting > 0:
		var stalled []string
		for _, w := range r.workers {
			if q := w.routed.Load() - w.settled.Load(); q > 0 {
				stalled = append(stalled, fmt.Sprintf("%s (%d records waiting)", w.spec.Name, q))
			}
		}
		return "sink", fmt.Sprintf("a sink is stalled: %d page(s) wait for delivery to %s — fix it, or give it buffer: disk", waiting, strings.Join(stalled, ", "))
	default:
		return "behind", "the collector is behind: the tenant answers and the sinks deliver, but pulling has not caught up (more workers, a faster sink, or fewer tenants per collector)"
	}
}

func backoff(attempt int, initial, max time.Duration) time.Duration {
	d := initial << min(attempt-1, 30)
	if d > max || d <= 0 {
		d = max
	}
	// Full jitter in [d/2, d].
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (r *runner) sinkNames() []string {
	names := make([]string, len(r.o.Sinks))
	for i := range r.o.Sinks {
		names[i] = r.o.Sinks[i].Name
	}
	return names
}

func (r *runner) sinkRoutes() []Routes {
	rts := make([]Routes, len(r.o.Sinks))
	for i := range r.o.Sinks {
		rts[i] = r.o.Sinks[i].Routes
	}
	return rts
}

// boardCommitted shows the flushed partitions' commits on the status board.
func (r *runner) boardCommitted(flushed map[string]Partition) {
	for key, p := range flushed {
		if cp, ok := r.o.Checkpoints.Get(key); ok {
			r.o.Metrics.Board.Committed(p.Tenant, p.TenantName, string(p.Stream), cp.SavedAt)
		}
	}
}
