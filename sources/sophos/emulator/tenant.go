package emulator

import (
	"sort"
	"strings"
	"sync"
	"time"
)

// streamID names a SIEM stream.
type streamID int

const (
	sEvents streamID = iota
	sAlerts
)

func parseStreamName(s string) (streamID, bool) {
	switch strings.ToLower(s) {
	case "event", "events":
		return sEvents, true
	case "alert", "alerts":
		return sAlerts, true
	}
	return 0, false
}

// item is one SIEM item's coordinates: its order key (ms, id) and the key
// its content is generated from. alert says the content is an alert
// incident (always for the alerts stream; for events, the event twin of an
// alert).
type item struct {
	ms     int64
	hi, lo uint64
	key    uint64
	alert  bool
}

// pos is a position in a stream: items strictly after (ms, hi, lo) follow.
// A position without an id (a time watermark) has hi = lo = maxU64.
type pos struct {
	ms     int64
	hi, lo uint64
}

func (it item) after(p pos) bool {
	if it.ms != p.ms {
		return it.ms > p.ms
	}
	if it.hi != p.hi {
		return it.hi > p.hi
	}
	return it.lo > p.lo
}

func (it item) less(o item) bool {
	if it.ms != o.ms {
		return it.ms < o.ms
	}
	if it.hi != o.hi {
		return it.hi < o.hi
	}
	return it.lo < o.lo
}

func (it item) pos() pos { return pos{it.ms, it.hi, it.lo} }

// tenant holds one tenant's identity, devices and streams. The backlog is
// implicit: item i of a stream is computed from (seed, tenant, stream, i),
// with created_at strictly increasing in i, so nothing is stored per item.
// Items that arrive later (Rate, AddItems, late arrivals) are kept as small
// sorted entries (coordinates only, never JSON).
type tenant struct {
	srv     *Server
	idx     int
	key     uint64
	id      string
	hi, lo  uint64
	name    string
	showAs  string
	region  region
	billing string
	domain  string
	startMs int64
	ne, na  int64 // backlog sizes

	hosts    []*endpoint
	winHosts []int

	mu           sync.RWMutex
	extra        [2][]item // arrivals per stream, sorted
	extraCount   [2]int64  // arrivals generated so far (content index)
	ticks        int64     // Rate ticks materialized
	lastBatchMs  int64
	acks         map[[2]uint64]bool
	globalTamper bool
	alertByID    map[[2]uint64]item // lazily built for the Common API
	withheld     map[[2]uint64]bool // alerts the SIEM stream never serves (WithholdAlerts)

	x xdrState // detections and cases (xdr_model.go)
}

func newTenant(s *Server, idx int, startMs int64) *tenant {
	o := &s.opts
	t := &tenant{srv: s, idx: idx, startMs: startMs, ne: int64(o.Events), na: int64(o.Alerts), acks: map[[2]uint64]bool{}}
	if s.kindOf(idx) == KindMDR {
		t.na = 0 // MDR: findings are raised as cases, the alert feeds stay empty
	}
	t.key = hash4(uint64(o.Seed), 0x7E4A, uint64(idx), 0)
	t.hi, t.lo = uuidOf(t.key)
	t.id = uuidString(t.hi, t.lo)
	t.name = tenantNames[idx%len(tenantNames)]
	if idx >= len(tenantNames) {
		t.name += " " + itoa(idx/len(tenantNames)+1)
	}
	if o.Partner || o.Organization {
		t.region = regions[idx%len(regions)]
	} else {
		t.region = regions[0]
	}
	t.showAs = t.name
	if idx%3 == 0 {
		t.showAs = t.name + " (" + strings.ToUpper(t.region.id[:2]) + ")"
	}
	t.billing = billingTypes[idx%len(billingTypes)]
	w := strings.Fields(t.name)[0]
	w = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 32
		}
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, w)
	if len(w) > 15 {
		w = w[:15]
	}
	t.domain = w
	// Global tamper protection is on, except on every third partner tenant
	// (so the "enable while globally off" rule can be exercised).
	t.globalTamper = idx%3 != 2
	t.hosts = newEndpoints(t, startMs)
	for i, h := range t.hosts {
		if h.platform == "windows" {
			t.winHosts = append(t.winHosts, i)
		}
	}
	return t
}

func itoa(v int) string { return string(appendInt(nil, int64(v))) }

func (t *tenant) admin() *actor {
	h, l := uuidOf(hash4(t.key, 0xAD, 0, 0))
	return &actor{ID: uuidString(h, l), Type: "user", Name: "SOC Admin", AccountType: "tenant", AccountID: t.id}
}

// --- backlog arithmetic -----------------------------------------------------

const spanMs = int64(backlogSpan / time.Millisecond)

