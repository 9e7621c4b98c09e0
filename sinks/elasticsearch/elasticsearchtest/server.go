// Package elasticsearchtest is an in-process Elasticsearch 8.x test server, faithful to
// the parts of the REST API a log shipper uses: the root info endpoint (with
// the X-Elastic-Product header the v8 Go client checks), the _bulk API (NDJSON
// parsing, index/create/update/delete, _id and _version semantics, per-item
// statuses, dynamic and template mappings with type-conflict rejection),
// composable index templates, data streams, ingest pipeline ids, basic and
// API-key authentication, filter_path, and a few read APIs (_doc, _search,
// _count, _refresh) so tests can verify the same way against a real cluster.
//
// Faults can be injected per item (429, 400) and per request (429, 503), and
// the product header can be withheld. Like net/http/httptest, New starts the
// server and Close stops it.
package elasticsearchtest

import (
	"bytes"
	"compress/gzip"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Version is the Elasticsearch version the server reports.
const Version = "8.19.7"

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required as HTTP basic auth.
	Username, Password string
	// APIKey, when set, is accepted as "Authorization: ApiKey <APIKey>".
	// With both unset the server accepts anonymous requests (security off).
	APIKey string
	// NoProductHeader withholds X-Elastic-Product (a proxy or another product).
	NoProductHeader bool
	// DiscardSource keeps only ids and versions, not document sources
	// (benchmarks); _doc and _search then return empty sources.
	DiscardSource bool
	// Seed seeds the generator behind the rate-based faults.
	Seed uint64
	// ClusterName is reported by GET /; default "elasticsearchtest".
	ClusterName string
	// Distribution "opensearch" answers GET / as an OpenSearch 2.19 node
	// (version.distribution, no X-Elastic-Product header); the bulk and
	// index APIs behave the same (TestAgreesWithRealNode compares them with
	// a real OpenSearch node).
	Distribution string
}

// Faults are injected failures. Per-item faults hit bulk items before they
// are applied, so a faulted document is not stored.
type Faults struct {
	// ItemReject429Rate answers this fraction of bulk items with 429
	// es_rejected_execution_exception.
	ItemReject429Rate float64
	// ItemReject429IDs answers the items with these _ids 429 this many
	// times each, then lets them through.
	ItemReject429IDs map[string]int
	// ItemReject400Rate answers this fraction of bulk items with 400
	// document_parsing_exception.
	ItemReject400Rate float64
	// ItemReject400IDs answers the items with these _ids 400, always.
	ItemReject400IDs map[string]bool
	// Request429First and Request503First fail the next N bulk requests as a
	// whole (429 es_rejected_execution_exception, 503 cluster_block_exception).
	Request429First, Request503First int
	// FaultAfter delays Request429First and Request503First until this
	// many more bulk requests were answered normally.
	FaultAfter int
	// Request429Rate and Request503Rate fail this fraction of bulk requests.
	Request429Rate, Request503Rate float64
}

// Request is one request the server received (the last 1024 are kept).
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Items    int // bulk items in the request
	Status   int // status the server answered
}

// Stats count what the bulk API did.
type Stats struct {
	BulkRequests int         // _bulk requests received (including faulted ones)
	Items        int         // bulk items received
	ItemStatus   map[int]int // per-item status → count
	Created      int         // items answered result "created"
	Updated      int         // items answered result "updated"
}

// Server is a running test server.
type Server struct {
	URL string // base URL, e.g. http://127.0.0.1:PORT

	hs   *httptest.Server
	opts Options

	mu        sync.Mutex
	indices   map[string]*index
	streams   map[string]*dataStream
	templates map[string]*indexTemplate
	pipelines map[string][]byte
	faults    Faults
	faultsOn  atomic.Bool // any per-item fault set: lets fault-free runs skip the lock
	rng       *rand.Rand
	log       []Request
	stats     Stats
	uuidSeq   uint64
	limits    Limits // limits.go
}

// New starts a server on a free loopback port.
func New(opts Options) *Server {
	s := newServer(opts)
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL
	return s
}

// NewTLS starts a server speaking HTTPS with httptest's self-signed
// certificate (use Certificate or Client for the CA).
func NewTLS(opts Options) *Server {
	s := newServer(opts)
	s.hs = httptest.NewUnstartedServer(s)
	// clients that reject the test certificate are expected: keep quiet
	s.hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.hs.StartTLS()
	s.URL = s.hs.URL
	return s
}

