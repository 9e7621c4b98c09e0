package otlp

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
)

func TestConfigFromYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := config.DecodeStrict(&n, &c, "sinks[0]", config.CommonKeys...); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.URL() != "https://otel-collector.example:4318/v1/logs" || c.Auth.Type != "bearer" || c.MaxBytes != 4<<20 ||
		c.ResourceAttributes["deployment.environment"] != "prod" || c.Headers["X-Scope-OrgID"] != "soc" {
		t.Fatalf("decoded %+v", c)
	}
}

func TestValidateNamesEachBadKey(t *testing.T) {
	c := DefaultConfig()
	c.Endpoint = "otel:4318"
	c.Encoding = "protobuf"
	c.Compression = "zstd"
	c.Auth.Type = "bearer"
	c.Headers = map[string]config.Secret{"Content-Type": "x"}
	c.ResourceAttributes = map[string]string{"service.name": "x"}
	c.MaxRecords = -1
	err := c.Validate()
	var list config.Errors
	if !errors.As(err, &list) {
		t.Fatalf("want config.Errors, got %v", err)
	}
	want := []string{"endpoint", "encoding", "compression", "headers", "auth.token", "resource_attributes", "max_records"}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d: %v", len(list), len(want), err)
	}
	for i, e := range list {
		var fe *config.FieldError
		if !errors.As(e, &fe) || fe.Key != want[i] {
			t.Errorf("error %d = %v, want a FieldError for %s", i, e, want[i])
		}
	}
	// a URL with a path is used as is; credentials in it are refused
	c = testConfig("http://gw.example/otlp/v1/logs")
	if err := c.Validate(); err != nil || c.URL() != "http://gw.example/otlp/v1/logs" {
		t.Fatalf("%v %s", err, c.URL())
	}
	c.Endpoint = "http://user:pw@gw.example"
	if err := c.Validate(); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("credentials in the URL: %v", err)
	}
}

