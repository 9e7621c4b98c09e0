package emulator

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// bufPool holds page buffers; a 1000-item page is about 1 MB.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 16<<20 {
		return // don't keep outliers
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// recorder captures the status for the request counters.
type recorder struct {
	http.ResponseWriter
	status   int
	onAnswer func() // called once, as the answer starts
}

// answer runs onAnswer once.
func (r *recorder) answer() {
	if f := r.onAnswer; f != nil {
		r.onAnswer = nil
		f()
	}
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.answer()
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.answer()
	return r.ResponseWriter.Write(b)
}

// reqIDs returns a deterministic correlation id and request id.
func (s *Server) reqIDs() (string, string) {
	s.mu.Lock()
	s.reqSeq++
	n := s.reqSeq
	s.mu.Unlock()
	ch, cl := uuidOf(hash4(uint64(s.opts.Seed), 0xC0, n, 0))
	rh, rl := uuidOf(hash4(uint64(s.opts.Seed), 0xC1, n, 0))
	return uuidString(ch, cl), uuidString(rh, rl)
}

// errorNames maps statuses to the standard body's "error" value.
var errorNames = map[int]string{
	400: "badRequest", 401: "Unauthorized", 403: "Forbidden", 404: "notFound", 405: "methodNotAllowed",
	409: "conflict", 429: "tooManyRequests", 500: "internalServerError", 502: "badGateway",
	503: "serviceUnavailable", 504: "gatewayTimeout",
}

// writeError writes the standard error body of reference §1.4.
func (s *Server) writeError(w http.ResponseWriter, status int, message string) {
	corr, req := s.reqIDs()
	b := make([]byte, 0, 256)
	b = append(b, `{"error":`...)
	b = appendString(b, errorNames[status])
	if message != "" {
		b = append(b, `,"message":`...)
		b = appendString(b, message)
	}
	b = append(b, `,"correlationId":"`...)
	b = append(b, corr...)
	b = append(b, `","requestId":"`...)
	b = append(b, req...)
	b = append(b, `","createdAt":"`...)
	b = appendISO(b, s.nowMs())
	b = append(b, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeBody writes a JSON body. A successful body may be cut in half by the
// malformed fault.
func (s *Server) writeBody(w http.ResponseWriter, status int, b []byte) {
	if status < 300 && s.draw(s.opts.Faults.Malformed) {
		b = b[:len(b)/2]
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// draw reports true with probability p using the seeded fault RNG.
func (s *Server) draw(p float64) bool {
	if p <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.chance(p)
}

func (s *Server) drawInt(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.intn(n)
}

// injectFault applies slow, 503 and 429 faults; it reports whether it
// answered the request.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	f := &s.opts.Faults
	if f.Slow > 0 {
		t := time.NewTimer(f.Slow)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		case <-s.closed:
			t.Stop()
		}
	}
	s.mu.Lock()
	status, retryAfter := 0, ""
	switch {
	case s.burst > 0:
		s.burst--
		status = 503
	case f.Rate503 > 0 && s.rng.chance(f.Rate503):
		n := f.Burst503
		if n <= 0 {
			n = 3
		}
		s.burst = n - 1
		status = 503
	case f.Rate429 > 0 && s.rng.chance(f.Rate429):
		status = 429
		if s.rng.intn(2) == 0 {
			d := f.RetryAfter
			if d <= 0 {
				d = time.Second
			}
			retryAfter = strconv.Itoa(int((d + time.Second - 1) / time.Second))
		}
	}
	s.mu.Unlock()
	switch status {
	case 503:
		s.writeError(w, 503, "Service Unavailable")
		return true
	case 429:
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		s.writeError(w, 429, "Too many requests.")
		return true
	}
	return false
}
