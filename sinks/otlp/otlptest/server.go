// Package otlptest is an OTLP/HTTP logs receiver for the otlp sink's tests:
// POST /v1/logs in protobuf or JSON, gzip'd or not, answered as the OTLP
// specification has it (ExportLogsServiceResponse in the request's
// encoding, partial_success, google.rpc.Status failure bodies, 429/503 with
// Retry-After), with scripted faults. The end-to-end proof is the real
// OpenTelemetry Collector (collector_test.go); this server plays the answers
// a collector cannot be made to give on demand.
package otlptest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// Options configure the server.
type Options struct {
	// Token, when set, is the bearer token every request must carry (401
	// otherwise).
	Token string
	// Header, when set, is a header (name: value) every request must carry.
	Header [2]string
	// TLS serves https with a test certificate.
	TLS bool
}

// Faults script the next answers.
type Faults struct {
	Busy503, Throttle429 int
	// FaultAfter answers that many requests normally before the 503s,
	// 429s or the partial success (a fault in the middle of a batch's
	// requests).
	FaultAfter    int
	BadGateway502 int
	RetryAfter    string // Retry-After on the 429/503 answers
	// Partial makes the next request a partial success that rejects this
	// many records (the server keeps the others, and drops the last
	// Partial records of the request, as a receiver that rejects them would).
	Partial int
	// RejectIDs answers 400 to every request holding one of these ids.
	RejectIDs []string
	// Status answers every request with this status (0: off).
	Status int
}

// Stats count what happened.
type Stats struct {
	Requests int
	Status   map[int]int
	Records  int
}

// Server is the receiver.
type Server struct {
	URL string
	srv *httptest.Server
	o   Options

	mu     sync.Mutex
	faults Faults
	stats  Stats
	ids    map[string]int
	logs   []*logspb.ResourceLogs
	ctypes map[string]int
}

// New starts a server on loopback.
func New(o Options) *Server {
	s := &Server{o: o, ids: map[string]int{}, ctypes: map[string]int{}, stats: Stats{Status: map[int]int{}}}
	if o.TLS {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.handle))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	}
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Client trusts the server's certificate.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Certificate is the TLS certificate (Options.TLS).
func (s *Server) Certificate() []byte { return s.srv.Certificate().Raw }

// SetFaults replaces the scripted faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// IDs returns how many times each record id (attribute log.record.uid) was
// kept.
func (s *Server) IDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ids))
	for k, v := range s.ids {
		out[k] = v
	}
	return out
}

// ResourceLogs returns every resource kept, in arrival order.
func (s *Server) ResourceLogs() []*logspb.ResourceLogs {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*logspb.ResourceLogs(nil), s.logs...)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Status = map[int]int{}
	for k, v := range s.stats.Status {
		st.Status[k] = v
	}
	return st
}

// ContentTypes counts the requests by Content-Type.
func (s *Server) ContentTypes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.ctypes {
		out[k] = v
	}
	return out
}