// TestLogRecordShape checks every field of a LogRecord and the resources,
// in both encodings.
func TestLogRecordShape(t *testing.T) {
	for _, enc := range []string{"proto", "json"} {
		t.Run(enc, func(t *testing.T) {
			srv := testServer(t, otlptest.Options{})
			c := testConfig(srv.URL)
			c.Encoding = enc
			c.ResourceAttributes = map[string]string{"deployment.environment": "prod"}
			s := started(t, c)
			recs := outtest.Records(t, "shape", 3)
			other := *recs[0]
			other.Tenant, other.ID = "11111111-2222-3333-4444-555555555555", "other-tenant"
			recs = append(recs, &other)
			if err := s.Write(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			if ct := srv.ContentTypes(); ct[map[string]string{"proto": "application/x-protobuf", "json": "application/json"}[enc]] != 2 {
				t.Fatalf("content types %v (start-up check and one request)", ct)
			}
			rls := srv.ResourceLogs()
			if len(rls) != 2 {
				t.Fatalf("%d resources, want one per tenant", len(rls))
			}
			res := map[string]string{}
			for _, kv := range rls[0].Resource.Attributes {
				res[kv.Key] = kv.Value.GetStringValue()
			}
			if res["service.name"] != "sophos-connect" || res["sophos.tenant.id"] != outtest.Tenant || res["deployment.environment"] != "prod" || len(res) != 3 {
				t.Fatalf("resource %v", res)
			}
			sl := rls[0].ScopeLogs[0]
			if sl.Scope.Name != ScopeName || len(sl.LogRecords) != 3 {
				t.Fatalf("scope %v, %d records", sl.Scope, len(sl.LogRecords))
			}
			alert := sl.LogRecords[2] // every third record is an alert
			r := recs[2]
			attrs := map[string]string{}
			for _, kv := range alert.Attributes {
				attrs[kv.Key] = kv.Value.GetStringValue()
			}
			want := map[string]string{"log.record.uid": r.ID, "sophos.datastream": "alert", "sophos.type": r.Type,
				"sophos.name": r.Name, "host.name": r.Host, "user.name": r.User, "sophos.endpoint.id": r.EndpointID,
				"sophos.endpoint.type": "computer", "sophos.created_at": r.CreatedAt}
			for k, v := range want {
				if attrs[k] != v || v == "" {
					t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
				}
			}
			if _, ok := attrs["sophos.group"]; ok {
				t.Error("an alert has no group: the attribute must be absent, not empty")
			}
			if alert.TimeUnixNano != uint64(r.WhenTime().UnixNano()) || alert.ObservedTimeUnixNano == 0 {
				t.Errorf("times %d %d, want %d", alert.TimeUnixNano, alert.ObservedTimeUnixNano, r.WhenTime().UnixNano())
			}
			if alert.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_ERROR || alert.SeverityText != "high" || alert.EventName != r.Type {
				t.Errorf("severity %v %q event %q", alert.SeverityNumber, alert.SeverityText, alert.EventName)
			}
			if sl.LogRecords[0].SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_WARN {
				t.Errorf("medium → %v", sl.LogRecords[0].SeverityNumber)
			}
			// body: the raw encoding (the API item plus datastream and tenant_id)
			body := alert.Body.GetStringValue()
			if !strings.HasPrefix(body, `{"id":"`+r.ID+`"`) || !strings.Contains(body, `"datastream":"alert"`) {
				t.Errorf("body %s", body)
			}
			if outtest.RecordID([]byte(body)) != r.ID {
				t.Errorf("body id")
			}
			if rls[1].ScopeLogs[0].LogRecords[0].Attributes[0].Value.GetStringValue() != "other-tenant" {
				t.Error("second tenant's record")
			}
		})
	}
}

func TestSeverityMapping(t *testing.T) {
	for in, want := range map[string]logspb.SeverityNumber{"low": 9, "medium": 13, "high": 17, "critical": 21, "HIGH": 17, "": 0, "weird": 0} {
		if got := Severity(in); got != want {
			t.Errorf("%q → %v, want %v", in, got, want)
		}
	}
}

// TestRetryRules: the OTLP specification's statuses. 429, 502, 503 and 504
// are retried (the whole batch, nothing dead-lettered); 400 finds the
// refused record by halves and dead-letters only it; 401, 404 and 500 are
// permanent.
func TestRetryRules(t *testing.T) {
	for _, tc := range []struct {
		faults    otlptest.Faults
		retry     bool // the whole batch is to be retried
		rejectAll bool
	}{
		{faults: otlptest.Faults{Throttle429: 1}, retry: true},
		{faults: otlptest.Faults{BadGateway502: 1}, retry: true},
		{faults: otlptest.Faults{Busy503: 1}, retry: true},
		{faults: otlptest.Faults{Status: 504}, retry: true},
		{faults: otlptest.Faults{Status: 401}, rejectAll: true},
		{faults: otlptest.Faults{Status: 404}, rejectAll: true},
		{faults: otlptest.Faults{Status: 500}, rejectAll: true},
		{faults: otlptest.Faults{Status: 403}, rejectAll: true},
	} {
		srv := testServer(t, otlptest.Options{})
		s := started(t, testConfig(srv.URL))
		srv.SetFaults(tc.faults)
		recs := outtest.Records(t, "rules", 10)
		err := s.Write(t.Context(), recs)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || len(be.Items) != 10 {
			t.Fatalf("%+v: %v, want all 10 failed", tc.faults, err)
		}
		for _, it := range be.Items {
			if pipeline.IsPermanent(it.Err) != tc.rejectAll {
				t.Fatalf("%+v: record %d permanent=%v: %v", tc.faults, it.Index, pipeline.IsPermanent(it.Err), it.Err)
			}
		}
		if tc.retry {
			// the fault is over: the retry delivers every record once
			srv.SetFaults(otlptest.Faults{})
			if err := s.Write(t.Context(), recs); err != nil {
				t.Fatalf("%+v: retry: %v", tc.faults, err)
			}
			for _, id := range outtest.IDs(recs) {
				if srv.IDs()[id] != 1 {
					t.Fatalf("%+v: %s arrived %d times", tc.faults, id, srv.IDs()[id])
				}
			}
		}
	}

	// 400 for one record: it alone is dead-lettered, the others delivered once
	srv := testServer(t, otlptest.Options{})
	s := started(t, testConfig(srv.URL))
	recs := outtest.Records(t, "split", 20)
	srv.SetFaults(otlptest.Faults{RejectIDs: []string{recs[13].ID}})
	err := s.Write(t.Context(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 13 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "400 Bad Request: record "+recs[13].ID+": invalid") {
		t.Fatalf("%v", err)
	}
	if n := len(srv.IDs()); n != 19 {
		t.Fatalf("%d delivered, want 19", n)
	}
}

// TestRetryAfterHonoured: no request leaves before a 503's Retry-After.
func TestRetryAfterHonoured(t *testing.T) {
	srv := testServer(t, otlptest.Options{})
	s := started(t, testConfig(srv.URL))
	srv.SetFaults(otlptest.Faults{Busy503: 1, RetryAfter: "1"})
	recs := outtest.Records(t, "ra", 5)
	if err := s.Write(t.Context(), recs); err == nil {
		t.Fatal("503 accepted")
	}
	start := time.Now()
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("retried after %s, before Retry-After: 1", d)
	}
}

// TestPartialSuccess: rejected_log_records = 3 dead-letters exactly 3
// records, the last 3 of the request, with the receiver's message; the
// others count as delivered. Both encodings read the answer.
func TestPartialSuccess(t *testing.T) {
	for _, enc := range []string{"proto", "json"} {
		srv := testServer(t, otlptest.Options{})
		c := testConfig(srv.URL)
		c.Encoding = enc
		s := started(t, c)
		srv.SetFaults(otlptest.Faults{Partial: 3})
		recs := outtest.Records(t, "partial", 10)
		err := s.Write(t.Context(), recs)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || len(be.Items) != 3 {
			t.Fatalf("%s: %v, want exactly 3 dead-lettered", enc, err)
		}
		for i, it := range be.Items {
			if it.Index != 7+i || !pipeline.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "rejected 3 of the 10 records") ||
				!strings.Contains(it.Err.Error(), "scripted rejection") {
				t.Fatalf("%s: item %+v", enc, it)
			}
		}
		if got := srv.IDs(); len(got) != 7 || got[recs[6].ID] != 1 || got[recs[7].ID] != 0 {
			t.Fatalf("%s: kept %v", enc, got)
		}
	}
}