func newServer(opts Options) *Server {
	if opts.ClusterName == "" {
		opts.ClusterName = "elasticsearchtest"
	}
	return &Server{
		opts:      opts,
		indices:   map[string]*index{},
		streams:   map[string]*dataStream{},
		templates: map[string]*indexTemplate{},
		pipelines: map[string][]byte{},
		rng:       rand.New(rand.NewPCG(opts.Seed, 0x5eed)),
		stats:     Stats{ItemStatus: map[int]int{}},
	}
}

// HTTPServer is the underlying httptest server (for its TLS certificate).
func (s *Server) HTTPServer() *httptest.Server { return s.hs }

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// copy the maps: the server decrements counters
	if f.ItemReject429IDs != nil {
		m := make(map[string]int, len(f.ItemReject429IDs))
		for k, v := range f.ItemReject429IDs {
			m[k] = v
		}
		f.ItemReject429IDs = m
	}
	s.faults = f
	s.faultsOn.Store(f.ItemReject429Rate > 0 || f.ItemReject400Rate > 0 || len(f.ItemReject429IDs) > 0 || len(f.ItemReject400IDs) > 0)
}

// SetNoProductHeader switches the product header off (true) or on.
func (s *Server) SetNoProductHeader(v bool) {
	s.mu.Lock()
	s.opts.NoProductHeader = v
	s.mu.Unlock()
}

// Requests returns the requests received so far (the last 1024), oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Stats returns the bulk counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ItemStatus = make(map[int]int, len(s.stats.ItemStatus))
	for k, v := range s.stats.ItemStatus {
		st.ItemStatus[k] = v
	}
	return st
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	s.mu.Lock()
	noHeader := s.opts.NoProductHeader || s.opts.Distribution == "opensearch"
	s.mu.Unlock()
	if !noHeader {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	items := 0
	defer func() {
		s.mu.Lock()
		if len(s.log) >= 1024 {
			copy(s.log, s.log[1:])
			s.log = s.log[:len(s.log)-1]
		}
		s.log = append(s.log, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(), Items: items, Status: rec.status})
		s.mu.Unlock()
	}()
	if !s.authenticate(rec, r) || s.tooLarge(rec, r) {
		return
	}
	items = s.route(rec, r)
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// authenticate enforces basic or API-key auth when configured, answering 401
// the way Elasticsearch security does.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	o := s.opts
	if o.Username == "" && o.APIKey == "" {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, cred, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
		w.Header().Add("WWW-Authenticate", "ApiKey")
		writeError(w, http.StatusUnauthorized, "security_exception",
			"missing authentication credentials for REST request ["+r.URL.RequestURI()+"]")
		return false
	case strings.EqualFold(scheme, "Basic") && o.Username != "":
		raw, err := base64.StdEncoding.DecodeString(cred)
		user, pass, _ := strings.Cut(string(raw), ":")
		if err == nil && subtle.ConstantTimeCompare([]byte(user), []byte(o.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(pass), []byte(o.Password)) == 1 {
			return true
		}
		w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "security_exception",
			"unable to authenticate user ["+user+"] for REST request ["+r.URL.RequestURI()+"]")
		return false
	case strings.EqualFold(scheme, "ApiKey") && o.APIKey != "":
		if subtle.ConstantTimeCompare([]byte(cred), []byte(o.APIKey)) == 1 {
			return true
		}
		w.Header().Add("WWW-Authenticate", "ApiKey")
		writeError(w, http.StatusUnauthorized, "security_exception",
			"unable to authenticate with provided credentials and anonymous access is not allowed for this request")
		return false
	}
	w.Header().Add("WWW-Authenticate", `Basic realm="security", charset="UTF-8"`)
	w.Header().Add("WWW-Authenticate", "ApiKey")
	writeError(w, http.StatusUnauthorized, "security_exception",
		"unable to authenticate with provided credentials and anonymous access is not allowed for this request")
	return false
}

