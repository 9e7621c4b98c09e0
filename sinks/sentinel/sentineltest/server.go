// Package sentineltest is an in-process Azure Monitor Logs Ingestion API
// (what Microsoft Sentinel ingests custom logs through) with a fake
// Microsoft Entra ID token endpoint, for tests and benchmarks.
//
// Token endpoint: POST /<tenant>/oauth2/v2.0/token with the client
// credentials grant; the scope must be https://monitor.azure.com//.default;
// wrong tenant, client, secret or scope get Entra's OAuth2 error bodies
// ({"error":…,"error_description":"AADSTS…"}). Tokens expire after TokenTTL
// and can be revoked (ExpireTokens) to model expiry mid-run.
//
// Ingestion: POST /dataCollectionRules/<immutable id>/streams/<stream>
// ?api-version=2023-01-01 with "Authorization: Bearer <token>", a JSON array
// (gzip allowed), at most 1 MB (1,048,576 bytes, the limit applies to the
// uncompressed body too); 204 on success, 413 when larger, 429/503 with
// Retry-After as faults, 401 for a missing or expired token, 403 when the
// app lacks the Monitoring Metrics Publisher role on the DCR. Rows are
// checked against the DCR's stream declaration (LoadDCR reads one): columns
// the declaration does not have are dropped, as Azure does, and counted so
// tests can prove none was; a value of the wrong type is a 400. Error
// bodies use Azure's {"error":{"code":…,"message":…}} shape; the codes are
// this server's names, and the sink reads only the HTTP status.
//
// With CountOnly (benchmarks: the figure is the sink's, not this server's)
// the answers are the same but a call's rows are counted, not parsed: the
// body is gunzipped into a pooled buffer and its objects at depth 1 counted
// (Stats.Rows); type checks, dropped columns, RejectIDs and IDs are off.
package sentineltest

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// Scope is the scope a Logs Ingestion token must be requested for.
const Scope = "https://monitor.azure.com//.default"

// MaxBody is the Logs Ingestion API's limit per call.
const MaxBody = 1 << 20

// Column is one column of a stream declaration.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // string, int, long, real, boolean, datetime, dynamic
}

