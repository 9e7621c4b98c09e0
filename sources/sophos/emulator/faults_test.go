package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("429=0.1,503=0.05,401-midpage,slow=200ms,stale-cursor,late-arrivals,malformed=0.01,retry-after=1s,503-burst=4,replay=0.2")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{Rate429: 0.1, Rate503: 0.05, Midpage401: 3, Slow: 200 * time.Millisecond, StaleCursor: 0.1, LateArrivals: 0.2,
		Malformed: 0.01, RetryAfter: time.Second, Burst503: 4, Replay: 0.2}
	if f != want {
		t.Fatalf("got %+v\nwant %+v", f, want)
	}
	if g, err := ParseFaults(f.String()); err != nil || g != f {
		t.Fatalf("String round trip: %q -> %+v, %v", f.String(), g, err)
	}
	if f, err := ParseFaults(""); err != nil || f.Enabled() {
		t.Fatalf("empty: %+v %v", f, err)
	}
	for _, bad := range []string{"429=2", "429=x", "slow", "slow=fast", "401-midpage=0", "bogus", "retry-after"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted", bad)
		}
	}
}

func TestFault429WithAndWithoutRetryAfter(t *testing.T) {
	s, _ := start(t, Options{Faults: Faults{Rate429: 1, RetryAfter: 2 * time.Second}})
	a := newAPI(t, s) // the token endpoint is never faulted
	with, without := 0, 0
	for range 30 {
		r := a.get("/siem/v1/events")
		if r.status != 429 {
			t.Fatalf("status %d", r.status)
		}
		if r.json(t)["error"] == nil {
			t.Fatalf("429 without the standard body: %s", r.body)
		}
		switch r.header.Get("Retry-After") {
		case "2":
			with++
		case "":
			without++
		default:
			t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	if with == 0 || without == 0 {
		t.Fatalf("with Retry-After %d, without %d", with, without)
	}
	if s.Requests()["GET /siem/v1/events 429"] != 30 {
		t.Fatalf("counters: %v", s.Requests())
	}
}

func TestFault503Bursts(t *testing.T) {
	s, _ := start(t, Options{Faults: Faults{Rate503: 0.1, Burst503: 3}})
	a := newAPI(t, s)
	var seq []int
	for range 300 {
		seq = append(seq, a.get("/siem/v1/events?limit=1").status)
	}
	run, bursts := 0, 0
	for i, st := range seq {
		if st == 503 {
			run++
			continue
		}
		if st != 200 {
			t.Fatalf("status %d", st)
		}
		if run > 0 {
			if run%3 != 0 {
				t.Fatalf("503 run of %d at %d (bursts of 3)", run, i)
			}
			bursts += run / 3
		}
		run = 0
	}
	if bursts == 0 {
		t.Fatal("no 503 burst in 300 requests")
	}
}

func TestFault401MidPage(t *testing.T) {
	s, _ := start(t, Options{Events: 5000, Faults: Faults{Midpage401: 2}})
	a := newAPI(t, s)
	var ids []string
	q := "limit=1000"
	renewals := 0
	for range 50 {
		p, r := a.siem("events", q)
		if r.status == 401 {
			renewals++
			a.token = getToken(t, s)
			continue
		}
		for _, it := range p.Items {
			ids = append(ids, it["id"].(string))
		}
		if !*p.HasMore {
			break
		}
		q = "limit=1000&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if renewals != 2 {
		t.Fatalf("%d token renewals for 5 pages with 401-midpage=2, want 2", renewals)
	}
	if !slices.Equal(ids, s.AllIDs(a.tenant, "event")) {
		t.Fatal("ids differ after 401 mid-paging")
	}
}

func TestFaultSlow(t *testing.T) {
	s, _ := start(t, Options{Faults: Faults{Slow: 150 * time.Millisecond}})
	a := newAPI(t, s)
	t0 := time.Now()
	if r := a.get("/siem/v1/events?limit=1"); r.status != 200 {
		t.Fatal(r.status)
	}
	if d := time.Since(t0); d < 150*time.Millisecond {
		t.Fatalf("served in %v despite slow=150ms", d)
	}
	// A client that gives up is released.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.DataURL(a.tenant)+"/siem/v1/events", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("slow response beat a 20ms timeout")
	}
}

func TestFaultMalformed(t *testing.T) {
	s, _ := start(t, Options{Faults: Faults{Malformed: 1}})
	a := newAPI(t, s)
	r := a.get("/siem/v1/events?limit=10")
	if r.status != 200 || json.Valid(r.body) || len(r.body) == 0 {
		t.Fatalf("malformed: status %d valid=%v", r.status, json.Valid(r.body))
	}
	if r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
		t.Fatal("Content-Length does not match the cut body")
	}
}

