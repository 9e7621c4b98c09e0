// Package splunkhectest is an in-process Splunk HTTP Event Collector for tests and
// benchmarks. It follows Splunk's published HEC REST API: the
// /services/collector/event endpoint (concatenated JSON envelopes, gzip),
// `Authorization: Splunk <token>`, the JSON answers {"text":…,"code":…}
// with Splunk's status codes and HTTP statuses, "invalid-event-number" on a
// bad event, indexer acknowledgement (X-Splunk-Request-Channel, ackId per
// channel, POST /services/collector/ack) and /services/collector/health.
//
// Faults model what a sender must survive: busy indexers (503 code 9),
// throttling (429 with Retry-After), an event the indexer refuses (400 code
// 6 naming it — the events before it in the request are indexed anyway, the
// worst case for a sender), acknowledgements that come late or never (an
// indexer that died before indexing: the events are lost).
package splunkhectest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// Token is one HEC token's settings.
type Token struct {
	Ack      bool     // indexer acknowledgement enabled ("useACK")
	Indexes  []string // allowed indexes; empty = any
	Disabled bool
}

// Options configure a server.
type Options struct {
	// Tokens by value; nil means one token "test-token" without ack.
	Tokens map[string]Token
	// MaxContentLength is the largest request body (decompressed) taken;
	// 0 means Splunk's default, 800 MB.
	MaxContentLength int
	// DiscardEvents keeps counts and ids only (benchmarks).
	DiscardEvents bool
}

// Faults are injected into the answers; set them with SetFaults.
type Faults struct {
	Busy503     int      // the next N event requests answer 503 code 9
	FaultAfter  int      // Busy503 and Throttle429 start after this many more event requests answered normally
	Throttle429 int      // the next N event requests answer 429
	RetryAfter  string   // Retry-After sent with the 429s and 503s ("" = none)
	RejectIDs   []string // an event whose body contains "id":"<one of these>" is invalid (400 code 6)
	AckDelay    time.Duration
	AckNever    int  // the next N accepted ack requests are lost: never acknowledged, never indexed
	Unhealthy   bool // /services/collector/health answers 503 code 18
	// ResetAckIDsAfter restarts the channels' ackId counters after N more
	// acknowledged requests (HEC restarted and hands out ackIds again).
	ResetAckIDsAfter int
}

// Event is an indexed event.
type Event struct {
	Time       json.RawMessage
	Host       string
	Source     string
	Sourcetype string
	Index      string
	Event      json.RawMessage // a JSON object or string, as sent
	Fields     map[string]json.RawMessage
	Channel    string
	Token      string
}

// Stats count what the server saw.
type Stats struct {
	EventRequests int
	Status        map[int]int // HTTP status of event requests
	Codes         map[int]int // HEC code of event requests
	AckQueries    int
	Gzip          int // gzip-encoded event requests
	Lost          int // events of acknowledged-never requests
}

// Server is the test HEC.
type Server struct {
	*httptest.Server
	URL string
	o   Options

	mu       sync.Mutex
	faults   Faults
	events   []Event
	ids      map[string]int // event "id" → times indexed
	channels map[string]*channel
	stats    Stats
}

type channel struct {
	next    int
	pending map[int]*pendingAck
}

type pendingAck struct {
	events []Event
	ready  time.Time
	never  bool
}

