package splunkhec

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
)

// TestEnvelope checks the envelope HEC receives: time in epoch seconds with
// milliseconds, host from the record's location, the sourcetype per stream,
// the indexed fields, and the event as an object (raw) or a string (cef).
func TestEnvelope(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	c := testConfig(srv, "test-token")
	c.Index = "sophos"
	s := started(t, c)
	recs := outtest.Records(t, "env", 3)
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	evs := srv.Events()
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		r := recs[i]
		// seconds.milliseconds, always three decimals
		if got, want := string(e.Time), fmt.Sprintf("%d.%03d", r.WhenTime().Unix(), r.WhenTime().Nanosecond()/1e6); got != want {
			t.Errorf("time %s, want %s", got, want)
		}
		wantST := "sophos:central:events"
		if r.Stream == pipeline.Alerts {
			wantST = "sophos:central:alerts"
		}
		if e.Sourcetype != wantST || e.Source != "sophos-connect" || e.Host != r.Host || e.Index != "sophos" {
			t.Errorf("envelope %+v for %s record on %s", e, r.Stream, r.Host)
		}
		var f map[string]string
		for k, v := range e.Fields {
			if f == nil {
				f = map[string]string{}
			}
			var s string
			json.Unmarshal(v, &s)
			f[k] = s
		}
		if f["tenant_id"] != outtest.Tenant || f["datastream"] != string(r.Stream) {
			t.Errorf("fields %v", f)
		}
		var ev map[string]any
		if err := json.Unmarshal(e.Event, &ev); err != nil || ev["id"] != r.ID || ev["datastream"] != string(r.Stream) {
			t.Errorf("event %s: %v", e.Event, err)
		}
	}
	if st := srv.Stats(); st.Gzip != 1 {
		t.Errorf("stats %+v: want one gzip request", st)
	}

	// cef: the event is the official script's line, as a JSON string
	c.Format, c.Compression = "cef", "none"
	s2 := started(t, c)
	if err := s2.Write(context.Background(), recs[:1]); err != nil {
		t.Fatal(err)
	}
	var line string
	if err := json.Unmarshal(srv.Events()[3].Event, &line); err != nil || !strings.HasPrefix(line, "CEF:0|sophos|sophos central|") {
		t.Fatalf("cef event %s (%v)", srv.Events()[3].Event, err)
	}
}

// TestStartChecks: a refused token fails the start-up check naming the
// token, HEC's code and the fix; ack: true with a token without indexer
// acknowledgement fails too; a good token passes.
func TestStartChecks(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{
		"good": {}, "acked": {Ack: true}, "off": {Disabled: true}}})
	defer srv.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		token string
		ack   bool
		want  string
	}{
		{"good", false, ""},
		{"acked", true, ""},
		{"wrong", false, "403 code 4 Invalid token: sink hec's token was refused"},
		{"off", false, "403 code 1 Token disabled"},
		{"good", true, "code 14 ACK is disabled: ack is on but the token's indexer acknowledgement is off"},
	} {
		c := testConfig(srv, tc.token)
		c.Ack = tc.ack
		err := newSink(t, c).Start(ctx)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.token, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s ack=%v: want %q, got %v", tc.token, tc.ack, tc.want, err)
		case strings.Contains(tc.want, "403") != pipeline.IsAuthFailure(err):
			t.Errorf("%s: a refused token is an authentication failure (-once fails at once), nothing else is: %v", tc.token, err)
		}
		if err != nil && strings.Contains(err.Error(), tc.token) && len(tc.token) > 3 {
			t.Errorf("the token's value is in the message: %v", err)
		}
	}
	c := testConfig(srv, "good")
	c.URL = srv.URL + "/services/collector"
	if err := newSink(t, c).Start(ctx); err == nil || !strings.Contains(err.Error(), "without /services/collector") {
		t.Errorf("a url with the path: %v", err)
	}
}

// TestBadEventAloneRejected: HEC refuses one event of a request (400 code 6
// with invalid-event-number): only that record is rejected, as a permanent
// failure carrying HEC's answer; the others are delivered.
func TestBadEventAloneRejected(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	c := testConfig(srv, "test-token")
	c.Request.Concurrency = 1 // one request for the batch: the count below
	s := started(t, c)
	recs := outtest.Records(t, "bad", 300)
	srv.SetFaults(splunkhectest.Faults{RejectIDs: []string{recs[117].ID}})
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 117 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "400 code 6 Invalid data format") {
		t.Fatalf("want record 117 rejected alone, got %v", err)
	}
	ids := srv.IDs()
	rej := map[string]bool{recs[117].ID: true}
	want := outtest.IDs(recs)
	outtest.ExactlyOnce(t, want, ids, rej)
	// 1 refused request, then the part before, the bad one alone, the part after
	if st := srv.Stats(); st.EventRequests != 1+4 { // + the start-up token check
		t.Errorf("%d event requests, want 5 (invalid-event-number cuts around the bad event)", st.EventRequests)
	}
}

// TestSplitOn413: HEC's max_content_length below max_bytes: requests are
// halved until they fit, every record delivered once.
func TestSplitOn413(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{MaxContentLength: 40 << 10})
	defer srv.Close()
	s := started(t, testConfig(srv, "test-token"))
	recs := outtest.Records(t, "big", 1000)
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	want := outtest.IDs(recs)
	if n := outtest.ExactlyOnce(t, want, srv.IDs(), nil); n != 0 {
		t.Fatalf("%d repeats", n)
	}
	if st := srv.Stats(); st.Status[413] == 0 {
		t.Fatalf("no 413 seen: %+v", st)
	}
}