func TestFaultStaleCursor(t *testing.T) {
	s, _ := start(t, Options{Events: 3000, Faults: Faults{StaleCursor: 1}})
	a := newAPI(t, s)
	p1, _ := a.siem("events", "limit=1000")
	p2, _ := a.siem("events", "limit=1000&cursor="+url.QueryEscape(*p1.NextCursor))
	if p2.Items[0]["id"] != p1.Items[0]["id"] {
		t.Fatal("stale-cursor fault did not restart at the window start")
	}
}

func TestFaultReplay(t *testing.T) {
	s, _ := start(t, Options{Events: 3000, Faults: Faults{Replay: 1}})
	a := newAPI(t, s)
	p1, _ := a.siem("events", "limit=100")
	c := url.QueryEscape(*p1.NextCursor)
	p2, _ := a.siem("events", "limit=100&cursor="+c)
	p3, _ := a.siem("events", "limit=100&cursor="+url.QueryEscape(*p2.NextCursor))
	if *p2.NextCursor != *p1.NextCursor || p3.Items[0]["id"] != p2.Items[0]["id"] {
		t.Fatal("replay fault did not serve the page again")
	}
}

func TestFaultLateArrivalsAreMissedBehindTheWatermark(t *testing.T) {
	s, _ := start(t, Options{Events: 500, Alerts: 50, Faults: Faults{LateArrivals: 1}})
	a := newAPI(t, s)
	got, end := a.pageAll("events", "limit=1000")
	before := len(s.AllIDs(a.tenant, "event"))
	// Each page made one item arrive late, created up to 2 min ago.
	for range 3 {
		p, _ := a.siem("events", "limit=1000&cursor="+url.QueryEscape(end))
		for _, it := range p.Items {
			got = append(got, it["id"].(string))
		}
		end = *p.NextCursor
	}
	all := s.AllIDs(a.tenant, "event")
	if len(all) <= before {
		t.Fatal("no late arrivals")
	}
	seen := map[string]bool{}
	for _, id := range got {
		seen[id] = true
	}
	missed := 0
	for _, id := range all {
		if !seen[id] {
			missed++
		}
	}
	if missed == 0 {
		t.Fatal("late arrivals were all served through the cursor; the pitfall is not shown")
	}
	// A from_date re-read finds them.
	p, _ := a.siem("events", fmt.Sprintf("limit=1000&from_date=%d", s.now().Add(-3*time.Minute).Unix()))
	if len(p.Items) == 0 {
		t.Fatal("late arrivals invisible to from_date")
	}
}

func TestFaultsAreReproducible(t *testing.T) {
	seq := func() []int {
		s, _ := start(t, Options{Seed: 7, Faults: Faults{Rate429: 0.2, Rate503: 0.1}})
		a := newAPI(t, s)
		var out []int
		for range 60 {
			out = append(out, a.get("/siem/v1/alerts?limit=1").status)
		}
		return out
	}
	a, b := seq(), seq()
	if !slices.Equal(a, b) {
		t.Fatalf("fault sequences differ:\n%v\n%v", a, b)
	}
	if !slices.Contains(a, 429) || !slices.Contains(a, 503) || !slices.Contains(a, 200) {
		t.Fatalf("sequence lacks variety: %v", a)
	}
}

