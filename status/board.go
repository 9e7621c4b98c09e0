// Package status is the operator's view of a running collector: a Board the
// pipeline updates as it pulls, commits and delivers, the JSON document
// served at /status.json, the HTML page at / and the terminal table of
// `sophos-connect status`. It holds no records and no secrets: only names,
// counts, times and error messages (which the logger has already redacted).
package status

import (
	"sort"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// The JSON document of /status.json. Field names are a stable interface
// (documented in the README); add fields, never rename them.
type (
	Status struct {
		Version   string    `json:"version"`
		StartedAt time.Time `json:"started_at"`
		Now       time.Time `json:"now"`
		Identity  Identity  `json:"identity"`
		Member    *Member   `json:"member,omitempty"` // distributed mode only
		Totals    Totals    `json:"totals"`
		// Throughput is records pulled per minute over the last hour,
		// oldest first; the last entry is the current minute.
		Throughput []int64        `json:"throughput_per_minute"`
		Tenants    []TenantStatus `json:"tenants"`
		Sinks      []SinkStatus   `json:"sinks"`
		// Gaps are the spans found lost to the API's 24 h window in this
		// run, oldest first (the page's banner; `state gaps` has them all).
		Gaps []GapStatus `json:"gaps"`
		// OrphanedBuffers are disk buffers holding records of a sink no
		// longer in the config (`status` fills them from the state dir; a
		// collector refuses to start with one).
		OrphanedBuffers []OrphanedBuffer `json:"orphaned_buffers,omitempty"`
	}
	// OrphanedBuffer is a renamed or removed sink's disk buffer.
	OrphanedBuffer struct {
		Sink    string `json:"sink"`
		Records int64  `json:"records"`
		Dir     string `json:"dir"`
	}
	// GapStatus is a span of a tenant's stream that could not be read.
	GapStatus struct {
		Tenant  string    `json:"tenant"`
		Name    string    `json:"name,omitempty"`
		Stream  string    `json:"stream"`
		From    time.Time `json:"from"`
		To      time.Time `json:"to"`
		Reason  string    `json:"reason"`
		FoundAt time.Time `json:"found_at"`
	}
	// ReconcileStatus is the last reconciliation of a tenant's stream
	// against Sophos Central: complete, or how much is missing.
	ReconcileStatus struct {
		Complete bool      `json:"complete"`
		Missing  int64     `json:"missing"`
		Detail   string    `json:"detail"` // e.g. the missing ids, cut short
		At       time.Time `json:"at"`
	}
	Identity struct {
		ID         string `json:"id"`
		IDType     string `json:"id_type"`
		DataRegion string `json:"data_region"`
	}
	// Member is this collector's place in a distributed cluster.
	Member struct {
		ID         string   `json:"id"`
		Group      string   `json:"group"`
		Partitions []int    `json:"partitions"`
		Tenants    []string `json:"tenants"`
	}
	Totals struct {
		Tenants        int   `json:"tenants"`
		RecordsPulled  int64 `json:"records_pulled"`
		Delivered      int64 `json:"delivered"`
		DeadLettered   int64 `json:"dead_lettered"`
		FailingStreams int   `json:"failing_streams"`
	}
	TenantStatus struct {
		ID      string         `json:"id"`
		Name    string         `json:"name"`
		Streams []StreamStatus `json:"streams"`
	}
	StreamStatus struct {
		Stream string `json:"stream"`
		// LastPull is the last page fetched successfully (null: none yet in this run).
		LastPull *time.Time `json:"last_pull"`
		// CheckpointAt is the last commit that reached disk (null: never).
		CheckpointAt *time.Time `json:"checkpoint_at"`
		// CheckpointAgeSeconds is Now − CheckpointAt (null when never committed).
		CheckpointAgeSeconds *float64 `json:"checkpoint_age_seconds"`
		// Band is green (< 1 h), amber (< 20 h) or red, against Sophos's 24 h window.
		Band            string     `json:"band"`
		RecordsLastHour int64      `json:"records_last_hour"`
		LastError       string     `json:"last_error"`
		LastErrorAt     *time.Time `json:"last_error_at"`
		// NotAvailable is set while the tenant has no such stream (e.g.
		// "not licensed: …" for detections and cases): not an error.
		NotAvailable string `json:"not_available,omitempty"`
		// Gap is the latest span of this stream lost to the 24 h window in
		// this run (the row shows red); null when none.
		Gap *GapStatus `json:"gap"`
		// Reconcile is the last reconciliation (null: none in this run).
		Reconcile *ReconcileStatus `json:"reconcile"`
	}
	SinkStatus struct {
		Name          string     `json:"name"`
		Type          string     `json:"type"`
		Delivered     int64      `json:"delivered"`
		Queued        int64      `json:"queued"`
		BufferedBytes int64      `json:"buffered_bytes"`
		DeadLettered  int64      `json:"dead_lettered"`
		LastError     string     `json:"last_error"`
		LastErrorAt   *time.Time `json:"last_error_at"`
		// State is ok, retrying, stalled, failing_startup or, from the state
		// dir with no collector running, not_running (see Sink*).
		State string `json:"state"`
		// LastDelivered is the last time records reached the destination
		// (for a disk-buffered sink: the drainer's last delivery).
		LastDelivered *time.Time `json:"last_delivered"`
		// Undelivered counts records routed to the sink and not yet
		// delivered or dead-lettered (buffered ones included).
		Undelivered int64 `json:"undelivered"`
		// OldestUndeliveredSeconds is the age of the oldest of them (null: none).
		OldestUndeliveredSeconds *float64 `json:"oldest_undelivered_seconds"`
	}
)

// Sink states. A sink's error is cleared only by a delivery on the path that
// failed: for a disk-buffered sink the drainer's, never an append to the
// buffer.
const (
	SinkOK             = "ok"              // the last delivery attempt succeeded (or none was needed)
	SinkRetrying       = "retrying"        // the last attempt failed; records are retried with backoff
	SinkStalled        = "stalled"         // records wait and nothing was delivered for longer than the stall threshold
	SinkFailingStartup = "failing_startup" // the start-up check fails; records wait until it passes
	SinkNotRunning     = "not_running"     // no collector answers: `status` read the state dir, nothing is known of delivery
)

// DefaultStallAfter is how long a sink may deliver nothing while records wait
// before it shows as stalled.
const DefaultStallAfter = 5 * time.Minute

// Bands of checkpoint age against the 24 h window.
const (
	BandGreen = "green" // < 1 h
	BandAmber = "amber" // < 20 h
	BandRed   = "red"   // ≥ 20 h: the collector's own ERROR threshold
	BandNone  = "none"  // never committed
)

// BandFor classifies a checkpoint age.
func BandFor(age time.Duration) string {
	switch {
	case age < time.Hour:
		return BandGreen
	case age < 20*time.Hour:
		return BandAmber
	}
	return BandRed
}

// SinkCounters are a sink's totals, read from the pipeline's metrics when a
// snapshot is taken (so the page and /metrics can never disagree).
type SinkCounters struct {
	Delivered, Queued, BufferedBytes, DeadLettered int64
}

// minutes is a ring of per-minute counts covering the last hour.
type minutes struct {
	last int64 // unix minute of the newest slot written
	n    [60]int64
}

func (m *minutes) add(at time.Time, v int64) {
	min := at.Unix() / 60
	m.advance(min)
	m.n[min%60] += v
}

// advance clears the slots between the last minute written and min.
func (m *minutes) advance(min int64) {
	if min <= m.last {
		return
	}
	if min-m.last >= 60 {
		m.n = [60]int64{}
	} else {
		for t := m.last + 1; t <= min; t++ {
			m.n[t%60] = 0
		}
	}
	m.last = min
}

// series returns the 60 counts ending at now's minute, oldest first.
func (m *minutes) series(now time.Time) []int64 {
	min := now.Unix() / 60
	out := make([]int64, 60)
	for i := 0; i < 60; i++ {
		t := min - 59 + int64(i)
		if t > m.last || m.last-t >= 60 {
			continue
		}
		out[i] = m.n[t%60]
	}
	return out
}

func (m *minutes) sum(now time.Time) int64 {
	var s int64
	for _, v := range m.series(now) {
		s += v
	}
	return s
}

type partState struct {
	tenant, name, stream string
	lastPull             time.Time
	committed            time.Time
	lastErr              string
	lastErrAt            time.Time
	lastHour             minutes
	notAvailable         string
	gap                  *GapStatus
	reconcile            *ReconcileStatus
}

type sinkState struct {
	name, typ     string
	lastErr       string
	lastErrAt     time.Time
	startupErr    string
	lastDelivered time.Time
	// waiting holds, oldest first, the records routed to the sink and not
	// yet settled, in groups of the time they were routed: a sink delivers
	// in order, so the front is the oldest undelivered record.
	waiting []waitGroup
}

type waitGroup struct {
	at time.Time
	n  int64
}

func (s *sinkState) undelivered() int64 {
	var n int64
	for _, w := range s.waiting {
		n += w.n
	}
	return n
}

// state classifies the sink as of now.
func (s *sinkState) state(now time.Time, stallAfter time.Duration) string {
	switch {
	case s.startupErr != "":
		return SinkFailingStartup
	case len(s.waiting) > 0 && now.Sub(latest(s.lastDelivered, s.waiting[0].at)) > stallAfter:
		return SinkStalled
	case s.lastErr != "":
		return SinkRetrying
	}
	return SinkOK
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Board collects what the status page shows. Every method is safe for
// concurrent use and cheap (a mutex and a few assignments per page or batch,
// never per record); a nil *Board ignores every call.
type Board struct {
	mu        sync.Mutex
	version   string
	startedAt time.Time
	identity  Identity
	member    *Member
	parts     map[string]*partState // "<tenant>/<stream>"
	sinks     []*sinkState
	pulled    int64
	gaps      []GapStatus // this run's, the newest maxGaps
	thru      minutes
	counters  func(sink string) SinkCounters
	// stallAfter: see DefaultStallAfter.
	stallAfter time.Duration
}

// NewBoard starts a board at startedAt.
func NewBoard(version string, startedAt time.Time) *Board {
	return &Board{version: version, startedAt: startedAt, parts: map[string]*partState{}, stallAfter: DefaultStallAfter}
}

// SetStallAfter changes the stall threshold (tests; 0 restores the default).
func (b *Board) SetStallAfter(d time.Duration) {
	if b == nil {
		return
	}
	if d <= 0 {
		d = DefaultStallAfter
	}
	b.mu.Lock()
	b.stallAfter = d
	b.mu.Unlock()
}

// SetVersion records the collector's version.
func (b *Board) SetVersion(v string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.version = v
	b.mu.Unlock()
}

// SetIdentity records whoami's answer.
func (b *Board) SetIdentity(id Identity) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.identity = id
	b.mu.Unlock()
}

// SetMember records this collector's share of a distributed cluster.
func (b *Board) SetMember(m *Member) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.member = m
	b.mu.Unlock()
}

