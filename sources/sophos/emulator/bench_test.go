package emulator

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/cputime"
)

// Benchmarks (quoted in the report):
//   go test -run '^$' -bench . -benchtime 3s ./sources/sophos/emulator/

// pager fetches SIEM pages over loopback HTTP and follows next_cursor,
// restarting when the backlog ends.
type pager struct {
	s      *Server
	c      *http.Client
	token  string
	tenant string
	stream string
	cursor string
	buf    bytes.Buffer
}

func newPager(b *testing.B, s *Server, tenant, stream string) *pager {
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	b.Cleanup(tr.CloseIdleConnections)
	p := &pager{s: s, c: &http.Client{Transport: tr}, tenant: tenant, stream: stream}
	res, err := p.c.PostForm(s.AuthURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {s.opts.ClientID}, "client_secret": {s.opts.ClientSecret}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	i := bytes.Index(body, []byte(`"access_token":"`)) + len(`"access_token":"`)
	p.token = string(body[i : i+bytes.IndexByte(body[i:], '"')])
	return p
}

// page fetches one 1000-item page and returns its size in bytes.
func (p *pager) page(b *testing.B) int {
	u := p.s.DataURL(p.tenant) + "/siem/v1/" + p.stream + "?limit=1000"
	if p.cursor != "" {
		u += "&cursor=" + p.cursor
	}
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("X-Tenant-ID", p.tenant)
	res, err := p.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	p.buf.Reset()
	_, err = p.buf.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("%v %d", err, res.StatusCode)
	}
	body := p.buf.Bytes()
	const key = `"next_cursor":"`
	i := bytes.LastIndex(body, []byte(key)) + len(key)
	p.cursor = string(body[i : i+bytes.IndexByte(body[i:], '"')])
	if bytes.HasPrefix(body, []byte(`{"has_more":false`)) {
		p.cursor = "" // start over
	}
	return len(body)
}

// cpuTime is the process's user+system CPU time (kept per package so the
// benchmarks read as before).
var cpuTime = cputime.Self

func report(b *testing.B, pages, bytes int, d, cpu time.Duration) {
	b.ReportMetric(float64(pages*1000)/cpu.Seconds(), "items/cpu-s")
	b.ReportMetric(float64(pages)/d.Seconds(), "pages/s")
	b.ReportMetric(float64(pages*1000)/d.Seconds(), "items/s")
	b.ReportMetric(float64(bytes)/d.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(bytes)/float64(pages*1000), "B/item")
}

// BenchmarkServeEventPages: one client paging a 1,000,000-event backlog
// over loopback HTTP, 1000 items per page.
func BenchmarkServeEventPages(b *testing.B) {
	s, err := New(Options{Events: 1_000_000, Alerts: 50_000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	p := newPager(b, s, s.TenantIDs()[0], "events")
	p.page(b)
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	total := 0
	for range b.N {
		total += p.page(b)
	}
	report(b, b.N, total, time.Since(t0), cpuTime()-c0)
}

// BenchmarkServeEventPagesParallel: several clients on four tenants at once,
// as a partner fan-out would.
func BenchmarkServeEventPagesParallel(b *testing.B) {
	s, err := New(Options{Partner: true, Tenants: 4, Events: 250_000, Alerts: 10_000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ids := s.TenantIDs()
	next := make(chan string, 1024)
	for i := range 1024 {
		next <- ids[i%len(ids)]
	}
	var total int64
	var pages int64
	b.ResetTimer()
	t0, c0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		p := newPager(b, s, <-next, "events")
		n, sz := 0, 0
		for pb.Next() {
			sz += p.page(b)
			n++
		}
		addInt(&total, int64(sz))
		addInt(&pages, int64(n))
	})
	report(b, int(pages), int(total), time.Since(t0), cpuTime()-c0)
}

// BenchmarkAppendEvent measures item generation alone (no HTTP).
func BenchmarkAppendEvent(b *testing.B) {
	s, err := New(Options{Events: 1_000_000, Alerts: 50_000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t := s.tenants[0]
	buf := make([]byte, 0, 4096)
	n := 0
	for i := range b.N {
		buf = t.appendEvent(buf[:0], t.backlogItem(sEvents, int64(i%1_000_000)))
		n += len(buf)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}

// BenchmarkAppendAlert measures alert generation alone.
func BenchmarkAppendAlert(b *testing.B) {
	s, err := New(Options{Events: 1_000_000, Alerts: 50_000})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t := s.tenants[0]
	buf := make([]byte, 0, 4096)
	n := 0
	for i := range b.N {
		buf = t.appendAlert(buf[:0], t.backlogItem(sAlerts, int64(i%50_000)))
		n += len(buf)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}

var addMu = make(chan struct{}, 1)

func addInt(p *int64, v int64) {
	addMu <- struct{}{}
	*p += v
	<-addMu
}