// slotMs returns the created_at of backlog item i of n: a random millisecond
// inside slot i, so times look irregular yet strictly increase with i.
func (t *tenant) slotMs(salt uint64, i, n int64) int64 {
	base := t.startMs - spanMs
	lo := base + i*spanMs/n
	hi := base + (i+1)*spanMs/n
	return lo + int64(hash4(t.key, salt, 0, uint64(i))%uint64(hi-lo))
}

func (t *tenant) eventMs(j int64) int64 { return t.slotMs(0x7157, j, t.ne) }

// alertOfEvent reports which backlog alert event j is the twin of.
func (t *tenant) alertOfEvent(j int64) (int64, bool) {
	if t.na == 0 || t.ne == 0 {
		return 0, false
	}
	k := (j*t.na + t.ne - 1) / t.ne
	return k, k < t.na && k*t.ne/t.na == j
}

func (t *tenant) alertKey(k int64) uint64 { return hash4(t.key, 2, 0, uint64(k)) }
func (t *tenant) eventKey(j int64) uint64 { return hash4(t.key, 1, 0, uint64(j)) }

// alertMs: an alert is raised a few milliseconds after its event, before
// the next event, so alerts too strictly increase.
func (t *tenant) alertMs(k int64) int64 {
	if t.ne == 0 {
		return t.slotMs(0xA1E7, k, t.na)
	}
	j := k * t.ne / t.na
	e := t.eventMs(j)
	next := t.startMs
	if j+1 < t.ne {
		next = t.eventMs(j + 1)
	}
	gap := next - e
	if gap <= 1 {
		return e
	}
	return e + 1 + int64(hash4(t.key, 0xA1E7, 1, uint64(k))%uint64(min(gap-1, 400)))
}

// backlogItem returns item i of the stream's backlog.
func (t *tenant) backlogItem(s streamID, i int64) item {
	var it item
	if s == sAlerts {
		it.ms = t.alertMs(i)
		it.key = t.alertKey(i)
		it.alert = true
	} else {
		it.ms = t.eventMs(i)
		if k, ok := t.alertOfEvent(i); ok {
			it.key, it.alert = t.alertKey(k), true
		} else {
			it.key = t.eventKey(i)
		}
	}
	it.hi, it.lo = uuidOf(it.key)
	return it
}

func (t *tenant) backlogLen(s streamID) int64 {
	if s == sAlerts {
		return t.na
	}
	return t.ne
}

// --- iteration ---------------------------------------------------------------

// iter walks a stream in (created_at, id) order from a position, merging the
// implicit backlog with the arrival entries. The caller holds t.mu (read).
type iter struct {
	t     *tenant
	s     streamID
	bi, n int64
	cur   item
	have  bool
	extra []item
	ei    int
}

func (t *tenant) iterAfter(s streamID, p pos) *iter {
	it := &iter{t: t, s: s, n: t.backlogLen(s), extra: t.extra[s]}
	it.bi = int64(sort.Search(int(it.n), func(i int) bool {
		// Backlog times strictly increase, so compare times first and
		// only build the id on a tie.
		ms := t.backlogMs(s, int64(i))
		if ms != p.ms {
			return ms > p.ms
		}
		return t.backlogItem(s, int64(i)).after(p)
	}))
	it.ei = sort.Search(len(it.extra), func(i int) bool { return it.extra[i].after(p) })
	return it
}

func (t *tenant) backlogMs(s streamID, i int64) int64 {
	if s == sAlerts {
		return t.alertMs(i)
	}
	return t.eventMs(i)
}

// peek returns the next item without consuming it.
func (it *iter) peek() (item, bool) {
	if !it.have && it.bi < it.n {
		it.cur = it.t.backlogItem(it.s, it.bi)
		it.have = true
	}
	switch {
	case it.have && it.ei < len(it.extra):
		if it.extra[it.ei].less(it.cur) {
			return it.extra[it.ei], true
		}
		return it.cur, true
	case it.have:
		return it.cur, true
	case it.ei < len(it.extra):
		return it.extra[it.ei], true
	}
	return item{}, false
}

// next consumes the item peek returned.
func (it *iter) next() (item, bool) {
	x, ok := it.peek()
	if !ok {
		return x, false
	}
	if it.ei < len(it.extra) && it.extra[it.ei] == x {
		it.ei++
	} else {
		it.bi++
		it.have = false
	}
	return x, true
}

// --- arrivals -----------------------------------------------------------------

