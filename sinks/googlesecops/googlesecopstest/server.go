// Package googlesecopstest is an in-process Google SecOps (Chronicle)
// ingestion endpoint with Google's OAuth 2.0 token endpoint, for tests and
// benchmarks. It implements the documented request and answer shapes:
//
// Token: POST /token with grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer
// and assertion=<JWT> (RFC 7523), signed RS256 by the service account's key
// (Key returns a JSON key file of the account the server trusts): iss is
// the account's client_email, aud the token URL, scope the API's scope,
// exp at most an hour after iat. Answers {"access_token","expires_in",
// "token_type":"Bearer"}, or {"error":"invalid_grant",…} with 400.
//
// v1alpha logs.import: POST /v1alpha/projects/{project}/locations/
// {location}/instances/{customer_id}/logTypes/{log_type}/logs:import with a
// bearer token for https://www.googleapis.com/auth/cloud-platform and
// {"inlineSource":{"logs":[{"data":base64,"logEntryTime":RFC 3339,
// "collectionTime":RFC 3339}]}} (snake_case names are accepted too, as
// Google's JSON mapping does); 200 {} on success. GET …/logTypes/{log_type}
// reads the log type (the sink's start-up check).
//
// v2 batchCreate: POST /v2/unstructuredlogentries:batchCreate with a token
// for https://www.googleapis.com/auth/malachite-ingestion and
// {"customer_id","log_type","entries":[{"log_text","ts_epoch_microseconds"}]}.
//
// Errors use Google's {"error":{"code","message","status"}}: 400
// INVALID_ARGUMENT (a bad entry, or one whose record id is in RejectIDs),
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 413 (body over
// MaxImport/MaxV2), 429 RESOURCE_EXHAUSTED and 503 UNAVAILABLE with
// Retry-After as faults. Stop and Restart model an outage: the port closes
// and opens again at the same address.
//
// With CountOnly (benchmarks: the figure is the sink's, not this server's)
// tokens, paths, faults and the size limits are checked as always but a
// request's entries are counted, not decoded: the body is read into a
// pooled buffer and the objects of its logs (entries) array counted
// (Stats.Logs); the entries' fields, v2's customer_id and log_type,
// RejectIDs and IDs are not checked.
package googlesecopstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// Scopes of the two APIs.
const (
	ScopeChronicle = "https://www.googleapis.com/auth/cloud-platform"
	ScopeIngestion = "https://www.googleapis.com/auth/malachite-ingestion"
)

// Request limits: logs.import takes this sink's 4 MiB ceiling, the v2
// Ingestion API 1 MB.
const (
	MaxImport = 4 << 20
	MaxV2     = 1 << 20
)

// Options configure a server.
type Options struct {
	Project, Location, CustomerID string
	LogTypes                      []string      // known log types (default SOPHOS_CENTRAL)
	TokenTTL                      time.Duration // default 1h
	NoPermission                  bool          // the account lacks chronicle.logs.import
	DiscardLogs                   bool          // keep ids only (benchmarks)
	CountOnly                     bool          // count the entries, decode none (benchmarks; see the package comment)
	// Latency delays every ingestion answer, however many calls are in
	// flight (a remote API whose round trip is mostly the network's).
	Latency time.Duration
}

// Faults are injected into the ingestion answers.
type Faults struct {
	Busy503     int      // the next N calls answer 503
	Throttle429 int      // the next N calls answer 429
	FaultAfter  int      // answer N calls normally before the 503s and 429s
	RetryAfter  string   // sent with them
	RejectIDs   []string // a call holding an entry whose record id is one of these answers 400
}

// Stats count what the server saw.
type Stats struct {
	Calls, Tokens int
	Status        map[int]int
	MaxBody       int
	MaxInFlight   int // the most ingestion calls served at once
	Logs          int // entries taken
}

// Log is one entry taken.
type Log struct {
	LogType        string
	Data           []byte // the raw log (decoded)
	LogEntryTime   time.Time
	CollectionTime time.Time
}

// Server is the fake token endpoint + SecOps ingestion API.
type Server struct {
	URL      string // https://127.0.0.1:port, the API's and the token endpoint's base
	TokenURL string
	CAPEM    []byte // the server certificate, to trust

	o     Options
	key   *rsa.PrivateKey
	email string
	tls   *tls.Config
	addr  string

	mu     sync.Mutex
	hs     *http.Server
	tokens map[string]token
	faults Faults
	flying int // ingestion calls being served
	logs   []Log
	ids    map[string]int
	stats  Stats
}

type token struct {
	scope string
	exp   time.Time
}

// New starts a server on a loopback port (TLS, as Google).
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if len(o.LogTypes) == 0 {
		o.LogTypes = []string{"SOPHOS_CENTRAL"}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	s := &Server{o: o, key: key, email: "sophos-connect@" + o.Project + ".iam.gserviceaccount.com",
		tokens: map[string]token{}, ids: map[string]int{}, stats: Stats{Status: map[int]int{}}}
	s.tls, s.CAPEM = selfSigned()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s.addr = ln.Addr().String()
	s.URL = "https://" + s.addr
	s.TokenURL = s.URL + "/token"
	s.serve(ln)
	return s
}

func (s *Server) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("POST /v1alpha/projects/{project}/locations/{location}/instances/{instance}/logTypes/{logtype}/logs:import", s.counted(s.importLogs))
	mux.HandleFunc("GET /v1alpha/projects/{project}/locations/{location}/instances/{instance}/logTypes/{logtype}", s.getLogType)
	mux.HandleFunc("POST /v2/unstructuredlogentries:batchCreate", s.counted(s.batchCreate))
	hs := &http.Server{Handler: mux, TLSConfig: s.tls, ErrorLog: log.New(io.Discard, "", 0)}
	s.mu.Lock()
	s.hs = hs
	s.mu.Unlock()
	go hs.Serve(tls.NewListener(ln, s.tls))
}