// TestMaxRecordsCutsRequests: max_records bounds the records of a request
// (max_records: 1 makes a partial success name its record exactly).
func TestMaxRecordsCutsRequests(t *testing.T) {
	srv := testServer(t, otlptest.Options{})
	c := testConfig(srv.URL)
	c.MaxRecords = 4
	s := started(t, c)
	recs := outtest.Records(t, "narrow", 10)
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Requests != 1+3 {
		t.Fatalf("%d requests, want start-up + 3 of at most 4 records", st.Requests)
	}
}

// TestAuthHeadersAndSecrets: bearer and headers are sent; a receiver that
// echoes the token does not get it into the error.
func TestAuthHeadersAndSecrets(t *testing.T) {
	const token = "tok-9f8e7d6c5b4a"
	srv := testServer(t, otlptest.Options{Token: token, Header: [2]string{"X-Scope-OrgID", "soc"}})
	c := testConfig(srv.URL)
	c.Auth = Auth{Type: "bearer", Token: token}
	c.Headers = map[string]config.Secret{"X-Scope-OrgID": "soc"}
	s := started(t, c)
	if err := s.Write(t.Context(), outtest.Records(t, "auth", 5)); err != nil {
		t.Fatal(err)
	}
	// wrong token: start-up fails with the fix, without the token
	c.Auth.Token = "wrong-token-123456"
	var logs bytes.Buffer
	s2 := newSink(t, c, slog.New(slog.NewTextHandler(&logs, nil)))
	err := s2.Start(t.Context())
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "check auth") ||
		strings.Contains(err.Error(), "wrong-token") || strings.Contains(logs.String(), "wrong-token") {
		t.Fatalf("start: %v", err)
	}
}

// TestStartFailsWithFix: a wrong path and a closed port fail the start-up
// check with the cause and the fix.
func TestStartFailsWithFix(t *testing.T) {
	srv := testServer(t, otlptest.Options{})
	c := testConfig(srv.URL + "/v1/traces")
	if err := newSink(t, c, nil).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "/v1/logs") {
		t.Fatalf("wrong path: %v", err)
	}
	url := srv.URL
	srv.Close()
	if err := newSink(t, testConfig(url), nil).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("closed port: %v", err)
	}
}

func TestTLS(t *testing.T) {
	srv := testServer(t, otlptest.Options{TLS: true})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCert(t, ca, srv.Certificate())
	c := testConfig(srv.URL)
	c.TLS.CAFile = ca
	s := started(t, c)
	if err := s.Write(t.Context(), outtest.Records(t, "tls", 3)); err != nil || len(srv.IDs()) != 3 {
		t.Fatalf("%v %v", err, srv.IDs())
	}
	c.TLS.CAFile = ""
	if err := newSink(t, c, nil).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
}