// LoadDCR reads the stream declarations of a DCR JSON file (the resource
// body, as examples/sentinel-dcr.json).
func LoadDCR(path string) (map[string][]Column, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var dcr struct {
		Properties struct {
			StreamDeclarations map[string]struct {
				Columns []Column `json:"columns"`
			} `json:"streamDeclarations"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &dcr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string][]Column{}
	for name, d := range dcr.Properties.StreamDeclarations {
		out[name] = d.Columns
	}
	return out, nil
}

// Options configure a server.
type Options struct {
	TenantID, ClientID, ClientSecret string
	DCR                              string              // immutable id, dcr-…
	Streams                          map[string][]Column // stream declarations
	TokenTTL                         time.Duration       // default 1h (Entra: 60–90 min)
	NoRole                           bool                // the app lacks Monitoring Metrics Publisher
	DiscardRows                      bool                // keep ids only (benchmarks)
	CountOnly                        bool                // count the rows, parse none (benchmarks; see the package comment)
}

// Faults are injected into the ingestion answers.
type Faults struct {
	Busy503     int      // the next N calls answer 503
	FaultAfter  int      // Busy503 and Throttle429 start after this many more calls answered normally
	Throttle429 int      // the next N calls answer 429
	RetryAfter  string   // sent with them
	RejectIDs   []string // a call holding a row whose SophosId (or id) is one of these answers 400
}

// Stats count what the server saw.
type Stats struct {
	Calls, Tokens, Gzip int
	Rows                int // rows taken
	Status              map[int]int
	Dropped             map[string]int // columns dropped because the stream does not declare them
	MaxBody             int            // largest uncompressed body taken
}

// Server is the fake Entra ID + Logs Ingestion endpoint.
type Server struct {
	*httptest.Server
	URL string // both the authority host and the DCE/DCR endpoint
	o   Options

	mu     sync.Mutex
	tokens map[string]time.Time // token → expiry
	faults Faults
	rows   map[string][]map[string]json.RawMessage // stream → rows
	ids    map[string]int
	stats  Stats
}

// New starts a server on a loopback port (TLS, as Azure; use s.Client()).
func New(o Options) *Server {
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	s := &Server{o: o, tokens: map[string]time.Time{}, rows: map[string][]map[string]json.RawMessage{}, ids: map[string]int{},
		stats: Stats{Status: map[int]int{}, Dropped: map[string]int{}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("POST /dataCollectionRules/{dcr}/streams/{stream}", s.ingest)
	s.Server = httptest.NewTLSServer(mux)
	s.URL = s.Server.URL
	return s
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) { s.mu.Lock(); s.faults = f; s.mu.Unlock() }

// ExpireTokens makes every token issued so far expired (Entra rotates keys,
// or a token outlived its lifetime while the client still held it).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	for t := range s.tokens {
		s.tokens[t] = time.Now().Add(-time.Second)
	}
	s.mu.Unlock()
}

// Rows returns the rows ingested into stream.
func (s *Server) Rows(stream string) []map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), s.rows[stream]...)
}

// IDs returns how many times each row id (SophosId, else id) was ingested.
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
	st.Status, st.Dropped = maps.Clone(s.stats.Status), maps.Clone(s.stats.Dropped)
	return st
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": code,
		"error_description": desc + "\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 00000000-0000-0000-0000-000000000000\r\nTimestamp: " + time.Now().UTC().Format("2006-01-02 15:04:05Z"),
		"timestamp":         time.Now().UTC().Format("2006-01-02 15:04:05Z")})
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "AADSTS900144: The request body must contain the following parameter: 'grant_type'.")
		return
	}
	switch {
	case r.PathValue("tenant") != s.o.TenantID:
		oauthErr(w, 400, "invalid_request", fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", r.PathValue("tenant")))
	case r.PostForm.Get("grant_type") != "client_credentials":
		oauthErr(w, 400, "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.")
	case r.PostForm.Get("client_id") != s.o.ClientID:
		oauthErr(w, 400, "unauthorized_client", fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", r.PostForm.Get("client_id"), s.o.TenantID))
	case r.PostForm.Get("client_secret") != s.o.ClientSecret:
		oauthErr(w, 401, "invalid_client", fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", s.o.ClientID))
	case r.PostForm.Get("scope") != Scope:
		oauthErr(w, 400, "invalid_scope", fmt.Sprintf("AADSTS70011: The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", r.PostForm.Get("scope")))
	default:
		var b [24]byte
		rand.Read(b[:])
		tok := "eyJ0eXAiOiJKV1QifQ." + hex.EncodeToString(b[:])
		s.mu.Lock()
		s.tokens[tok] = time.Now().Add(s.o.TokenTTL)
		s.stats.Tokens++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		secs := int(s.o.TokenTTL / time.Second)
		json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	}
}

func azErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func (s *Server) ingest(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: 200}
	s.doIngest(sw, r)
	s.mu.Lock()
	s.stats.Calls++
	s.stats.Status[sw.status]++
	s.mu.Unlock()
}

func (s *Server) doIngest(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("api-version"); v != "2023-01-01" {
		azErr(w, 400, "InvalidApiVersion", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '2023-01-01,2021-11-01-preview'.", v))
		return
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	s.mu.Lock()
	exp, known := s.tokens[tok]
	f := &s.faults
	s.mu.Unlock()
	switch {
	case auth == "" || !ok:
		azErr(w, 401, "InvalidAuthenticationToken", "Authentication failed. The 'Authorization' header is missing or not a bearer token.")
		return
	case !known:
		azErr(w, 401, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	case time.Now().After(exp):
		azErr(w, 401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
		return
	case r.PathValue("dcr") != s.o.DCR:
		azErr(w, 404, "NotFound", fmt.Sprintf("Data collection rule with immutable Id '%s' not found.", r.PathValue("dcr")))
		return
	case s.o.NoRole:
		azErr(w, 403, "OperationFailed", fmt.Sprintf("The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '%s'.", s.o.DCR))
		return
	}
	cols, ok := s.o.Streams[r.PathValue("stream")]
	if !ok {
		azErr(w, 404, "InvalidStream", fmt.Sprintf("Stream '%s' is not declared in data collection rule '%s'.", r.PathValue("stream"), s.o.DCR))
		return
	}
	s.mu.Lock()
	if st := outtest.NextFaultAfter(&f.FaultAfter, &f.Busy503, &f.Throttle429); st != 0 {
		ra := f.RetryAfter
		s.mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		if st == 503 {
			azErr(w, 503, "ServiceUnavailable", "The service is temporarily unavailable.")
		} else {
			azErr(w, 429, "TooManyRequests", "Rate limit for the data collection rule exceeded.")
		}
		return
	}
	reject := append([]string(nil), f.RejectIDs...)
	s.mu.Unlock()
	if s.o.CountOnly {
		s.count(w, r)
		return
	}

	var rd io.Reader = io.LimitReader(r.Body, MaxBody+1)
	gz := strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip")
	if gz {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			azErr(w, 400, "InvalidContentEncoding", "The request body is not valid gzip.")
			return
		}
		rd = io.LimitReader(zr, MaxBody+1)
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		azErr(w, 400, "InvalidContent", "The request body could not be read.")
		return
	}
	if len(body) > MaxBody {
		azErr(w, 413, "ContentLengthLimitExceeded", fmt.Sprintf("Maximum request body size is %d bytes.", MaxBody))
		return
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		azErr(w, 400, "InvalidContent", "The request body must be a JSON array of objects: "+err.Error())
		return
	}
	types := map[string]string{}
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	dropped := map[string]int{}
	for i, row := range rows {
		for k, v := range row {
			t, ok := types[k]
			if !ok {
				dropped[k]++
				delete(row, k)
				continue
			}
			if err := checkType(t, v); err != nil {
				azErr(w, 400, "InvalidContent", fmt.Sprintf("Row %d, column '%s' (%s): %v.", i, k, t, err))
				return
			}
		}
		id := rowID(row)
		for _, bad := range reject {
			if id == bad {
				azErr(w, 400, "InvalidContent", fmt.Sprintf("Row %d could not be processed.", i))
				return
			}
		}
	}
	s.mu.Lock()
	if gz {
		s.stats.Gzip++
	}
	s.stats.MaxBody = max(s.stats.MaxBody, len(body))
	s.stats.Rows += len(rows)
	for k, n := range dropped {
		s.stats.Dropped[k] += n
	}
	for _, row := range rows {
		s.ids[rowID(row)]++
		if !s.o.DiscardRows {
			s.rows[r.PathValue("stream")] = append(s.rows[r.PathValue("stream")], row)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// count takes a call in CountOnly mode: the same limit and answers, the
// rows counted by a scan.
func (s *Server) count(w http.ResponseWriter, r *http.Request) {
	c, err := outtest.CountBody(r, 1)
	switch {
	case err != nil:
		azErr(w, 400, "InvalidContent", "The request body could not be read (or is not valid gzip).")
		return
	case c.Size > MaxBody:
		azErr(w, 413, "ContentLengthLimitExceeded", fmt.Sprintf("Maximum request body size is %d bytes.", MaxBody))
		return
	case c.Opens != '[':
		azErr(w, 400, "InvalidContent", "The request body must be a JSON array of objects.")
		return
	}
	s.mu.Lock()
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		s.stats.Gzip++
	}
	s.stats.MaxBody = max(s.stats.MaxBody, c.Size)
	s.stats.Rows += c.Objects
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func rowID(row map[string]json.RawMessage) string {
	for _, k := range []string{"SophosId", "id"} {
		var s string
		if json.Unmarshal(row[k], &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// checkType: the value must fit the column's declared type (null fits any).
func checkType(t string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		return nil
	}
	switch t {
	case "string":
		if v[0] != '"' {
			return fmt.Errorf("not a string")
		}
	case "datetime":
		var s string
		if json.Unmarshal(v, &s) != nil {
			return fmt.Errorf("not an ISO 8601 string")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("%q is not an ISO 8601 date-time", s)
		}
	case "int", "long", "real":
		var n json.Number
		if json.Unmarshal(v, &n) != nil {
			return fmt.Errorf("not a number")
		}
	case "boolean":
		if string(v) != "true" && string(v) != "false" {
			return fmt.Errorf("not a boolean")
		}
	case "dynamic":
		if !json.Valid(v) {
			return fmt.Errorf("not JSON")
		}
	default:
		return fmt.Errorf("unknown column type %q", t)
	}
	return nil
}
