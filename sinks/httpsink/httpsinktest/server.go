// Package httpsinktest is an in-process HTTP receiver for the http sink's
// tests: it checks the credentials (basic, bearer, or OAuth2 tokens it
// issues itself at /oauth2/token with the client credentials grant),
// decodes each request body by its Content-Type and Content-Encoding
// (NDJSON, a JSON array, one JSON object or one text record; gzip) and
// keeps every record with its request. Faults script the answers: a list of
// statuses for the next requests, Retry-After, and ids whose request is
// refused with 400 (a receiver that validates each record and refuses the
// request it is in).
package httpsinktest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// Options configure a server.
type Options struct {
	Username, Password     string // basic auth, when Username is set
	Bearer                 string // a fixed bearer token, when set
	ClientID, ClientSecret string // OAuth2 client credentials, when ClientID is set
	TokenTTL               time.Duration
	MaxBody                int // 413 above it (default 10 MiB)
}

// Faults script the answers to record requests.
type Faults struct {
	Statuses   []int  // answers for the next requests, in order (0 = normal)
	RetryAfter string // sent with 429 and 503 answers
	RejectIDs  []string
}

// Request is one record request as received.
type Request struct {
	Method, Path, ContentType string
	Header                    http.Header
	Records                   []string // one per record, decoded
	Status                    int
}

// Server is the receiver.
type Server struct {
	*httptest.Server
	o Options

	mu       sync.Mutex
	faults   Faults
	tokens   map[string]time.Time
	requests []Request
	ids      map[string]int
	tokenN   int
}

// New starts a server on a loopback port.
func New(o Options) *Server {
	if o.MaxBody <= 0 {
		o.MaxBody = 10 << 20
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, ids: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/token", s.token)
	mux.HandleFunc("/", s.receive)
	s.Server = httptest.NewServer(mux)
	return s
}

// SetFaults replaces the scripted faults.
func (s *Server) SetFaults(f Faults) { s.mu.Lock(); s.faults = f; s.mu.Unlock() }

// ExpireTokens expires every OAuth2 token issued so far.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for t := range s.tokens {
		s.tokens[t] = time.Now().Add(-time.Second)
	}
	s.mu.Unlock()
}

// Requests returns the record requests received.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// IDs returns how many times each record id was taken (answered 2xx).
func (s *Server) IDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ids)
}

// Tokens is how many OAuth2 tokens were issued.
func (s *Server) Tokens() int { s.mu.Lock(); defer s.mu.Unlock(); return s.tokenN }

func jsonErr(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// token is RFC 6749 §4.4: client_secret_basic or client_secret_post.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	switch {
	case r.PostForm.Get("grant_type") != "client_credentials":
		jsonErr(w, 400, map[string]string{"error": "unsupported_grant_type"})
	case s.o.ClientID == "" || id != s.o.ClientID || sec != s.o.ClientSecret:
		jsonErr(w, 401, map[string]string{"error": "invalid_client", "error_description": "client authentication failed"})
	default:
		var b [16]byte
		rand.Read(b[:])
		tok := hex.EncodeToString(b[:])
		s.mu.Lock()
		s.tokens[tok] = time.Now().Add(s.o.TokenTTL)
		s.tokenN++
		s.mu.Unlock()
		jsonErr(w, 200, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": int(s.o.TokenTTL / time.Second)})
	}
}

func (s *Server) authorized(r *http.Request) bool {
	switch {
	case s.o.Username != "":
		u, p, ok := r.BasicAuth()
		return ok && u == s.o.Username && p == s.o.Password
	case s.o.Bearer != "":
		return r.Header.Get("Authorization") == "Bearer "+s.o.Bearer
	case s.o.ClientID != "":
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		exp, known := s.tokens[tok]
		s.mu.Unlock()
		return ok && known && time.Now().Before(exp)
	}
	return true
}

func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	req := Request{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Header: r.Header.Clone()}
	status, recs := s.answer(w, r)
	req.Status, req.Records = status, recs
	s.mu.Lock()
	s.requests = append(s.requests, req)
	if status >= 200 && status < 300 {
		for _, rec := range recs {
			s.ids[recordID(rec)]++
		}
	}
	s.mu.Unlock()
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) (int, []string) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="test"`)
		http.Error(w, "unauthorized", 401)
		return 401, nil
	}
	s.mu.Lock()
	f := &s.faults
	next := 0
	if len(f.Statuses) > 0 {
		next, f.Statuses = f.Statuses[0], f.Statuses[1:]
	}
	ra, reject := f.RetryAfter, append([]string(nil), f.RejectIDs...)
	s.mu.Unlock()
	if next != 0 {
		if ra != "" && (next == 429 || next == 503) {
			w.Header().Set("Retry-After", ra)
		}
		jsonErr(w, next, map[string]string{"error": http.StatusText(next)})
		return next, nil
	}
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			jsonErr(w, 400, map[string]string{"error": "bad gzip"})
			return 400, nil
		}
		rd = zr
	}
	body, err := io.ReadAll(io.LimitReader(rd, int64(s.o.MaxBody)+1))
	if err != nil || len(body) > s.o.MaxBody {
		jsonErr(w, 413, map[string]string{"error": "payload too large"})
		return 413, nil
	}
	recs, err := decode(r.Header.Get("Content-Type"), body)
	if err != nil {
		jsonErr(w, 400, map[string]string{"error": err.Error()})
		return 400, nil
	}
	for _, rec := range recs {
		for _, id := range reject {
			if recordID(rec) == id {
				jsonErr(w, 400, map[string]string{"error": "invalid record " + id})
				return 400, recs
			}
		}
	}
	w.WriteHeader(http.StatusAccepted)
	return http.StatusAccepted, recs
}

// decode splits a body into records by its media type.
func decode(ctype string, body []byte) ([]string, error) {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch mt {
	case "application/x-ndjson":
		var out []string
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			if !json.Valid(sc.Bytes()) && !looksText(sc.Bytes()) {
				return nil, errBadRecord
			}
			out = append(out, sc.Text())
		}
		if !bytes.HasSuffix(body, []byte("\n")) {
			return nil, errNoFinalNewline
		}
		return out, sc.Err()
	case "application/json":
		t := bytes.TrimSpace(body)
		if len(t) > 0 && t[0] == '[' {
			var arr []json.RawMessage
			if err := json.Unmarshal(t, &arr); err != nil {
				return nil, err
			}
			out := make([]string, len(arr))
			for i, a := range arr {
				out[i] = string(a)
			}
			return out, nil
		}
		if !json.Valid(t) {
			return nil, errBadRecord
		}
		return []string{string(t)}, nil
	case "text/plain":
		return []string{string(body)}, nil
	}
	return nil, errMediaType
}

type httpErr string

func (e httpErr) Error() string { return string(e) }

const (
	errBadRecord      = httpErr("a record is not valid JSON")
	errNoFinalNewline = httpErr("NDJSON body must end with a newline")
	errMediaType      = httpErr("unsupported Content-Type")
)

// looksText: the line formats (CEF, key-value) in NDJSON bodies.
func looksText(b []byte) bool { return !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) }

func recordID(rec string) string { return outtest.RecordID([]byte(rec)) }