// New starts a server on a loopback port.
func New(o Options) *Server {
	if o.Tokens == nil {
		o.Tokens = map[string]Token{"test-token": {}}
	}
	if o.MaxContentLength <= 0 {
		o.MaxContentLength = 838860800
	}
	s := &Server{o: o, ids: map[string]int{}, channels: map[string]*channel{},
		stats: Stats{Status: map[int]int{}, Codes: map[int]int{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/services/collector", s.handleEvent)
	mux.HandleFunc("/services/collector/event", s.handleEvent)
	mux.HandleFunc("/services/collector/event/1.0", s.handleEvent)
	mux.HandleFunc("/services/collector/ack", s.handleAck)
	mux.HandleFunc("/services/collector/health", s.handleHealth)
	mux.HandleFunc("/services/collector/health/1.0", s.handleHealth)
	s.Server = httptest.NewServer(mux)
	s.URL = s.Server.URL
	return s
}

// NewTLS is New over https with httptest's certificate (s.Server.Client()
// trusts it).
func NewTLS(o Options) *Server {
	s := New(o)
	s.Server.Close()
	ts := httptest.NewUnstartedServer(s.Server.Config.Handler)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what tests provoke
	ts.StartTLS()
	s.Server = ts
	s.URL = s.Server.URL
	return s
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Events returns the indexed events in order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promote()
	return append([]Event(nil), s.events...)
}

// IDs returns how many times each event "id" was indexed.
func (s *Server) IDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.promote()
	return maps.Clone(s.ids)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Status, st.Codes = maps.Clone(s.stats.Status), maps.Clone(s.stats.Codes)
	return st
}

// reply writes HEC's JSON answer.
func reply(w http.ResponseWriter, status int, body map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	b, _ := json.Marshal(body)
	w.Write(b)
}

func msg(text string, code int) map[string]any { return map[string]any{"text": text, "code": code} }

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	bad := s.faults.Unhealthy
	s.mu.Unlock()
	if bad {
		reply(w, 503, msg("HEC is unhealthy, queues are full", 18))
		return
	}
	reply(w, 200, msg("HEC is healthy", 17))
}

// auth checks the Authorization header; it answers and returns false when
// the request is refused.
func (s *Server) auth(w http.ResponseWriter, r *http.Request) (string, Token, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		reply(w, 401, msg("Token is required", 2))
		return "", Token{}, false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Splunk") || tok == "" {
		reply(w, 401, msg("Invalid authorization", 3))
		return "", Token{}, false
	}
	t, known := s.o.Tokens[tok]
	switch {
	case !known:
		reply(w, 403, msg("Invalid token", 4))
		return "", Token{}, false
	case t.Disabled:
		reply(w, 403, msg("Token disabled", 1))
		return "", Token{}, false
	}
	return tok, t, true
}

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// channelOf reads the request channel (header or ?channel=); it answers and
// returns false when ack needs one and it is missing or malformed.
func channelOf(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = r.URL.Query().Get("channel")
	}
	if ch == "" {
		if required {
			reply(w, 400, msg("Data channel is missing", 10))
			return "", false
		}
		return "", true
	}
	if !guid.MatchString(ch) {
		reply(w, 400, msg("Invalid data channel", 11))
		return "", false
	}
	return ch, true
}

func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			reply(w, 400, msg("Invalid data format", 6))
			return nil, false
		}
		rd = zr
	}
	body, err := io.ReadAll(io.LimitReader(rd, int64(s.o.MaxContentLength)+1))
	if err != nil {
		reply(w, 400, msg("Invalid data format", 6))
		return nil, false
	}
	if len(body) > s.o.MaxContentLength {
		reply(w, 413, msg(fmt.Sprintf("Content-Length of %d too large (maximum is %d)", len(body), s.o.MaxContentLength), 27))
		return nil, false
	}
	return body, true
}

func (s *Server) handleEvent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, 405, msg("Method not allowed", 0))
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	s.event(rec, r)
	s.mu.Lock()
	s.stats.EventRequests++
	s.stats.Status[rec.status]++
	s.stats.Codes[rec.code]++
	s.mu.Unlock()
}

func (s *Server) event(w *statusRecorder, r *http.Request) {
	tok, t, ok := s.auth(w, r)
	if !ok {
		return
	}
	ch, ok := channelOf(w, r, t.Ack)
	if !ok {
		return
	}
	s.mu.Lock()
	f := &s.faults
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		s.stats.Gzip++
	}
	if st := outtest.NextFaultAfter(&f.FaultAfter, &f.Busy503, &f.Throttle429); st != 0 {
		ra := f.RetryAfter
		s.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if st == 503 {
			reply(w, 503, msg("Server is busy", 9))
		} else {
			reply(w, 429, msg("Too many requests", 9))
		}
		return
	}
	s.mu.Unlock()
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	evs, status, answer := s.parse(body, t, tok, ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if status != 200 {
		s.index(evs) // the events before the invalid one
		reply(w, status, answer)
		return
	}
	if !t.Ack {
		s.index(evs)
		reply(w, 200, msg("Success", 0))
		return
	}
	c := s.channels[ch]
	if c == nil {
		c = &channel{pending: map[int]*pendingAck{}}
		s.channels[ch] = c
	}
	id := c.next
	c.next++
	if s.faults.ResetAckIDsAfter > 0 {
		if s.faults.ResetAckIDsAfter--; s.faults.ResetAckIDsAfter == 0 {
			c.next = 0
		}
	}
	p := &pendingAck{events: evs, ready: time.Now().Add(s.faults.AckDelay)}
	if s.faults.AckNever > 0 {
		s.faults.AckNever--
		p.never = true
		s.stats.Lost += len(evs)
	}
	c.pending[id] = p
	reply(w, 200, map[string]any{"text": "Success", "code": 0, "ackId": id})
}

