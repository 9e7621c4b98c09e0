package googlesecops

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// TestValidate: every bad key is named, with the fix, and the key's
// content is never echoed.
func TestValidate(t *testing.T) {
	srv := testServer(t, googlesecopstest.Options{})
	good := testConfig(t, srv, "v1alpha")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mod  func(c *Config)
		key  string
		want string
	}{
		"api":            {func(c *Config) { c.API = "v3" }, "api", "v1alpha"},
		"project":        {func(c *Config) { c.Project = "" }, "project", "SIEM Settings"},
		"project on v2":  {func(c *Config) { c.API = "v2" }, "project", "only the customer_id"},
		"region":         {func(c *Config) { c.Region = "mars-1" }, "region", "europe-west2"},
		"customer_id":    {func(c *Config) { c.CustomerID = "acme" }, "customer_id", "UUID"},
		"log_type":       {func(c *Config) { c.LogType = "sophos central" }, "log_type", "SOPHOS_CENTRAL"},
		"no credentials": {func(c *Config) { c.Credentials = "" }, "credentials", "credentials_file"},
		"not json":       {func(c *Config) { c.Credentials = "s3cret-not-json" }, "credentials", "JSON key"},
		"user creds":     {func(c *Config) { c.Credentials = `{"type":"authorized_user","refresh_token":"s3cret"}` }, "credentials", "service account"},
		"endpoint":       {func(c *Config) { c.Endpoint = "http://chronicle.example" }, "endpoint", "https"},
		"token_url":      {func(c *Config) { c.TokenURL = "http://oauth2.example/token" }, "token_url", "https"},
		"max_bytes v2":   {func(c *Config) { c.API, c.Project, c.MaxBytes = "v2", "", 2<<20 }, "max_bytes", "1048576"},
		"max_bytes":      {func(c *Config) { c.MaxBytes = 5 << 20 }, "max_bytes", "4194304"},
		"format":         {func(c *Config) { c.Format = "xml" }, "format", "raw"},
	} {
		c := good
		tc.mod(&c)
		err := c.Validate()
		var list config.Errors
		if !errors.As(err, &list) {
			t.Fatalf("%s: %v", name, err)
		}
		found := false
		for _, e := range list {
			var fe *config.FieldError
			if errors.As(e, &fe) && fe.Key == tc.key && strings.Contains(fe.Msg, tc.want) {
				found = true
			}
		}
		if !found || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: %v, want key %s saying %q (and no secret)", name, err, tc.key, tc.want)
		}
	}
}

// TestRegionalEndpoints: each region goes to its documented host.
func TestRegionalEndpoints(t *testing.T) {
	c := DefaultConfig()
	c.Project, c.CustomerID = project, customerID
	for _, tc := range []struct{ api, region, want string }{
		{"v1alpha", "us", "https://chronicle.us.rep.googleapis.com/v1alpha/projects/soc-secops-prod/locations/us/instances/" + customerID + "/logTypes/SOPHOS_CENTRAL/logs:import"},
		{"v1alpha", "europe", "https://chronicle.eu.rep.googleapis.com/v1alpha/projects/soc-secops-prod/locations/eu/instances/" + customerID + "/logTypes/SOPHOS_CENTRAL/logs:import"},
		{"v1alpha", "europe-west2", "https://chronicle.europe-west2.rep.googleapis.com/v1alpha/projects/soc-secops-prod/locations/europe-west2/instances/" + customerID + "/logTypes/SOPHOS_CENTRAL/logs:import"},
		{"v1alpha", "asia", "https://chronicle.asia-southeast1.rep.googleapis.com/v1alpha/projects/soc-secops-prod/locations/asia-southeast1/instances/" + customerID + "/logTypes/SOPHOS_CENTRAL/logs:import"},
		{"v2", "us", "https://malachiteingestion-pa.googleapis.com/v2/unstructuredlogentries:batchCreate"},
		{"v2", "europe", "https://europe-malachiteingestion-pa.googleapis.com/v2/unstructuredlogentries:batchCreate"},
		{"v2", "eu", "https://europe-malachiteingestion-pa.googleapis.com/v2/unstructuredlogentries:batchCreate"},
		{"v2", "asia", "https://asia-southeast1-malachiteingestion-pa.googleapis.com/v2/unstructuredlogentries:batchCreate"},
		{"v2", "europe-west3", "https://europe-west3-malachiteingestion-pa.googleapis.com/v2/unstructuredlogentries:batchCreate"},
	} {
		c.API, c.Region = tc.api, tc.region
		if got := c.URL(); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.api, tc.region, got, tc.want)
		}
	}
}

// TestEntriesReadBack: through both APIs, every record arrives once as a
// raw JSON entry of log type SOPHOS_CENTRAL with its own time, in
// requests under max_bytes.
func TestEntriesReadBack(t *testing.T) {
	for _, api := range []string{"v1alpha", "v2"} {
		t.Run(api, func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{})
			c := testConfig(t, srv, api)
			c.MaxBytes = 20_000 // many requests
			s := started(t, c)
			recs := outtest.Records(t, "rb", 300)
			if err := s.Write(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			if n := outtest.ExactlyOnce(t, outtest.IDs(recs), srv.IDs(), nil); n != 0 {
				t.Fatalf("%d repeats", n)
			}
			st := srv.Stats()
			if st.Calls < 10 || st.MaxBody > 20_000 {
				t.Fatalf("stats %+v: want many requests, each under max_bytes", st)
			}
			byID := map[string]*pipeline.Record{}
			for _, r := range recs {
				byID[r.ID] = r
			}
			for _, l := range srv.Logs() {
				r := byID[outtest.RecordID(l.Data)]
				if l.LogType != "SOPHOS_CENTRAL" || !strings.Contains(string(l.Data), `"type":"`+r.Type+`"`) {
					t.Fatalf("entry %s: %s", l.LogType, l.Data)
				}
				if !l.LogEntryTime.Equal(r.WhenTime().Truncate(time.Microsecond)) {
					t.Fatalf("entry time %s, want %s", l.LogEntryTime, r.WhenTime())
				}
				if api == "v1alpha" && l.CollectionTime.Before(l.LogEntryTime) {
					t.Fatalf("collection time %s before entry time %s", l.CollectionTime, l.LogEntryTime)
				}
			}
		})
	}
}