// SetSinkCounters installs the function that reads a sink's totals.
func (b *Board) SetSinkCounters(f func(sink string) SinkCounters) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.counters = f
	b.mu.Unlock()
}

// AddSink lists a sink (in configuration order).
func (b *Board) AddSink(name, typ string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.sink(name).typ = typ
	b.mu.Unlock()
}

// SetSinks lists exactly these sinks (name → type, in order) after a
// reload: a sink kept by name keeps its state, a removed one leaves the page.
func (b *Board) SetSinks(names, types []string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.sinks
	b.sinks = nil
	for i, name := range names {
		var s *sinkState
		for _, o := range old {
			if o.name == name {
				s = o
			}
		}
		if s == nil {
			s = &sinkState{name: name}
		}
		// A new pipeline starts with nothing routed: what the old one had
		// waiting was either delivered while it drained or is pulled again.
		s.waiting, s.startupErr = nil, ""
		s.typ = types[i]
		b.sinks = append(b.sinks, s)
	}
}

// sink returns the named sink's state, adding it when new; b.mu is held.
func (b *Board) sink(name string) *sinkState {
	for _, s := range b.sinks {
		if s.name == name {
			return s
		}
	}
	s := &sinkState{name: name}
	b.sinks = append(b.sinks, s)
	return s
}