func TestRateArrivals(t *testing.T) {
	s, clk := start(t, Options{Events: 100, Alerts: 10, Rate: 110})
	ten := s.TenantIDs()[0]
	if n := len(s.AllIDs(ten, "event")); n != 100 {
		t.Fatalf("%d events at start", n)
	}
	clk.Add(10 * time.Second) // 1100 ticks: 1000 events + 100 alerts (each with an event twin)
	if n := len(s.AllIDs(ten, "event")); n != 100+1100 {
		t.Fatalf("%d events after 10 s", n)
	}
	if n := len(s.AllIDs(ten, "alert")); n != 10+100 {
		t.Fatalf("%d alerts after 10 s", n)
	}
	a := newAPI(t, s)
	p, _ := a.siem("events", fmt.Sprintf("limit=1000&from_date=%d", clk.Ago(5*time.Second)))
	if len(p.Items) < 450 || len(p.Items) > 560 {
		t.Fatalf("%d items in the last 5 s", len(p.Items))
	}
	last := p.Items[len(p.Items)-1]["created_at"].(string)
	if last > clk.t.Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("arrival in the future: %s", last)
	}
}

func TestTLS(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	s, _ := start(t, Options{TLS: true, CAFile: ca})
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatal(s.URL())
	}
	pemBytes, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("CA file is not PEM")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	r := do(t, c, "POST", s.AuthURL(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		"grant_type=client_credentials&client_id=emulator-client&client_secret=emulator-secret")
	if r.status != 200 {
		t.Fatalf("token over TLS: %d", r.status)
	}
	// localhost verifies too.
	lh := strings.Replace(s.URL(), "127.0.0.1", "localhost", 1)
	if r := do(t, c, "GET", lh+"/whoami/v1", nil, ""); r.status != 401 {
		t.Fatalf("whoami via localhost: %d", r.status)
	}
	// Without the CA the handshake fails.
	if _, err := http.Get(s.URL() + "/whoami/v1"); err == nil {
		t.Fatal("TLS accepted without the CA")
	}
}

func TestRunCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	errOut := &syncBuf{}
	done := make(chan error, 1)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	go func() {
		done <- RunCommand(ctx, []string{"-addr", "127.0.0.1:0", "-partner", "-tenants", "3", "-events", "50", "-alerts", "5",
			"-client-id", "cid", "-client-secret", "s3cr#t", "-token-ttl", "5m", "-fault", "slow=1ms", "-tls", "-ca-file", ca,
			"-seed", "9", "-rate", "1", "-isolation-delay", "1s"}, out, errOut)
	}()
	var base string
	for i := 0; i < 200 && base == ""; i++ {
		time.Sleep(10 * time.Millisecond)
		for _, l := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "base URL:"); ok {
				base = strings.TrimSpace(v)
			}
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("no base URL printed: %s %s", out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"auth URL:      " + base + "/api/v2/oauth2/token", "client id:     cid", "client secret: s3cr#t",
		"sophos:\n  client_id: cid\n  client_secret: \"s3cr#t\"\n  auth_url: " + base + "/api/v2/oauth2/token\n  api_host: " + base + "\n  ca_file: ", "faults:        slow=1ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	pemBytes, _ := os.ReadFile(ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	r := do(t, c, "POST", base+"/api/v2/oauth2/token", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"s3cr#t"}}.Encode())
	if r.status != 200 || r.json(t)["expires_in"] != float64(300) {
		t.Fatalf("token from the command's emulator: %d %s", r.status, r.body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunCommand did not return after cancel")
	}
	if err := RunCommand(context.Background(), []string{"-fault", "nope"}, out, errOut); err == nil {
		t.Fatal("bad -fault accepted")
	}
	if err := RunCommand(context.Background(), []string{"-tenants", "2"}, out, errOut); err == nil {
		t.Fatal("-tenants 2 without -partner accepted")
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseCollectorFaults(t *testing.T) {
	f, err := ParseFaults("same-cursor,empty-cursor,missing-id=0.5,foreign-host,echo-token,tenants-loop,tenant=2")
	if err != nil {
		t.Fatal(err)
	}
	want := Faults{SameCursor: true, EmptyCursor: true, MissingID: 0.5, ForeignHost: true, EchoToken: true, TenantsLoop: true, Tenant: "2"}
	if f != want || !f.Enabled() {
		t.Fatalf("got %+v", f)
	}
	if g, err := ParseFaults(f.String()); err != nil || g != f {
		t.Fatalf("round trip %q: %+v %v", f.String(), g, err)
	}
	for _, bad := range []string{"same-cursor=1", "tenant=", "missing-id=2"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestFaultCursorsHitOnlyTheChosenTenant(t *testing.T) {
	for _, tc := range []struct {
		f    Faults
		want func(p siemPage, sent string) bool
	}{
		{Faults{SameCursor: true, Tenant: "2"}, func(p siemPage, sent string) bool { return *p.NextCursor == sent && *p.HasMore }},
		{Faults{EmptyCursor: true, Tenant: "2"}, func(p siemPage, sent string) bool { return *p.NextCursor == "" }},
	} {
		s, _ := start(t, Options{Tenants: 2, Partner: true, Events: 300, Faults: tc.f})
		for i, id := range s.TenantIDs() {
			a := newAPI(t, s)
			a.tenant = id
			p1, _ := a.siem("events", "limit=100")
			if *p1.NextCursor == "" {
				t.Fatalf("%+v: the first page (from_date) is faulty too", tc.f)
			}
			p2, _ := a.siem("events", "limit=100&cursor="+url.QueryEscape(*p1.NextCursor))
			if got := tc.want(p2, *p1.NextCursor); got != (i == 1) {
				t.Fatalf("%+v tenant %d: fault applied = %v", tc.f, i+1, got)
			}
		}
	}
}

func TestFaultMissingID(t *testing.T) {
	s, _ := start(t, Options{Events: 1000, Faults: Faults{MissingID: 0.2}})
	a := newAPI(t, s)
	p, _ := a.siem("events", "limit=1000")
	missing := 0
	for _, it := range p.Items {
		if _, ok := it["id"]; !ok {
			missing++
			if it["type"] == nil || it["when"] == nil {
				t.Fatalf("the item lost more than its id: %v", it)
			}
		}
	}
	if missing < 100 || missing > 300 {
		t.Fatalf("%d of %d items lost their id, want about 20%%", missing, len(p.Items))
	}
}

func TestFaultForeignHostEchoTokenTenantsLoop(t *testing.T) {
	s, _ := start(t, Options{Tenants: 3, Partner: true, Faults: Faults{ForeignHost: true, TenantsLoop: true, Tenant: "1"}})
	tok := getToken(t, s)
	hdr := map[string]string{"Authorization": "Bearer " + tok, "X-Partner-ID": s.WhoamiID()}
	var first string
	for page := 1; page <= 3; page++ {
		r := do(t, nil, "GET", s.URL()+"/partner/v1/tenants?pageTotal=true&page="+strconv.Itoa(page), hdr, "")
		var body struct {
			Items []struct{ ID, APIHost string }
			Pages map[string]any
		}
		json.Unmarshal(r.body, &body)
		if _, ok := body.Pages["total"]; ok || len(body.Items) != 3 {
			t.Fatalf("page %d: %s", page, r.body)
		}
		if page == 1 {
			first = body.Items[0].ID
			if !strings.HasPrefix(body.Items[0].APIHost, "http://localhost:") || strings.Contains(body.Items[1].APIHost, "localhost") {
				t.Fatalf("apiHosts %+v", body.Items)
			}
			do(t, nil, "GET", body.Items[0].APIHost+"/siem/v1/events", hdr, "")
		}
		if body.Items[0].ID != first {
			t.Fatal("tenants-loop: pages differ")
		}
	}
	if s.ForeignRequests() != 1 {
		t.Fatalf("foreign requests %d", s.ForeignRequests())
	}

	e, _ := start(t, Options{ClientSecret: "s3cr+t/x", Faults: Faults{EchoToken: true}})
	r := do(t, nil, "POST", e.AuthURL(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		"grant_type=client_credentials&client_id=emulator-client&client_secret="+url.QueryEscape("s3cr+t/x"))
	if r.status != 401 || !strings.Contains(string(r.body), url.QueryEscape("s3cr+t/x")) {
		t.Fatalf("echo-token: %d %s", r.status, r.body)
	}
}
