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
	}
)

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
	name, typ string
	lastErr   string
	lastErrAt time.Time
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
}

// NewBoard starts a board at startedAt.
func NewBoard(version string, startedAt time.Time) *Board {
	return &Board{version: version, startedAt: startedAt, parts: map[string]*partState{}}
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
	defer b.mu.Unlock()
	for _, s := range b.sinks {
		if s.name == name {
			s.typ = typ
			return
		}
	}
	b.sinks = append(b.sinks, &sinkState{name: name, typ: typ})
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
	p.lastErr, p.lastErrAt = msg, at
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

// SinkFailed records a sink's latest write error.
func (b *Board) SinkFailed(name, msg string, at time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.sinks {
		if s.name == name {
			s.lastErr, s.lastErrAt = msg, at
			return
		}
	}
	b.sinks = append(b.sinks, &sinkState{name: name, lastErr: msg, lastErrAt: at})
}

// SinkRecovered clears a sink's error after a successful write.
func (b *Board) SinkRecovered(name string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	for _, s := range b.sinks {
		if s.name == name && s.lastErr != "" {
			s.lastErr, s.lastErrAt = "", time.Time{}
		}
	}
	b.mu.Unlock()
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
		ss := SinkStatus{Name: s.name, Type: s.typ, LastError: s.lastErr, LastErrorAt: timePtr(s.lastErrAt)}
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