// route dispatches on the path; it returns the bulk item count for the log.
func (s *Server) route(w http.ResponseWriter, r *http.Request) int {
	path := strings.Trim(r.URL.Path, "/")
	parts := strings.Split(path, "/")
	if path == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return 0
		}
		if s.monitorForbidden(w) {
			return 0
		}
		s.info(w, r)
	case parts[len(parts)-1] == "_bulk" && len(parts) <= 2:
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			methodNotAllowed(w, r, "POST, PUT")
			return 0
		}
		def := ""
		if len(parts) == 2 {
			def = parts[0]
		}
		return s.bulk(w, r, def)
	case parts[0] == "_index_template":
		s.indexTemplateAPI(w, r, parts[1:])
	case parts[0] == "_data_stream":
		s.dataStreamAPI(w, r, parts[1:])
	case parts[0] == "_ingest" && len(parts) == 3 && parts[1] == "pipeline":
		s.pipelineAPI(w, r, parts[2])
	case len(parts) == 1 && !strings.HasPrefix(parts[0], "_"):
		s.indexAPI(w, r, parts[0])
	case len(parts) == 2 && parts[1] == "_refresh":
		s.refresh(w, r, parts[0])
	case len(parts) <= 2 && parts[len(parts)-1] == "_count":
		s.count(w, r, firstOr(parts, len(parts) == 2))
	case len(parts) <= 2 && parts[len(parts)-1] == "_search":
		s.search(w, r, firstOr(parts, len(parts) == 2))
	case len(parts) == 4 && parts[1] == "_mapping" && parts[2] == "field":
		s.fieldMapping(w, r, parts[0], parts[3])
	case len(parts) == 3 && parts[1] == "_doc":
		s.getDoc(w, r, parts[0], parts[2])
	default:
		writeError(w, http.StatusBadRequest, "illegal_argument_exception",
			"elasticsearchtest does not implement ["+r.Method+" /"+path+"]")
	}
	return 0
}

func firstOr(parts []string, ok bool) string {
	if ok {
		return parts[0]
	}
	return "_all"
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMethodNotAllowed)
	io.WriteString(w, `{"error":"Incorrect HTTP method for uri [`+r.URL.RequestURI()+`] and method [`+r.Method+`], allowed: [`+allow+`]","status":405}`)
}

// info answers GET / like an 8.x node.
func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	if s.opts.Distribution == "opensearch" {
		io.WriteString(w, `{
  "name" : "elasticsearchtest-node-1",
  "cluster_name" : "`+s.opts.ClusterName+`",
  "cluster_uuid" : "kR1Nq6tUT4aS0W3y8Vh3dA",
  "version" : {
    "distribution" : "opensearch",
    "number" : "2.19.6",
    "build_type" : "tar",
    "build_hash" : "0000000000000000000000000000000000000000",
    "build_date" : "2026-07-01T00:00:00.000000000Z",
    "build_snapshot" : false,
    "lucene_version" : "9.12.3",
    "minimum_wire_compatibility_version" : "7.10.0",
    "minimum_index_compatibility_version" : "7.0.0"
  },
  "tagline" : "The OpenSearch Project: https://opensearch.org/"
}
`)
		return
	}
	io.WriteString(w, `{
  "name" : "elasticsearchtest-node-1",
  "cluster_name" : "`+s.opts.ClusterName+`",
  "cluster_uuid" : "kR1Nq6tUT4aS0W3y8Vh3dA",
  "version" : {
    "number" : "`+Version+`",
    "build_flavor" : "default",
    "build_type" : "docker",
    "build_hash" : "0000000000000000000000000000000000000000",
    "build_date" : "2025-10-01T00:00:00.000000000Z",
    "build_snapshot" : false,
    "lucene_version" : "9.12.2",
    "minimum_wire_compatibility_version" : "7.17.0",
    "minimum_index_compatibility_version" : "7.0.0"
  },
  "tagline" : "You Know, for Search"
}
`)
}

// readBody reads the request body, inflating gzip.
func readBody(r *http.Request, buf *bytes.Buffer) error {
	var rd io.Reader = r.Body
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return err
		}
		defer zr.Close()
		rd = zr
	}
	_, err := buf.ReadFrom(rd)
	return err
}

// jsonContentType reports whether ct is one Elasticsearch accepts for a
// JSON or NDJSON body.
func jsonContentType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch mt {
	case "application/json", "application/x-ndjson",
		"application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson":
		return true
	}
	return false
}

// writeError answers an Elasticsearch error body.
func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b := make([]byte, 0, 256)
	b = append(b, `{"error":{"root_cause":[{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `}],"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, reason)
	b = append(b, `},"status":`...)
	b = appendInt(b, int64(status))
	b = append(b, '}')
	w.Write(b)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// newUUID returns a deterministic, index-uuid-looking id.
func (s *Server) newUUID() string {
	s.uuidSeq++
	var b [16]byte
	v := s.uuidSeq*0x9e3779b97f4a7c15 ^ uint64(time.Now().UnixNano())
	for i := range b {
		b[i] = byte(v >> (8 * (i % 8)))
		if i == 7 {
			v = v*0xbf58476d1ce4e5b9 + s.uuidSeq
		}
	}
	return base64.RawURLEncoding.EncodeToString(b[:])[:22]
}
