package httpout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// MaxConcurrency bounds request.concurrency, fixed or adaptive: past it a
// receiver's queue grows, not its throughput.
const MaxConcurrency = 64

// Concurrency is the request.concurrency key: how many requests a sink keeps
// in flight. Adaptive (the zero value, written `adaptive`) finds the number
// itself; a positive value is a fixed limit.
type Concurrency int

// Adaptive is request.concurrency: adaptive.
const Adaptive Concurrency = 0

// UnmarshalYAML takes `adaptive` or a whole number from 1 to MaxConcurrency.
func (c *Concurrency) UnmarshalYAML(n *yaml.Node) error {
	// A FieldError with the line: the config loader names the key path
	// (sinks[0].request.concurrency) from it.
	if n.Kind != yaml.ScalarNode {
		return &config.FieldError{Line: n.Line, Msg: "write adaptive or a number of requests, e.g. 8"}
	}
	if n.Value == "adaptive" {
		*c = Adaptive
		return nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil || v < 1 || v > MaxConcurrency {
		return &config.FieldError{Line: n.Line, Msg: fmt.Sprintf("%q is not adaptive or a number from 1 to %d", n.Value, MaxConcurrency)}
	}
	*c = Concurrency(v)
	return nil
}

// MarshalYAML writes it as it is read.
func (c Concurrency) MarshalYAML() (any, error) {
	if c == Adaptive {
		return "adaptive", nil
	}
	return int(c), nil
}

// String is "adaptive" or the number.
func (c Concurrency) String() string {
	if c == Adaptive {
		return "adaptive"
	}
	return strconv.Itoa(int(c))
}

// JSONSchema is the key's schema (see schema.Build).
func (Concurrency) JSONSchema() map[string]any {
	return map[string]any{
		"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 1, "maximum": MaxConcurrency},
			map[string]any{"type": "string", "enum": []string{"adaptive"}},
			map[string]any{"type": "string", "pattern": `^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$`},
		},
		"default": "adaptive",
	}
}

// RequestConfig is the request block of every HTTP sink.
type RequestConfig struct {
	// Concurrency is how many requests are in flight at once: adaptive (the
	// default: from 1 up to 64, raised while the receiver's round-trip time
	// holds and lowered when it grows or the receiver answers 429/5xx or
	// times out) or a fixed number from 1 to 64.
	Concurrency Concurrency `yaml:"concurrency"`
}

// Describe is the block for `validate`.
func (r RequestConfig) Describe() string {
	if r.Concurrency == Adaptive {
		return fmt.Sprintf("request.concurrency=adaptive(1..%d)", MaxConcurrency)
	}
	return "request.concurrency=" + r.Concurrency.String()
}

// ARC's constants, as Vector's adaptive request concurrency has them: the
// weight of a new window in the RTT average, how far the limit falls on
// back-pressure, and how many standard deviations of RTT count as growth.
const (
	ewmaAlpha         = 0.4
	decreaseRatio     = 0.9
	rttDeviationScale = 2.5
)

// Limiter bounds a sink's requests in flight. Fixed, it is a semaphore.
// Adaptive, it is additive-increase/multiplicative-decrease on round-trip
// time, as Vector's adaptive request concurrency: once per window (the
// average RTT long) it compares the window's mean RTT with the moving
// average of past windows; it adds 1 to the limit when the window reached
// the limit with no back-pressure and an RTT not above the average, and
// multiplies it by 0.9 on back-pressure (429, 5xx, a timeout) or an RTT
// grown past the average by 2.5 standard deviations.
type Limiter struct {
	adaptive bool
	now      func() time.Time // a test's clock

	mu       sync.Mutex
	wake     chan struct{} // closed when a slot may have freed
	limit    int
	inFlight int
	maxSeen  int // the most requests in flight at once since ResetMaxInFlight
	batches  int // batches in a Write of the sink (AdmitBatch)
	parts    int // requests the last batch was cut into at once (NoteParts; 0: 1)

	// the adaptive state
	pastMean, pastVar float64 // EWMA of the windows' mean RTT (seconds) and its variance
	pastSet           bool
	curSum            float64
	curN              int
	nextUpdate        time.Time
	backPressure      bool // in this window
	reachedLimit      bool // in this window
}

// NewLimiter is the limiter of request.concurrency c.
func NewLimiter(c Concurrency) *Limiter {
	l := &Limiter{adaptive: c == Adaptive, limit: int(c), now: time.Now, wake: make(chan struct{})}
	if l.adaptive {
		l.limit = 1
	}
	return l
}

// Adaptive reports whether the limit adapts.
func (l *Limiter) Adaptive() bool { return l.adaptive }

