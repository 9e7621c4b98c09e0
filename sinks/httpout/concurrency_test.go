package httpout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// TestLimiterAIMD drives the adaptive limiter on a simulated clock: with a
// steady RTT and the limit always in use it adds exactly one per window
// (one RTT); back-pressure multiplies it by 0.9 (rounded down) once per
// window down to 1; an RTT that jumps far above its average cuts it too.
// A fixed limiter never moves.
func TestLimiterAIMD(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(Adaptive)
	l.now = func() time.Time { return now }
	// round fills the limit, lets rtt pass, and answers every request with o
	round := func(rtt time.Duration, o Outcome) {
		n := l.Limit()
		starts := make([]time.Time, n)
		for i := range n {
			if err := l.Acquire(context.Background()); err != nil {
				t.Fatal(err)
			}
			starts[i] = now
		}
		now = now.Add(rtt)
		for i := range n {
			l.Release(starts[i], o)
		}
	}
	if l.Limit() != 1 || l.Parts() != 2 {
		t.Fatalf("start: limit %d parts %d, want 1 and 2", l.Limit(), l.Parts())
	}
	var traj []int
	for range 12 {
		round(10*time.Millisecond, Answered)
		traj = append(traj, l.Limit())
	}
	// the first round only sets the average; then one more per window
	if want := "[1 2 3 4 5 6 7 8 9 10 11 12]"; fmt.Sprint(traj) != want {
		t.Fatalf("steady RTT: limits %v, want %s", traj, want)
	}
	if l.MaxInFlight() != 11 {
		t.Fatalf("max in flight %d, want 11 (the last round's limit)", l.MaxInFlight())
	}
	traj = traj[:0]
	for range 4 {
		round(10*time.Millisecond, BackPressure)
		traj = append(traj, l.Limit())
	}
	if want := "[10 9 8 7]"; fmt.Sprint(traj) != want { // 12*0.9=10.8 → 10, 9, 8.1 → 8, 7.2 → 7
		t.Fatalf("back-pressure: limits %v, want %s", traj, want)
	}
	for range 30 {
		round(10*time.Millisecond, BackPressure)
	}
	if l.Limit() != 1 {
		t.Fatalf("sustained back-pressure: limit %d, want 1", l.Limit())
	}
	for range 5 {
		round(10*time.Millisecond, Answered)
	}
	before := l.Limit()
	round(200*time.Millisecond, Answered) // the receiver slowed down 20×
	if l.Limit() >= before {
		t.Fatalf("RTT jumped 20×: limit %d, was %d", l.Limit(), before)
	}

	f := NewLimiter(8)
	f.now = l.now
	l = f
	for range 5 {
		round(time.Millisecond, Answered)
		round(time.Millisecond, BackPressure)
	}
	if f.Limit() != 8 || f.Parts() != 8 || f.MaxInFlight() != 8 {
		t.Fatalf("fixed 8: limit %d parts %d max %d", f.Limit(), f.Parts(), f.MaxInFlight())
	}
}

// receiverState is an HTTP receiver whose behaviour a test switches:
// fast (2 ms per request, however many come at once), slow (one request
// at a time, 10 ms each: its RTT grows with the requests in flight) or busy
// (429). It counts the requests in flight.
type receiverState struct {
	mode     atomic.Value // "fast", "slow", "busy"
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	serial   sync.Mutex
}