// parse reads concatenated envelopes. On a bad one it returns the events
// before it, the status and Splunk's answer naming the event number.
func (s *Server) parse(body []byte, t Token, tok, ch string) ([]Event, int, map[string]any) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, 400, msg("No data", 5)
	}
	s.mu.Lock()
	reject := append([]string(nil), s.faults.RejectIDs...)
	s.mu.Unlock()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out []Event
	bad := func(text string, code int) ([]Event, int, map[string]any) {
		return out, 400, map[string]any{"text": text, "code": code, "invalid-event-number": len(out)}
	}
	for {
		var env map[string]json.RawMessage
		err := dec.Decode(&env)
		if err == io.EOF {
			break
		}
		if err != nil || env == nil {
			return bad("Invalid data format", 6)
		}
		ev, ok := env["event"]
		if !ok {
			return bad("Event field is required", 12)
		}
		if t := bytes.TrimSpace(ev); string(t) == `""` || string(t) == "null" || string(t) == "{}" {
			return bad("Event field cannot be blank", 13)
		}
		e := Event{Event: ev, Time: env["time"], Channel: ch, Token: tok}
		if e.Time != nil && !validTime(e.Time) {
			return bad("Invalid data format", 6)
		}
		for k, dst := range map[string]*string{"host": &e.Host, "source": &e.Source, "sourcetype": &e.Sourcetype, "index": &e.Index} {
			if v, ok := env[k]; ok {
				if json.Unmarshal(v, dst) != nil {
					return bad("Invalid data format", 6)
				}
			}
		}
		if e.Index != "" && len(t.Indexes) > 0 && !contains(t.Indexes, e.Index) {
			return bad("Incorrect index", 7)
		}
		if f, ok := env["fields"]; ok {
			if json.Unmarshal(f, &e.Fields) != nil || !flatFields(e.Fields) {
				return bad("Error in handling indexed fields", 15)
			}
		}
		for _, id := range reject {
			if bytes.Contains(ev, []byte(`"id":"`+id+`"`)) || bytes.Contains(ev, []byte(`\"id\":\"`+id+`\"`)) {
				return bad("Invalid data format", 6)
			}
		}
		if s.o.DiscardEvents {
			e.Event = json.RawMessage(eventID(ev))
		}
		out = append(out, e)
	}
	return out, 200, nil
}

// validTime: epoch seconds as a number or a numeric string.
func validTime(b json.RawMessage) bool {
	v := strings.Trim(string(b), `"`)
	_, err := strconv.ParseFloat(v, 64)
	return err == nil
}

// flatFields: indexed fields are strings, numbers or arrays of them, never
// objects.
func flatFields(f map[string]json.RawMessage) bool {
	for _, v := range f {
		t := bytes.TrimSpace(v)
		if len(t) > 0 && t[0] == '{' {
			return false
		}
		if len(t) > 0 && t[0] == '[' && bytes.Contains(t[1:], []byte("{")) {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// eventID finds the record's id in an event (an object, or a string
// holding JSON or a cef, keyvalue or txt line).
func eventID(ev json.RawMessage) string { return outtest.RecordID(ev) }

// index stores events (mu held).
func (s *Server) index(evs []Event) {
	for _, e := range evs {
		id := eventID(e.Event)
		if s.o.DiscardEvents {
			id = string(e.Event)
			e.Event = nil
		}
		s.ids[id]++
		if !s.o.DiscardEvents {
			s.events = append(s.events, e)
		}
	}
}

// promote indexes acknowledged requests whose time has come (mu held).
func (s *Server) promote() {
	now := time.Now()
	names := make([]string, 0, len(s.channels))
	for n := range s.channels {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := s.channels[n]
		ids := make([]int, 0, len(c.pending))
		for id := range c.pending {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		for _, id := range ids {
			p := c.pending[id]
			if p.never || p.events == nil || now.Before(p.ready) {
				continue
			}
			s.index(p.events)
			p.events = nil // indexed; the status stays until queried
		}
	}
}

func (s *Server) handleAck(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, 405, msg("Method not allowed", 0))
		return
	}
	_, t, ok := s.auth(w, r)
	if !ok {
		return
	}
	if !t.Ack {
		reply(w, 400, msg("ACK is disabled", 14))
		return
	}
	ch, ok := channelOf(w, r, true)
	if !ok {
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var q struct {
		Acks []json.Number `json:"acks"`
	}
	if err := json.Unmarshal(body, &q); err != nil || q.Acks == nil {
		reply(w, 400, msg("Invalid data format", 6))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.AckQueries++
	s.promote()
	c := s.channels[ch]
	out := map[string]bool{}
	for _, n := range q.Acks {
		id, err := strconv.Atoi(n.String())
		if err != nil {
			reply(w, 400, msg("Invalid data format", 6))
			return
		}
		done := false
		if c != nil {
			if p, ok := c.pending[id]; ok && !p.never && p.events == nil {
				done = true
				delete(c.pending, id) // a status reported true is cleared
			}
		}
		out[n.String()] = done
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]any{"acks": out})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	code   int
	buf    []byte
}

func (r *statusRecorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	var m struct{ Code int }
	if json.Unmarshal(b, &m) == nil {
		r.code = m.Code
	}
	return r.ResponseWriter.Write(b)
}