func (b *Board) part(tenant, name, stream string) *partState {
	key := tenant + "/" + stream
	p := b.parts[key]
	if p == nil {
		p = &partState{tenant: tenant, stream: stream}
		b.parts[key] = p
	}
	if name != "" {
		p.name = name
	}
	return p
}

// Pulled records a page of n records fetched for tenant × stream at at.
func (b *Board) Pulled(tenant, name, stream string, n int, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	p.lastPull = at
	p.lastErr, p.lastErrAt = "", time.Time{}
	p.notAvailable = ""
	p.lastHour.add(at, int64(n))
	b.thru.add(at, int64(n))
	b.pulled += int64(n)
	b.mu.Unlock()
}

// Failed records an error pulling tenant × stream (it stays shown until the
// next successful page).
func (b *Board) Failed(tenant, name, stream, msg string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	p.lastErr, p.lastErrAt = redact.String(msg), at
	b.mu.Unlock()
}

// NotAvailable marks tenant × stream as not available (not licensed) with
// the reason; the next successful page clears it. It is not an error.
func (b *Board) NotAvailable(tenant, name, stream, reason string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	p.notAvailable = reason
	b.mu.Unlock()
}

// Committed records a checkpoint that reached disk.
func (b *Board) Committed(tenant, name, stream string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	if at.After(p.committed) {
		p.committed = at
	}
	b.mu.Unlock()
}