func (rs *receiverState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := rs.inFlight.Add(1)
	defer rs.inFlight.Add(-1)
	for {
		m := rs.maxSeen.Load()
		if n <= m || rs.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	io.Copy(io.Discard, r.Body)
	switch rs.mode.Load() {
	case "fast":
		time.Sleep(2 * time.Millisecond)
	case "busy":
		w.WriteHeader(http.StatusTooManyRequests)
	case "slow":
		rs.serial.Lock()
		time.Sleep(10 * time.Millisecond)
		rs.serial.Unlock()
	}
}

// TestAdaptiveConcurrencyOverHTTP: a sink's batches (32 requests each,
// offered as SettleConcurrently offers them) through a limited client. On
// a fast receiver the requests in flight — as the limiter and the receiver
// both observe them — rise well above 1; when the receiver starts
// answering 429 they fall to 1 and stay there; when it slows down (one
// request at a time) the limit falls below where it was.
func TestAdaptiveConcurrencyOverHTTP(t *testing.T) {
	rs := &receiverState{}
	rs.mode.Store("fast")
	srv := httptest.NewServer(rs)
	defer srv.Close()
	lim := NewLimiter(Adaptive)
	client, err := NewLimitedClient(config.TLS{}, 10*time.Second, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	e := encoded(make([]int, 32)...)
	spans := make([]Span, 32)
	for i := range spans {
		spans[i] = Span{i, i + 1}
	}
	var lowest atomic.Int32
	lowest.Store(MaxConcurrency)
	send := func(ctx context.Context, sp Span) Result {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("x"))
		res, err := client.Do(req)
		if err != nil {
			return Fail(Retry, err)
		}
		ReadBody(res)
		for { // the lowest limit after an answer
			l, n := lowest.Load(), int32(lim.Limit())
			if n >= l || lowest.CompareAndSwap(l, n) {
				break
			}
		}
		if res.StatusCode != 200 {
			return Fail(Retry, fmt.Errorf("%d", res.StatusCode))
		}
		return Ok()
	}
	// batch writes one batch and returns the most requests in flight
	batch := func() int {
		lim.ResetMaxInFlight()
		SettleConcurrently(context.Background(), e, spans, lim.Parts(), send)
		return lim.MaxInFlight()
	}

	// Under load an RTT spike may take the limit down a step at any time:
	// what must hold is that it gets to 8 and batches then overlap that
	// far, not that it stays there.
	var fast []int
	reached := false
	for i := 0; i < 2000 && !reached; i++ {
		fast = append(fast, batch())
		reached = lim.Limit() >= 8
	}
	peak := 0
	for range 5 {
		peak = max(peak, batch())
	}
	if !reached || peak < 6 || rs.maxSeen.Load() < 6 || fast[0] > 2 {
		t.Fatalf("fast receiver: limit %d (reached 8: %v), receiver saw at most %d in flight; per batch %v then at most %d", lim.Limit(), reached, rs.maxSeen.Load(), fast, peak)
	}
	t.Logf("fast: in flight per batch %v, then %d (limit %d)", fast, peak, lim.Limit())

	rs.mode.Store("busy")
	var busy []int
	for i := 0; i < 300 && lim.Limit() > 1; i++ {
		busy = append(busy, batch())
	}
	for range 5 {
		busy = append(busy, batch())
	}
	if lim.Limit() != 1 || busy[len(busy)-1] != 1 {
		t.Fatalf("429s: limit %d, in flight per batch %v", lim.Limit(), busy)
	}
	t.Logf("429: in flight per batch %v", busy)

	rs.mode.Store("fast")
	for i := 0; i < 2000 && lim.Limit() < 8; i++ {
		batch()
	}
	atSwitch := lim.Limit()
	if atSwitch < 2 {
		t.Fatalf("fast again: the limit stayed at %d", atSwitch)
	}
	rs.mode.Store("slow")
	lowest.Store(int32(atSwitch))
	var slow []int
	for range 6 {
		slow = append(slow, batch())
	}
	if int(lowest.Load()) >= atSwitch {
		t.Fatalf("slowed down: the limit never fell below %d; in flight per batch %v", atSwitch, slow)
	}
	t.Logf("slow: limit %d at the switch, down to %d; in flight per batch %v", atSwitch, lowest.Load(), slow)
}

// TestConcurrencyKey: request.concurrency takes adaptive or 1..64 and says
// what else it would take.
func TestConcurrencyKey(t *testing.T) {
	for src, want := range map[string]string{"adaptive": "adaptive", "1": "1", "64": "64"} {
		var rc RequestConfig
		if err := yaml.Unmarshal([]byte("concurrency: "+src), &rc); err != nil || rc.Concurrency.String() != want {
			t.Errorf("%s: %v %v", src, rc.Concurrency, err)
		}
	}
	for _, src := range []string{"0", "65", "auto", "[1]", "-3"} {
		var rc RequestConfig
		if err := yaml.Unmarshal([]byte("concurrency: "+src), &rc); err == nil || !strings.Contains(err.Error(), "adaptive") {
			t.Errorf("%s: %v", src, err)
		}
	}
	if d := (RequestConfig{}).Describe(); d != "request.concurrency=adaptive(1..64)" {
		t.Errorf("describe %q", d)
	}
}

// TestLimitMetric: the limit and the requests in flight are reported under
// the sink's name.
func TestLimitMetric(t *testing.T) {
	lim := NewLimiter(Adaptive)
	lim.Acquire(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(Requests{Limiter: lim, Sink: "siem"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		got[mf.GetName()] = fmt.Sprintf("%v %v", m.GetGauge().GetValue(), m.GetLabel())
	}
	if !strings.HasPrefix(got["sophos_connect_sink_request_concurrency_limit"], "1 ") ||
		!strings.Contains(got["sophos_connect_sink_request_concurrency_limit"], `value:"adaptive"`) ||
		!strings.HasPrefix(got["sophos_connect_sink_requests_in_flight"], "1 ") ||
		!strings.Contains(got["sophos_connect_sink_requests_in_flight"], `value:"siem"`) {
		t.Fatalf("metrics %v", got)
	}
}

// TestConcurrentBatches: an HTTP sink takes as many batches at once as
// fill its current limit with their requests, plus one — fixed 1: two (the
// next encoded while the one request is out); fixed 4, one request a batch:
// five, four a batch: two; fixed 64: 64 at most; adaptive at its start
// (limit 1): two.
func TestConcurrentBatches(t *testing.T) {
	for _, tc := range []struct {
		c           Concurrency
		parts, want int
	}{{1, 1, 2}, {4, 1, 5}, {4, 4, 2}, {MaxConcurrency, 1, MaxConcurrency}, {Adaptive, 1, 2}} {
		r := Requests{Limiter: NewLimiter(tc.c), Sink: "s"}
		r.Limiter.NoteParts(tc.parts)
		if got := r.ConcurrentBatches(); got != tc.want {
			t.Errorf("request.concurrency %s, %d requests a batch: %d batches at once, want %d", tc.c, tc.parts, got, tc.want)
		}
	}
}

// TestAdmitBatch: a sink lets in as many batches as fill the limit with
// their requests, plus one — fixed 2 with one request a batch: three;
// fixed 4 with batches of 4 requests: two; adaptive (limit 1 at first):
// two — and a waiting batch goes in when one is done.
func TestAdmitBatch(t *testing.T) {
	for _, tc := range []struct {
		c     Concurrency
		parts int
		want  int
	}{{2, 1, 3}, {4, 4, 2}, {8, 3, 4}, {Adaptive, 1, 2}} {
		l := NewLimiter(tc.c)
		l.NoteParts(tc.parts)
		ctx := context.Background()
		for range tc.want {
			if err := l.AdmitBatch(ctx); err != nil {
				t.Fatal(err)
			}
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if err := l.AdmitBatch(short); err == nil {
			t.Fatalf("%s, %d parts: batch %d let in, want %d at most", tc.c, tc.parts, tc.want+1, tc.want)
		}
		cancel()
		admitted := make(chan error, 1)
		go func() { admitted <- l.AdmitBatch(ctx) }()
		l.DoneBatch()
		select {
		case err := <-admitted:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the waiting batch was not let in when one was done", tc.c)
		}
	}
}

// TestReserve: a slot reserved before a body is built is the next
// request's (with a limit of 1 the request goes without waiting for a
// second slot), and done gives back a slot no request used.
func TestReserve(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	l := NewLimiter(1)
	client := &http.Client{Transport: l.Transport(http.DefaultTransport)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rctx, done, err := l.Reserve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.InFlight(); n != 1 {
		t.Fatalf("%d in flight after Reserve, want 1", n)
	}
	req, _ := http.NewRequestWithContext(rctx, http.MethodPost, srv.URL, strings.NewReader("x"))
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("the request with the reserved slot: %v", err)
	}
	res.Body.Close()
	done()
	if n := l.InFlight(); n != 0 {
		t.Fatalf("%d in flight after the request and done, want 0", n)
	}
	_, done, _ = l.Reserve(ctx)
	done()
	if n := l.InFlight(); n != 0 {
		t.Fatalf("%d in flight after an unused reservation's done, want 0", n)
	}
}