// Limit is the current limit.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}

// InFlight is the number of requests in flight now.
func (l *Limiter) InFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight
}

// MaxInFlight is the most requests that were in flight at once since the
// last ResetMaxInFlight.
func (l *Limiter) MaxInFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxSeen
}

// ResetMaxInFlight starts a new observation of MaxInFlight.
func (l *Limiter) ResetMaxInFlight() {
	l.mu.Lock()
	l.maxSeen = l.inFlight
	l.mu.Unlock()
}

// Parts is how many requests a sink should offer at once for one batch: the
// limit, and one more while adapting so that the limit can be found
// reached (the signal to raise it).
func (l *Limiter) Parts() int {
	n := l.Limit()
	if l.adaptive && n < MaxConcurrency {
		n++
	}
	return n
}

// AdmitBatch waits until the sink may start encoding one more batch. The
// pipeline offers an HTTP sink up to MaxConcurrency batches at once
// (Requests.ConcurrentBatches); it lets in as many as fill the limit with
// their requests (the limit over the requests a batch is sent in at once,
// NoteParts), plus one, so that the next batch is encoded and going while
// the last requests of the others finish. The rest wait here, before their
// bodies are built: the memory of batches and requests follows the limit
// the receiver sustains. Call DoneBatch when the batch's Write returns.
func (l *Limiter) AdmitBatch(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.batches < l.batchRoom() {
			l.batches++
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// batchRoom is how many batches AdmitBatch lets in (l.mu held).
func (l *Limiter) batchRoom() int {
	parts := max(1, l.parts)
	return min((l.limit+parts-1)/parts+1, MaxConcurrency)
}

// BatchRoom is how many batches the sink takes into Write at once now.
func (l *Limiter) BatchRoom() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.batchRoom()
}

// NoteParts tells the limiter how many requests a batch was cut into to go
// at once (AdmitBatch's measure of how many batches fill the limit).
func (l *Limiter) NoteParts(n int) {
	l.mu.Lock()
	l.parts = n
	l.mu.Unlock()
}

// DoneBatch ends a batch AdmitBatch let in.
func (l *Limiter) DoneBatch() {
	l.mu.Lock()
	l.batches--
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// Acquire waits for a slot; release it with Release.
func (l *Limiter) Acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inFlight < l.limit {
			l.inFlight++
			l.maxSeen = max(l.maxSeen, l.inFlight)
			if l.inFlight >= l.limit {
				l.reachedLimit = true
			}
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Reserve takes a request slot before the request's body is built and
// compressed, so that the requests waiting for a slot — of every batch in
// Write — hold no body. The first request sent with the returned context
// uses the slot (the transport does not wait again); done gives it back if
// none did, and must be called when the caller is through.
func (l *Limiter) Reserve(ctx context.Context) (context.Context, func(), error) {
	if err := l.Acquire(ctx); err != nil {
		return ctx, func() {}, err
	}
	r := &reservation{l: l}
	done := func() {
		if r.used.CompareAndSwap(false, true) {
			l.Release(l.now(), Failed) // not a measurement
		}
	}
	return context.WithValue(ctx, reservationKey{}, r), done, nil
}

type reservationKey struct{}

type reservation struct {
	l    *Limiter
	used atomic.Bool
}

// reserved reports whether ctx holds an unused slot of l, and uses it.
func (l *Limiter) reserved(ctx context.Context) bool {
	r, ok := ctx.Value(reservationKey{}).(*reservation)
	return ok && r.l == l && r.used.CompareAndSwap(false, true)
}

// Outcome is what a request's answer says about the receiver's load.
type Outcome int

const (
	// Answered: the receiver answered; its RTT is a measurement.
	Answered Outcome = iota
	// BackPressure: 429, 5xx or a timeout: the receiver is overloaded.
	BackPressure
	// Failed: no usable answer that says anything about load (a refused
	// connection, a cancelled request).
	Failed
)

// Release frees the slot of a request started at start.
func (l *Limiter) Release(start time.Time, o Outcome) {
	now := l.now()
	l.mu.Lock()
	l.inFlight--
	if l.adaptive {
		l.adjust(now, now.Sub(start).Seconds(), o)
	}
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
}

// adjust is ARC's step for one answer (l.mu held).
func (l *Limiter) adjust(now time.Time, rtt float64, o Outcome) {
	switch o {
	case BackPressure:
		l.backPressure = true
	case Answered:
		l.curSum += rtt
		l.curN++
	}
	if !l.pastSet {
		if l.curN > 0 {
			l.pastMean, l.pastSet = l.curSum/float64(l.curN), true
			l.nextUpdate = now.Add(seconds(l.pastMean))
			l.curSum, l.curN = 0, 0
		}
		if !l.backPressure {
			return
		}
	}
	if now.Before(l.nextUpdate) {
		return
	}
	cur, haveCur := 0.0, l.curN > 0
	if haveCur {
		cur = l.curSum / float64(l.curN)
	}
	threshold := math.Sqrt(l.pastVar) * rttDeviationScale
	switch {
	case l.limit < MaxConcurrency && l.reachedLimit && !l.backPressure && haveCur && cur <= l.pastMean:
		l.limit++
	case l.limit > 1 && (l.backPressure || (haveCur && l.pastSet && cur >= l.pastMean+threshold)):
		l.limit = max(1, int(float64(l.limit)*decreaseRatio))
	}
	if haveCur {
		if l.pastSet {
			// EWMA of the mean and of the variance (as Vector's EwmaVar)
			d := cur - l.pastMean
			l.pastMean += ewmaAlpha * d
			l.pastVar = (1 - ewmaAlpha) * (l.pastVar + ewmaAlpha*d*d)
		} else {
			l.pastMean, l.pastSet = cur, true
		}
	}
	l.nextUpdate = now.Add(seconds(l.pastMean))
	l.curSum, l.curN, l.backPressure = 0, 0, false
	l.reachedLimit = l.inFlight >= l.limit
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// StatusOutcome is what an HTTP status says about the receiver's load.
func StatusOutcome(status int) Outcome {
	if status == http.StatusTooManyRequests || status >= 500 {
		return BackPressure
	}
	return Answered
}

// ErrOutcome is what a request that got no answer says: a timeout is
// back-pressure, anything else (a refused connection, a cancelled
// request) is not a measurement.
func ErrOutcome(err error) Outcome {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return BackPressure
	}
	return Failed
}

// Transport wraps an HTTP transport so that every request of the sink goes
// through l: at most the limit in flight, and each answer's status and
// round-trip time (to the response headers) adjust it.
func (l *Limiter) Transport(next http.RoundTripper) http.RoundTripper {
	return limitedTransport{l: l, next: next}
}

type limitedTransport struct {
	l    *Limiter
	next http.RoundTripper
}

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// (a slot reserved before the body was built is this request's)
	if !t.l.reserved(req.Context()) {
		if err := t.l.Acquire(req.Context()); err != nil {
			if req.Body != nil {
				req.Body.Close() // a RoundTripper must close the body, even on error
			}
			return nil, err
		}
	}
	start := t.l.now()
	res, err := t.next.RoundTrip(req)
	if err != nil {
		t.l.Release(start, ErrOutcome(err))
		return nil, err
	}
	t.l.Release(start, StatusOutcome(res.StatusCode))
	return res, nil
}

// CloseIdleConnections passes through (http.Client.CloseIdleConnections).
func (t limitedTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

var (
	limitDesc    = prometheus.NewDesc("sophos_connect_sink_request_concurrency_limit", "Requests an HTTP sink may have in flight now (request.concurrency: the fixed number, or adaptive's current limit).", []string{"sink", "mode"}, nil)
	inFlightDesc = prometheus.NewDesc("sophos_connect_sink_requests_in_flight", "Requests an HTTP sink has in flight now.", []string{"sink"}, nil)
)

// Requests is embedded by an HTTP sink: its limiter, which the sink's
// client passes every request through, reported as metrics under the
// sink's name (the sink becomes a prometheus.Collector, which the collector
// registers).
type Requests struct {
	Limiter *Limiter
	Sink    string
}

// Describe implements prometheus.Collector.
func (r Requests) Describe(ch chan<- *prometheus.Desc) {
	ch <- limitDesc
	ch <- inFlightDesc
}

// Collect reports the current limit and the requests in flight.
func (r Requests) Collect(ch chan<- prometheus.Metric) {
	l := r.Limiter
	l.mu.Lock()
	limit, n := l.limit, l.inFlight
	l.mu.Unlock()
	mode := "fixed"
	if l.adaptive {
		mode = "adaptive"
	}
	ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, float64(limit), r.Sink, mode)
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(n), r.Sink)
}

// ConcurrentBatches makes an HTTP sink a pipeline.ConcurrentSink: it takes
// as many batches at once as fill the limiter's current limit with their
// requests, plus one (BatchRoom, as AdmitBatch), so that the one limiter —
// fixed, or adaptive up to MaxConcurrency — governs the requests of all its
// batches together, and a batch waiting on a slow request does not hold up
// the next.
func (r Requests) ConcurrentBatches() int { return r.Limiter.BatchRoom() }