// maxGaps bounds the gaps the board keeps (the state dir keeps them all).
const maxGaps = 100

// Gap records a span of tenant × stream lost to the API's 24 h window: the
// row turns red and the page shows a banner.
func (b *Board) Gap(tenant, name, stream string, from, to time.Time, reason string, foundAt time.Time) {
	if b == nil {
		return
	}
	g := GapStatus{Tenant: tenant, Name: name, Stream: stream, From: from.UTC(), To: to.UTC(), Reason: reason, FoundAt: foundAt.UTC()}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	p.gap = &g
	b.gaps = append(b.gaps, g)
	if len(b.gaps) > maxGaps {
		b.gaps = append(b.gaps[:0:0], b.gaps[len(b.gaps)-maxGaps:]...)
	}
	b.mu.Unlock()
}

// Reconciled records the result of a reconciliation of tenant × stream.
func (b *Board) Reconciled(tenant, name, stream string, missing int64, detail string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	p := b.part(tenant, name, stream)
	p.reconcile = &ReconcileStatus{Complete: missing == 0, Missing: missing, Detail: detail, At: at.UTC()}
	b.mu.Unlock()
}

// SinkFailed records a sink's latest write error. It stays shown until the
// same delivery path delivers again (SinkDelivered).
func (b *Board) SinkFailed(name, msg string, at time.Time) {
	if b == nil {
		return
	}
	msg = redact.String(msg)
	b.mu.Lock()
	s := b.sink(name)
	s.lastErr, s.lastErrAt = msg, at
	b.mu.Unlock()
}

// SinkRouted records n records routed to the sink at at (or, for a disk
// buffer opened with records from an earlier run, found there).
func (b *Board) SinkRouted(name string, n int, at time.Time) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	s := b.sink(name)
	if k := len(s.waiting); k > 0 && s.waiting[k-1].at.Equal(at) {
		s.waiting[k-1].n += int64(n)
	} else {
		s.waiting = append(s.waiting, waitGroup{at, int64(n)})
	}
	b.mu.Unlock()
}

// SinkSettled records n of the sink's oldest waiting records settled
// (delivered or dead-lettered).
func (b *Board) SinkSettled(name string, n int) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	b.sink(name).settle(int64(n))
	b.mu.Unlock()
}

func (s *sinkState) settle(n int64) {
	for n > 0 && len(s.waiting) > 0 {
		w := &s.waiting[0]
		if w.n > n {
			w.n -= n
			return
		}
		n -= w.n
		s.waiting = s.waiting[1:]
	}
}

// SinkDelivered records n records that reached the destination at at: it
// settles them and clears the sink's error. Only the path that really
// delivers calls it: for a disk-buffered sink, the drainer, not the append
// to the buffer (which would hide a dead destination).
func (b *Board) SinkDelivered(name string, n int, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	s := b.sink(name)
	s.settle(int64(n))
	s.lastDelivered = at
	s.lastErr, s.lastErrAt = "", time.Time{}
	b.mu.Unlock()
}

// SinkStartup records the outcome of a sink's start-up check ("" passed).
func (b *Board) SinkStartup(name, errMsg string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	s := b.sink(name)
	s.startupErr = errMsg
	if errMsg != "" {
		s.lastErr, s.lastErrAt = errMsg, at
	}
	b.mu.Unlock()
}

// SinkHealth is what /metrics exports per sink: up (state ok) and the age of
// the oldest undelivered record (0 when none).
type SinkHealth struct {
	Name                     string
	Up                       bool
	OldestUndeliveredSeconds float64
}