// Stop closes the port and every connection (an outage).
func (s *Server) Stop() {
	s.mu.Lock()
	hs := s.hs
	s.mu.Unlock()
	hs.Close()
}

// Restart opens the port again after Stop.
func (s *Server) Restart() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	s.serve(ln)
	return nil
}

// Close stops the server for good.
func (s *Server) Close() { s.Stop() }

// Key is the JSON key file of the service account the server trusts (its
// token_uri points here).
func (s *Server) Key() string {
	der := x509.MarshalPKCS1PrivateKey(s.key)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": s.o.Project, "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der})),
		"client_email": s.email, "client_id": "100000000000000000001", "token_uri": s.TokenURL,
	})
	return string(b)
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) { s.mu.Lock(); s.faults = f; s.mu.Unlock() }

// ExpireTokens makes every token issued so far expired.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for k, t := range s.tokens {
		t.exp = time.Now().Add(-time.Second)
		s.tokens[k] = t
	}
	s.mu.Unlock()
}

// Logs returns the entries taken.
func (s *Server) Logs() []Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Log(nil), s.logs...)
}

// IDs returns how many times each record id (the raw log's "id") arrived.
func (s *Server) IDs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.ids)
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Status = maps.Clone(s.stats.Status)
	return st
}

// gErr writes Google's error body.
func gErr(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func oauthErr(w http.ResponseWriter, code int, e, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": e, "error_description": desc})
}

// token serves the JWT bearer grant (RFC 7523) as oauth2.googleapis.com does.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		oauthErr(w, 400, "unsupported_grant_type", "Invalid grant_type: "+r.PostForm.Get("grant_type"))
		return
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		oauthErr(w, 400, "invalid_request", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
		return
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || rsa.VerifyPKCS1v15(&s.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		oauthErr(w, 400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	var claims struct {
		Iss, Scope, Aud string
		Exp, Iat        int64
	}
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(cb, &claims) != nil {
		oauthErr(w, 400, "invalid_request", "Invalid JWT claims.")
		return
	}
	now := time.Now().Unix()
	switch {
	case claims.Iss != s.email:
		oauthErr(w, 400, "invalid_grant", "Invalid grant: account not found")
		return
	case claims.Aud != s.TokenURL:
		oauthErr(w, 400, "invalid_grant", "Invalid JWT: Failed audience check.")
		return
	case claims.Exp < now || claims.Exp-claims.Iat > 3600 || claims.Iat > now+300:
		oauthErr(w, 400, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	case claims.Scope != ScopeChronicle && claims.Scope != ScopeIngestion:
		oauthErr(w, 400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	var b [24]byte
	rand.Read(b[:])
	tok := "ya29.c." + hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = token{scope: claims.Scope, exp: time.Now().Add(s.o.TokenTTL)}
	s.stats.Tokens++
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": int(s.o.TokenTTL / time.Second), "token_type": "Bearer"})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(c int) { w.status = c; w.ResponseWriter.WriteHeader(c) }

func (s *Server) counted(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: 200}
		s.mu.Lock()
		s.flying++
		s.stats.MaxInFlight = max(s.stats.MaxInFlight, s.flying)
		s.mu.Unlock()
		time.Sleep(s.o.Latency)
		h(sw, r)
		s.mu.Lock()
		s.flying--
		s.stats.Calls++
		s.stats.Status[sw.status]++
		s.mu.Unlock()
	}
}

// auth checks the bearer token and its scope; false when it answered.
func (s *Server) auth(w http.ResponseWriter, r *http.Request, scope string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	t, known := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok || !known || time.Now().After(t.exp):
		gErr(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return false
	case t.scope != scope:
		gErr(w, 403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
		return false
	case s.o.NoPermission:
		gErr(w, 403, "PERMISSION_DENIED", "Permission 'chronicle.logs.import' denied on resource (or it may not exist).")
		return false
	}
	return true
}

// instance checks the v1alpha path; false when it answered.
func (s *Server) instance(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("project") != s.o.Project || r.PathValue("location") != s.o.Location || r.PathValue("instance") != s.o.CustomerID {
		gErr(w, 404, "NOT_FOUND", fmt.Sprintf("Instance projects/%s/locations/%s/instances/%s not found.", r.PathValue("project"), r.PathValue("location"), r.PathValue("instance")))
		return false
	}
	if !s.knownLogType(r.PathValue("logtype")) {
		gErr(w, 404, "NOT_FOUND", fmt.Sprintf("Log type %s not found.", r.PathValue("logtype")))
		return false
	}
	return true
}

func (s *Server) knownLogType(t string) bool {
	for _, k := range s.o.LogTypes {
		if k == t {
			return true
		}
	}
	return false
}

func (s *Server) getLogType(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, ScopeChronicle) || !s.instance(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	json.NewEncoder(w).Encode(map[string]string{"name": strings.TrimPrefix(r.URL.Path, "/v1alpha/"), "displayName": r.PathValue("logtype")})
}

// fault answers an injected fault; false when there is none.
func (s *Server) fault(w http.ResponseWriter) (answered bool, reject []string) {
	s.mu.Lock()
	f := &s.faults
	st := outtest.NextFaultAfter(&f.FaultAfter, &f.Busy503, &f.Throttle429)
	ra := f.RetryAfter
	reject = append(reject, f.RejectIDs...)
	s.mu.Unlock()
	if st == 0 {
		return false, reject
	}
	if ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if st == 503 {
		gErr(w, 503, "UNAVAILABLE", "The service is currently unavailable.")
	} else {
		gErr(w, 429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Ingestion requests' and limit 'Ingestion requests per minute'.")
	}
	return true, nil
}

// body reads at most limit bytes; nil when it answered 413.
func body(w http.ResponseWriter, r *http.Request, limit int) []byte {
	b, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		gErr(w, 400, "INVALID_ARGUMENT", "The request body could not be read.")
		return nil
	}
	if len(b) > limit {
		gErr(w, 413, "", fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", limit))
		return nil
	}
	return b
}

// pick returns the first field present under either name (Google's JSON
// mapping takes lowerCamelCase and the proto's snake_case).
func pick(m map[string]json.RawMessage, names ...string) json.RawMessage {
	for _, n := range names {
		if v, ok := m[n]; ok {
			return v
		}
	}
	return nil
}

func (s *Server) importLogs(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, ScopeChronicle) || !s.instance(w, r) {
		return
	}
	answered, reject := s.fault(w)
	if answered {
		return
	}
	if s.o.CountOnly {
		s.count(w, r, MaxImport, 3) // {"inlineSource":{"logs":[{…}
		return
	}
	b := body(w, r, MaxImport)
	if b == nil {
		return
	}
	var req map[string]json.RawMessage
	var src map[string]json.RawMessage
	var raws []map[string]json.RawMessage
	if json.Unmarshal(b, &req) != nil || json.Unmarshal(pick(req, "inlineSource", "inline_source"), &src) != nil || json.Unmarshal(pick(src, "logs"), &raws) != nil {
		gErr(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received: expected inlineSource.logs.")
		return
	}
	if len(raws) == 0 {
		gErr(w, 400, "INVALID_ARGUMENT", "inline_source.logs must not be empty.")
		return
	}
	logs := make([]Log, 0, len(raws))
	for i, m := range raws {
		var data, et, ct string
		if json.Unmarshal(pick(m, "data"), &data) != nil || json.Unmarshal(pick(m, "logEntryTime", "log_entry_time"), &et) != nil || json.Unmarshal(pick(m, "collectionTime", "collection_time"), &ct) != nil {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("logs[%d]: data, log_entry_time and collection_time are required.", i))
			return
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil || len(raw) == 0 {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'inline_source.logs[%d].data' (TYPE_BYTES), Base64 decoding failed.", i))
			return
		}
		t1, err1 := time.Parse(time.RFC3339Nano, et)
		t2, err2 := time.Parse(time.RFC3339Nano, ct)
		if err1 != nil || err2 != nil {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("logs[%d]: invalid timestamp.", i))
			return
		}
		if t2.Before(t1) {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("logs[%d]: collection_time must be after log_entry_time.", i))
			return
		}
		if id := outtest.RecordID(raw); contains(reject, id) {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("logs[%d]: the log could not be imported.", i))
			return
		}
		logs = append(logs, Log{LogType: r.PathValue("logtype"), Data: raw, LogEntryTime: t1, CollectionTime: t2})
	}
	s.take(logs, len(b))
	answerOK(w)
}

func (s *Server) batchCreate(w http.ResponseWriter, r *http.Request) {
	if !s.auth(w, r, ScopeIngestion) {
		return
	}
	answered, reject := s.fault(w)
	if answered {
		return
	}
	if s.o.CountOnly {
		s.count(w, r, MaxV2, 2) // {…,"entries":[{…}
		return
	}
	b := body(w, r, MaxV2)
	if b == nil {
		return
	}
	var req map[string]json.RawMessage
	var customer, logType string
	var entries []map[string]json.RawMessage
	if json.Unmarshal(b, &req) != nil || json.Unmarshal(pick(req, "customer_id", "customerId"), &customer) != nil ||
		json.Unmarshal(pick(req, "log_type", "logType"), &logType) != nil || json.Unmarshal(pick(req, "entries"), &entries) != nil {
		gErr(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received: customer_id, log_type and entries are required.")
		return
	}
	if customer != s.o.CustomerID {
		gErr(w, 403, "PERMISSION_DENIED", "The caller does not have permission for customer "+customer+".")
		return
	}
	if !s.knownLogType(logType) {
		gErr(w, 400, "INVALID_ARGUMENT", "Invalid log type: "+logType)
		return
	}
	logs := make([]Log, 0, len(entries))
	for i, m := range entries {
		var text string
		if json.Unmarshal(pick(m, "log_text", "logText"), &text) != nil || text == "" {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("entries[%d]: log_text is required.", i))
			return
		}
		var ts json.Number
		if v := pick(m, "ts_epoch_microseconds", "tsEpochMicroseconds"); v != nil {
			var str string
			if json.Unmarshal(v, &str) == nil {
				ts = json.Number(str)
			} else if json.Unmarshal(v, &ts) != nil {
				gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("entries[%d]: ts_epoch_microseconds is not an integer.", i))
				return
			}
		}
		var when time.Time
		if ts != "" {
			us, err := strconv.ParseInt(string(ts), 10, 64)
			if err != nil {
				gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("entries[%d]: ts_epoch_microseconds is not an integer.", i))
				return
			}
			when = time.UnixMicro(us)
		}
		if id := outtest.RecordID([]byte(text)); contains(reject, id) {
			gErr(w, 400, "INVALID_ARGUMENT", fmt.Sprintf("entries[%d]: the log could not be ingested.", i))
			return
		}
		logs = append(logs, Log{LogType: logType, Data: []byte(text), LogEntryTime: when})
	}
	s.take(logs, len(b))
	answerOK(w)
}

// count takes a request in CountOnly mode: the entries are the objects at
// depth of the body, counted by a scan.
func (s *Server) count(w http.ResponseWriter, r *http.Request, limit, depth int) {
	c, err := outtest.CountBody(r, depth)
	if err == nil && c.Size > limit {
		gErr(w, 413, "", fmt.Sprintf("Request payload size exceeds the limit: %d bytes.", limit))
		return
	}
	if err != nil || c.Opens != '{' || c.Objects == 0 {
		gErr(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received: no entries.")
		return
	}
	s.mu.Lock()
	s.stats.MaxBody = max(s.stats.MaxBody, c.Size)
	s.stats.Logs += c.Objects
	s.mu.Unlock()
	answerOK(w)
}

// answerOK is the empty JSON object Google answers a successful import with.
func answerOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Write([]byte("{}\n"))
}

func contains(list []string, id string) bool {
	for _, x := range list {
		if x == id && id != "" {
			return true
		}
	}
	return false
}

func (s *Server) take(logs []Log, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.MaxBody = max(s.stats.MaxBody, n)
	s.stats.Logs += len(logs)
	for _, l := range logs {
		s.ids[outtest.RecordID(l.Data)]++
		if !s.o.DiscardLogs {
			s.logs = append(s.logs, l)
		}
	}
}

// selfSigned makes a certificate for 127.0.0.1 and returns the server's
// TLS config and the certificate in PEM (to trust).
func selfSigned() (*tls.Config, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "googlesecopstest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