// TestRetryAfterHonoured: after a 429 with Retry-After: 1 the next request
// waits for it, even though the pipeline writes again at once.
func TestRetryAfterHonoured(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	s := started(t, testConfig(srv, "test-token"))
	recs := outtest.Records(t, "ra", 10)
	srv.SetFaults(splunkhectest.Faults{Throttle429: 1, RetryAfter: "1"})
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 10 || pipeline.IsPermanent(be.Items[0].Err) {
		t.Fatalf("want all 10 for retry, got %v", err)
	}
	start := time.Now()
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("the second write went after %s, before Retry-After", d)
	}
}

// TestAckTimeoutResends: HEC accepts a request but never acknowledges it
// (the indexer died before indexing): after ack_timeout its records are
// returned for retry, and a second write delivers them.
func TestAckTimeoutResends(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"t": {Ack: true}}})
	defer srv.Close()
	c := testConfig(srv, "t")
	c.Ack, c.AckTimeout, c.AckPollInterval = true, config.Duration(1500*time.Millisecond), config.Duration(20*time.Millisecond)
	c.MaxBytes = 16 << 10 // several requests, one of them lost
	s := started(t, c)
	recs := outtest.Records(t, "ack", 200)
	srv.SetFaults(splunkhectest.Faults{AckNever: 1, AckDelay: 50 * time.Millisecond})
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) == 0 || len(be.Items) == len(recs) ||
		!strings.Contains(be.Items[0].Err.Error(), "no indexer acknowledgement for ackId 0 within ack_timeout") {
		t.Fatalf("want the first request's records for retry, got %v", err)
	}
	var again []*pipeline.Record
	for _, it := range be.Items {
		again = append(again, recs[it.Index])
	}
	if ids := srv.IDs(); len(ids) != len(recs)-len(again) {
		t.Fatalf("%d indexed, want %d", len(ids), len(recs)-len(again))
	}
	if err := s.Write(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	want := outtest.IDs(recs)
	if n := outtest.ExactlyOnce(t, want, srv.IDs(), nil); n != 0 {
		t.Fatalf("%d repeats", n)
	}
}

// TestTLS: HEC over https with a private CA: without tls.ca_file the start
// fails naming the fix; with it, records are delivered.
func TestTLS(t *testing.T) {
	srv := splunkhectest.NewTLS(splunkhectest.Options{})
	defer srv.Close()
	c := testConfig(srv, "test-token")
	err := newSink(t, c).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TLS failed") || !strings.Contains(err.Error(), "tls.ca_file") {
		t.Fatalf("unknown CA: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.TLS.CAFile = ca
	if err := started(t, c).Write(context.Background(), outtest.Records(t, "tls", 5)); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.IDs()); n != 5 {
		t.Fatalf("%d events", n)
	}
}

// TestReusedAckIDResent: if HEC hands out the same ackId twice in one write
// (it restarted), the records of the earlier request are not taken as
// acknowledged by the later ack.
func TestReusedAckIDResent(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"t": {Ack: true}}})
	defer srv.Close()
	c := testConfig(srv, "t")
	c.Ack, c.AckPollInterval, c.MaxBytes = true, config.Duration(10*time.Millisecond), 16<<10
	c.Request.Concurrency = 1 // the first request is the one acknowledged first
	s := started(t, c)
	recs := outtest.Records(t, "reuse", 100)
	srv.SetFaults(splunkhectest.Faults{ResetAckIDsAfter: 1})
	err := s.Write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) == 0 || !strings.Contains(be.Items[0].Err.Error(), "ackId 0 was given to two requests") || be.Items[0].Index != 0 {
		t.Fatalf("want the first request's records resent, got %v", err)
	}
}

// TestRefusedTokenRetried: a token refused mid-run (revoked, disabled) holds
// the records back for retry; it never sends them to the dead-letter file.
func TestRefusedTokenRetried(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	s := newSink(t, testConfig(srv, "revoked"))
	err := s.Write(context.Background(), outtest.Records(t, "rv", 20))
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 20 || pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "403 code 4 Invalid token") {
		t.Fatalf("want all 20 for retry, got %v", err)
	}
}

// TestRedirectToGETNotDelivered: a proxy in front of HEC answering 301 (to
// https, say) makes Go's client repeat the POST as a GET without the
// events; the 200 of that GET must not count them as delivered.
func TestRedirectToGETNotDelivered(t *testing.T) {
	srv := splunkhectest.New(splunkhectest.Options{})
	defer srv.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/services/collector/event" && r.Method == http.MethodPost && r.ContentLength > 0 {
			http.Redirect(w, r, "/landing", http.StatusMovedPermanently)
			return
		}
		if r.URL.Path == "/landing" {
			w.Write([]byte(`{"text":"Success","code":0}`))
			return
		}
		rp := httputil.NewSingleHostReverseProxy(mustURL(t, srv.URL))
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	c := testConfig(srv, "test-token")
	c.URL = proxy.URL
	s := started(t, c)
	recs := outtest.Records(t, "redir", 3)
	err := s.Write(context.Background(), recs)
	if err == nil && len(srv.IDs()) == 0 {
		t.Fatal("records counted as delivered, but HEC never got them")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