// SinkHealth returns every listed sink's health as of now.
func (b *Board) SinkHealth(now time.Time) []SinkHealth {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SinkHealth, 0, len(b.sinks))
	for _, s := range b.sinks {
		h := SinkHealth{Name: s.name, Up: s.state(now, b.stallAfter) == SinkOK}
		if len(s.waiting) > 0 {
			h.OldestUndeliveredSeconds = max(now.Sub(s.waiting[0].at).Seconds(), 0)
		}
		out = append(out, h)
	}
	return out
}

// Healthy reports whether every sink is ok and no stream is failing (the
// page's banner is shown otherwise).
func (st Status) Healthy() bool {
	if st.Totals.FailingStreams > 0 || len(st.OrphanedBuffers) > 0 {
		return false
	}
	for _, s := range st.Sinks {
		if s.State != SinkOK {
			return false
		}
	}
	return true
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Snapshot returns the board as of now.
func (b *Board) Snapshot(now time.Time) Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := Status{
		Version: b.version, StartedAt: b.startedAt.UTC(), Now: now.UTC(), Identity: b.identity,
		Throughput: b.thru.series(now), Tenants: []TenantStatus{}, Sinks: []SinkStatus{},
		Gaps: append([]GapStatus{}, b.gaps...),
	}
	if b.member != nil {
		m := *b.member
		st.Member = &m
	}
	byTenant := map[string]*TenantStatus{}
	var order []string
	for _, p := range b.parts {
		t := byTenant[p.tenant]
		if t == nil {
			t = &TenantStatus{ID: p.tenant}
			byTenant[p.tenant] = t
			order = append(order, p.tenant)
		}
		if p.name != "" {
			t.Name = p.name
		}
		ss := StreamStatus{
			Stream: p.stream, LastPull: timePtr(p.lastPull), CheckpointAt: timePtr(p.committed),
			RecordsLastHour: p.lastHour.sum(now), LastError: p.lastErr, LastErrorAt: timePtr(p.lastErrAt), Band: BandNone,
			NotAvailable: p.notAvailable,
		}
		if p.gap != nil {
			g := *p.gap
			ss.Gap = &g
		}
		if p.reconcile != nil {
			rc := *p.reconcile
			ss.Reconcile = &rc
		}
		if !p.committed.IsZero() {
			age := now.Sub(p.committed)
			if age < 0 {
				age = 0
			}
			secs := age.Round(time.Second).Seconds()
			ss.CheckpointAgeSeconds = &secs
			ss.Band = BandFor(age)
		}
		if ss.LastError != "" {
			st.Totals.FailingStreams++
		}
		t.Streams = append(t.Streams, ss)
	}
	sort.Strings(order)
	for _, id := range order {
		t := byTenant[id]
		sort.Slice(t.Streams, func(i, j int) bool { return t.Streams[i].Stream < t.Streams[j].Stream })
		st.Tenants = append(st.Tenants, *t)
	}
	sort.SliceStable(st.Tenants, func(i, j int) bool {
		a, c := st.Tenants[i], st.Tenants[j]
		if a.Name != c.Name {
			return a.Name < c.Name
		}
		return a.ID < c.ID
	})
	st.Totals.Tenants = len(st.Tenants)
	st.Totals.RecordsPulled = b.pulled
	for _, s := range b.sinks {
		ss := SinkStatus{Name: s.name, Type: s.typ, LastError: s.lastErr, LastErrorAt: timePtr(s.lastErrAt),
			State: s.state(now, b.stallAfter), LastDelivered: timePtr(s.lastDelivered), Undelivered: s.undelivered()}
		if len(s.waiting) > 0 {
			age := max(now.Sub(s.waiting[0].at), 0).Round(time.Second).Seconds()
			ss.OldestUndeliveredSeconds = &age
		}
		if b.counters != nil {
			c := b.counters(s.name)
			ss.Delivered, ss.Queued, ss.BufferedBytes, ss.DeadLettered = c.Delivered, c.Queued, c.BufferedBytes, c.DeadLettered
		}
		st.Totals.Delivered += ss.Delivered
		st.Totals.DeadLettered += ss.DeadLettered
		st.Sinks = append(st.Sinks, ss)
	}
	return st
}