// advance materializes the items Options.Rate made arrive up to now. Tick k
// is due at start + (k+1)/rate; every 11th tick is an alert (with its event
// twin), the others events.
func (t *tenant) advance(nowMs int64) {
	rate := t.srv.opts.Rate
	if rate <= 0 {
		return
	}
	due := int64(float64(nowMs-t.startMs) / 1000 * rate)
	t.mu.RLock()
	done := t.ticks
	t.mu.RUnlock()
	if due <= done {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	floor := t.lastBatchMs + 1
	last := t.lastBatchMs
	for k := t.ticks; k < due; k++ {
		ms := max(t.startMs+int64(float64(k+1)*1000/rate), floor)
		if k%11 == 10 {
			t.arriveAlert(ms)
		} else {
			t.arriveEvent(ms)
		}
		last = max(last, ms)
	}
	t.ticks = due
	t.lastBatchMs = last
	t.prune(nowMs)
}

// prune forgets arrivals that left the 24 h window more than an hour ago,
// so a long -rate run keeps bounded memory (caller holds t.mu).
func (t *tenant) prune(nowMs int64) {
	cutoff := nowMs - windowMs - 3600_000
	for s := range t.extra {
		ex := t.extra[s]
		i := sort.Search(len(ex), func(i int) bool { return ex[i].ms >= cutoff })
		if i < 4096 || i < len(ex)/8 {
			continue // amortize the copy
		}
		if s == int(sAlerts) && t.alertByID != nil {
			for _, x := range ex[:i] {
				delete(t.alertByID, [2]uint64{x.hi, x.lo})
			}
		}
		t.extra[s] = append(ex[:0:0], ex[i:]...)
	}
}

// addNow makes n items of a stream arrive now (AddItems). The batch gets a
// millisecond after every earlier arrival, so nothing lands behind a cursor
// a client already holds (late arrivals are a separate fault).
func (t *tenant) addNow(s streamID, n int, nowMs int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := max(nowMs, t.lastBatchMs+1)
	for range n {
		if s == sAlerts {
			t.arriveAlert(ms)
		} else {
			t.arriveEvent(ms)
		}
	}
	t.lastBatchMs = ms
}

// arriveEvent appends a new plain event at ms (caller holds t.mu).
func (t *tenant) arriveEvent(ms int64) item {
	it := item{ms: ms, key: t.eventKey(t.ne + t.extraCount[sEvents])}
	t.extraCount[sEvents]++
	it.hi, it.lo = uuidOf(it.key)
	t.insert(sEvents, it)
	return it
}

// arriveAlert appends a new alert and its event twin at ms (caller holds t.mu).
func (t *tenant) arriveAlert(ms int64) item {
	if t.srv.kindOf(t.idx) == KindMDR {
		return t.arriveEvent(ms) // MDR tenants raise no alerts
	}
	it := item{ms: ms, key: t.alertKey(t.na + t.extraCount[sAlerts]), alert: true}
	t.extraCount[sAlerts]++
	it.hi, it.lo = uuidOf(it.key)
	t.insert(sAlerts, it)
	t.insert(sEvents, it)
	if t.alertByID != nil {
		t.alertByID[[2]uint64{it.hi, it.lo}] = it
	}
	return it
}

func (t *tenant) insert(s streamID, it item) {
	ex := t.extra[s]
	if n := len(ex); n == 0 || ex[n-1].less(it) {
		t.extra[s] = append(ex, it)
		return
	}
	i := sort.Search(len(ex), func(i int) bool { return it.less(ex[i]) })
	ex = append(ex, item{})
	copy(ex[i+1:], ex[i:])
	ex[i] = it
	t.extra[s] = ex
}

// lateArrival inserts an item created up to two minutes ago: behind the
// watermark of a client that has caught up, so it never sees it (the API
// pitfall from_date_offset_minutes exists for).
func (t *tenant) lateArrival(s streamID, nowMs int64, back int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := max(nowMs-back, nowMs-int64(window/time.Millisecond)+1)
	if s == sAlerts {
		t.arriveAlert(ms)
	} else {
		t.arriveEvent(ms)
	}
}

// withhold picks n alerts in the window, spread over it, that the SIEM
// alerts stream will never serve, and returns their ids.
func (t *tenant) withhold(n int, nowMs int64) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []item
	it := t.iterAfter(sAlerts, pos{nowMs - windowMs - 1, maxU64, maxU64})
	for {
		x, ok := it.next()
		if !ok {
			break
		}
		if !t.withheld[[2]uint64{x.hi, x.lo}] {
			all = append(all, x)
		}
	}
	n = min(n, len(all))
	if t.withheld == nil {
		t.withheld = map[[2]uint64]bool{}
	}
	out := make([]string, 0, n)
	for i := range n {
		x := all[(2*i+1)*len(all)/(2*n)]
		t.withheld[[2]uint64{x.hi, x.lo}] = true
		out = append(out, uuidString(x.hi, x.lo))
	}
	return out
}

// ids returns every item id visible now (created_at within the 24 h window),
// in served order.
func (t *tenant) ids(s streamID, nowMs int64) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	it := t.iterAfter(s, pos{nowMs - int64(window/time.Millisecond) - 1, maxU64, maxU64})
	var out []string
	buf := make([]byte, 0, 36)
	for {
		x, ok := it.next()
		if !ok {
			return out
		}
		if s == sAlerts && t.withheld[[2]uint64{x.hi, x.lo}] {
			continue // the SIEM stream never serves it
		}
		out = append(out, string(appendUUID(buf[:0], x.hi, x.lo)))
	}
}