// TestBadEntryIsolated: a request holding an entry SecOps refuses (400) is
// split until that entry is alone; only its record fails, for good, with
// Google's reason; the others arrive once.
func TestBadEntryIsolated(t *testing.T) {
	for _, api := range []string{"v1alpha", "v2"} {
		t.Run(api, func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{})
			s := started(t, testConfig(t, srv, api))
			recs := outtest.Records(t, "bad", 500)
			srv.SetFaults(googlesecopstest.Faults{RejectIDs: []string{recs[321].ID}})
			err := s.Write(t.Context(), recs)
			var be *pipeline.BatchError
			if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 321 || !pipeline.IsPermanent(be.Items[0].Err) ||
				!strings.Contains(be.Items[0].Err.Error(), "400 INVALID_ARGUMENT") {
				t.Fatalf("%v", err)
			}
			outtest.ExactlyOnce(t, outtest.IDs(recs), srv.IDs(), map[string]bool{recs[321].ID: true})
		})
	}
}

// TestRetryAnswers: 503 and 429 fail the whole batch as retryable (not
// permanent), and no request leaves before Retry-After. The same against
// the benchmarks' CountOnly server, which must answer as the full one does.
func TestRetryAnswers(t *testing.T) {
	for _, countOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("CountOnly=%v", countOnly), func(t *testing.T) {
			srv := testServer(t, googlesecopstest.Options{CountOnly: countOnly})
			s := started(t, testConfig(t, srv, "v1alpha"))
			recs := outtest.Records(t, "busy", 10)
			srv.SetFaults(googlesecopstest.Faults{Throttle429: 1, RetryAfter: "1"})
			err := s.Write(t.Context(), recs)
			var be *pipeline.BatchError
			if !errors.As(err, &be) || len(be.Items) != 10 || pipeline.IsPermanent(be.Items[0].Err) || !strings.Contains(err.Error(), "429 RESOURCE_EXHAUSTED") {
				t.Fatalf("%v", err)
			}
			start := time.Now()
			srv.ExpireTokens() // and a fresh token after the 401
			if err := s.Write(t.Context(), recs); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < 900*time.Millisecond {
				t.Fatalf("retried after %s, before Retry-After: 1", d)
			}
			if n := srv.Stats().Logs; n != 10 {
				t.Fatalf("%d entries taken, want 10", n)
			}
		})
	}
}

// TestStartChecks: the start-up check names what is wrong and how to fix
// it; a refusal of the credentials is an auth failure.
func TestStartChecks(t *testing.T) {
	srv := testServer(t, googlesecopstest.Options{})
	c := testConfig(t, srv, "v1alpha")
	c.Project = "other-project"
	if err := newSink(t, c).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "404 NOT_FOUND") || !strings.Contains(err.Error(), "check project, region") {
		t.Fatalf("wrong project: %v", err)
	}
	c = testConfig(t, srv, "v1alpha")
	c.LogType = "NO_SUCH_TYPE"
	if err := newSink(t, c).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "Log type NO_SUCH_TYPE not found") {
		t.Fatalf("wrong log type: %v", err)
	}
	denied := testServer(t, googlesecopstest.Options{NoPermission: true})
	if err := newSink(t, testConfig(t, denied, "v1alpha")).Start(t.Context()); !pipeline.IsAuthFailure(err) || !strings.Contains(err.Error(), "roles/chronicle.editor") {
		t.Fatalf("no permission: %v", err)
	}
	other := testServer(t, googlesecopstest.Options{})
	c = testConfig(t, srv, "v1alpha")
	c.Credentials = config.Secret(other.Key()) // a key srv does not know
	err := newSink(t, c).Start(t.Context())
	if !pipeline.IsAuthFailure(err) || !strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("unknown key: %v", err)
	}
}

// TestTokenOnlyToConfiguredHosts: the key file's token_uri is not
// followed: the signed assertion goes to token_url only. (Requests
// carrying the access token follow redirects only within the endpoint's
// host: httpout's client, tested there.)
func TestTokenOnlyToConfiguredHosts(t *testing.T) {
	var elsewhere atomic.Int32
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write([]byte(`{"access_token":"stolen","expires_in":3600,"token_type":"Bearer"}`))
	}))
	defer canary.Close()
	srv := testServer(t, googlesecopstest.Options{})
	c := testConfig(t, srv, "v1alpha")
	c.Credentials = config.Secret(strings.Replace(srv.Key(), srv.TokenURL, canary.URL+"/token", 1))
	s := started(t, c)
	if err := s.Write(t.Context(), outtest.Records(t, "tok", 5)); err != nil {
		t.Fatal(err)
	}
	if elsewhere.Load() != 0 {
		t.Fatal("the key file's token_uri was called")
	}
}