// RecordID is a LogRecord's log.record.uid attribute.
func RecordID(lr *logspb.LogRecord) string {
	for _, kv := range lr.Attributes {
		if kv.Key == "log.record.uid" {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	jsonReq := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	// the body is read and decoded outside the lock: concurrent requests
	// are served concurrently, as a collector serves them
	answer := func(status int, msg string) {
		s.mu.Lock()
		s.stats.Status[status]++
		s.mu.Unlock()
		if jsonReq {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "application/x-protobuf")
		}
		w.WriteHeader(status)
		w.Write(encodeStatus(jsonReq, int(codeFor(status)), msg))
	}
	s.mu.Lock()
	s.stats.Requests++
	s.ctypes[r.Header.Get("Content-Type")]++
	s.mu.Unlock()
	if r.URL.Path != "/v1/logs" {
		answer(http.StatusNotFound, "no such path "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		answer(http.StatusMethodNotAllowed, "POST only")
		return
	}
	if s.o.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.o.Token {
		answer(http.StatusUnauthorized, "bad or missing bearer token")
		return
	}
	if s.o.Header[0] != "" && r.Header.Get(s.o.Header[0]) != s.o.Header[1] {
		answer(http.StatusUnauthorized, "missing header "+s.o.Header[0])
		return
	}
	ct := r.Header.Get("Content-Type")
	if !jsonReq && ct != "application/x-protobuf" {
		answer(http.StatusUnsupportedMediaType, "unsupported content type "+ct)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			answer(http.StatusBadRequest, "bad gzip: "+err.Error())
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		answer(http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	var req logspb.LogsData // wire-identical to ExportLogsServiceRequest
	if jsonReq {
		err = protojson.Unmarshal(raw, &req)
	} else {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil {
		answer(http.StatusBadRequest, "decoding the request: "+err.Error())
		return
	}
	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	// refuse answers with the lock released (answer takes it)
	refuse := func(status int, msg string) {
		s.mu.Unlock()
		locked = false
		answer(status, msg)
	}
	f := &s.faults
	if f.Status != 0 {
		refuse(f.Status, "scripted")
		return
	}
	if c := outtest.NextFaultAfter(&f.FaultAfter, &f.Busy503, &f.Throttle429); c != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		refuse(c, "scripted fault")
		return
	}
	if f.BadGateway502 > 0 {
		f.BadGateway502--
		refuse(http.StatusBadGateway, "scripted fault")
		return
	}
	var recs []*logspb.LogRecord
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			recs = append(recs, sl.LogRecords...)
		}
	}
	for _, lr := range recs {
		for _, bad := range f.RejectIDs {
			if RecordID(lr) == bad {
				refuse(http.StatusBadRequest, fmt.Sprintf("record %s: invalid", bad))
				return
			}
		}
	}
	drop := map[*logspb.LogRecord]bool{}
	partial := 0
	if f.Partial > 0 && f.FaultAfter > 0 {
		f.FaultAfter--
	} else if f.Partial > 0 {
		partial = min(f.Partial, len(recs))
		for _, lr := range recs[len(recs)-partial:] {
			drop[lr] = true
		}
		f.Partial = 0
	}
	for _, rl := range req.ResourceLogs {
		for _, sl := range rl.ScopeLogs {
			kept := sl.LogRecords[:0]
			for _, lr := range sl.LogRecords {
				if !drop[lr] {
					kept = append(kept, lr)
					s.ids[RecordID(lr)]++
					s.stats.Records++
				}
			}
			sl.LogRecords = kept
		}
		s.logs = append(s.logs, rl)
	}
	s.stats.Status[200]++
	s.mu.Unlock()
	locked = false
	if jsonReq {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(encodeResponse(jsonReq, partial, map[bool]string{true: "scripted rejection", false: ""}[partial > 0]))
}

// encodeResponse is an ExportLogsServiceResponse.
func encodeResponse(jsonReq bool, rejected int, msg string) []byte {
	if jsonReq {
		if rejected == 0 && msg == "" {
			return []byte(`{}`)
		}
		return fmt.Appendf(nil, `{"partialSuccess":{"rejectedLogRecords":"%d","errorMessage":%q}}`, rejected, msg)
	}
	if rejected == 0 && msg == "" {
		return nil
	}
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(rejected))
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	p = protowire.AppendString(p, msg)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, p)
}

// encodeStatus is a google.rpc.Status failure body.
func encodeStatus(jsonReq bool, code int, msg string) []byte {
	if jsonReq {
		return fmt.Appendf(nil, `{"code":%d,"message":%q}`, code, msg)
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(code))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, msg)
}

// codeFor is the gRPC code the OTLP receivers pair with an HTTP status.
func codeFor(status int) int32 {
	switch status {
	case 400:
		return 3 // INVALID_ARGUMENT
	case 401:
		return 16 // UNAUTHENTICATED
	case 404:
		return 5
	case 429:
		return 8 // RESOURCE_EXHAUSTED
	case 503, 502, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}
