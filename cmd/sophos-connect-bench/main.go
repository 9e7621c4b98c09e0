// Command sophos-connect-bench measures the collector end to end: it starts
// the Sophos Central emulator with a backlog of events (and, for network
// sinks, the sink's loopback peer), runs the sophos-connect binary with
// -once into the chosen sink, and reports events/s, MB/s, peak RSS and CPU
// seconds of the collector process — next to the floor: the same pages
// fetched by a bare HTTP loop that decodes nothing and writes the bodies to
// the same disk.
//
//	go run ./cmd/sophos-connect-bench -sink jsonl -events 1000000 -runs 3
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

type result struct {
	wall    time.Duration
	cpu     time.Duration
	rssMiB  float64
	events  int
	inBytes int64
}

func main() {
	sink := flag.String("sink", "jsonl", "sink: "+strings.Join(benchSinks, " | "))
	events := flag.Int("events", 1000000, "events in the emulator's backlog (over all tenants)")
	tenants := flag.Int("tenants", 4, "tenants (partner credentials)")
	runs := flag.Int("runs", 3, "runs (min/median/max are reported)")
	bin := flag.String("bin", "", "sophos-connect binary (default: build ./cmd/sophos-connect)")
	dir := flag.String("dir", "", "work directory (default: a temporary directory)")
	floor := flag.Bool("floor", true, "also measure the bare HTTP floor")
	flag.DurationVar(&peerRTT, "sink-rtt", 0, "HTTP and S3 peers answer each request this much later (a receiver across a WAN, e.g. 20ms)")
	workers := flag.String("workers", "", "collector `workers` (auto or a number; default: not set, the collector's default auto)")
	latency := flag.String("latency", "", "MSP mode: the emulator's latency per API request, e.g. 150ms±50ms")
	rateLimit := flag.String("rate-limit", "", "MSP mode: the emulator's rate limit per credential, e.g. 20/s")
	maxConc := flag.Int("max-concurrency", 0, "MSP mode: the emulator's limit of requests in flight")
	flag.Parse()

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["latency"] || set["rate-limit"] || set["max-concurrency"] {
		perTenant := 10
		if set["events"] {
			perTenant = max(1, *events / *tenants)
		}
		if err := runMSP(*tenants, perTenant, *runs, *bin, *dir, *workers, *latency, *rateLimit, *maxConc); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*sink, *events, *tenants, *runs, *bin, *dir, *floor, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// prepare makes the work directory and builds the collector unless bin is
// given; cleanup removes a temporary directory.
func prepare(bin, dir string) (string, string, func(), error) {
	cleanup := func() {}
	if dir == "" {
		d, err := os.MkdirTemp("", "sophos-connect-bench-")
		if err != nil {
			return "", "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(d) }
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", cleanup, err
	}
	if bin == "" {
		bin = filepath.Join(dir, "sophos-connect")
		build := exec.Command("go", "build", "-o", bin, "./cmd/sophos-connect")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return "", "", cleanup, fmt.Errorf("go build (run from the repository root): %w", err)
		}
	}
	return bin, dir, cleanup, nil
}

func run(sink string, events, tenants, runs int, bin, dir string, withFloor bool, workers string) error {
	bin, dir, cleanup, err := prepare(bin, dir)
	defer cleanup()
	if err != nil {
		return err
	}
	per := (events + tenants - 1) / tenants
	fmt.Printf("backlog: %d events (%d tenants × %d), sink %s, %d run(s)\n", per*tenants, tenants, per, sink, runs)

	var col, flo []result
	for i := 0; i < runs; i++ {
		// Events only are pulled; the alerts make a tenth of them threat
		// detections (every alert is also an event), as in the samples.
		emu, err := emulator.New(emulator.Options{Seed: int64(100 + i), Tenants: tenants, Partner: tenants > 1, Events: per, Alerts: per / 10,
			ClientID: "bench", ClientSecret: "bench-secret"})
		if err != nil {
			return err
		}
		if withFloor {
			r, err := floorRun(emu, tenants, filepath.Join(dir, "floor"))
			if err != nil {
				emu.Close()
				return fmt.Errorf("floor: %w", err)
			}
			flo = append(flo, r)
		}
		peer, err := startPeer(sink, dir)
		if err != nil {
			emu.Close()
			return err
		}
		r, err := collectorRun(bin, emu, sink, peer, filepath.Join(dir, fmt.Sprintf("run%d", i)), workers, false)
		emu.Close()
		if err != nil {
			peer.close()
			return err
		}
		if withFloor {
			r.inBytes = flo[len(flo)-1].inBytes
		}
		r.events = per * tenants
		got := peer.count()
		peer.close()
		if got >= 0 && got < r.events {
			return fmt.Errorf("the %s peer received %d of %d events", sink, got, r.events)
		}
		col = append(col, r)
		fmt.Printf("run %d: collector %.2fs (%.0f events/s, CPU %.2fs, peak RSS %.0f MiB)", i+1, r.wall.Seconds(), float64(r.events)/r.wall.Seconds(), r.cpu.Seconds(), r.rssMiB)
		if withFloor {
			f := flo[len(flo)-1]
			fmt.Printf("; floor %.2fs; ratio %.2f", f.wall.Seconds(), r.wall.Seconds()/f.wall.Seconds())
		}
		fmt.Println()
		os.RemoveAll(filepath.Join(dir, fmt.Sprintf("run%d", i)))
	}
	report(sink, col, flo)
	return nil
}

func report(sink string, col, flo []result) {
	stat := func(vals []float64) string {
		sort.Float64s(vals)
		return fmt.Sprintf("%.0f / %.0f / %.0f", vals[0], vals[len(vals)/2], vals[len(vals)-1])
	}
	statf := func(vals []float64) string {
		sort.Float64s(vals)
		return fmt.Sprintf("%.2f / %.2f / %.2f", vals[0], vals[len(vals)/2], vals[len(vals)-1])
	}
	var eps, mbs, rss, cpu, ratio []float64
	for i, r := range col {
		eps = append(eps, float64(r.events)/r.wall.Seconds())
		mbs = append(mbs, float64(r.inBytes)/r.wall.Seconds()/1e6)
		rss = append(rss, r.rssMiB)
		cpu = append(cpu, r.cpu.Seconds())
		if i < len(flo) {
			ratio = append(ratio, r.wall.Seconds()/flo[i].wall.Seconds())
		}
	}
	fmt.Printf("\n%s: min / median / max over %d runs", sink, len(col))
	if len(flo) > 0 {
		fmt.Printf(" (events average %.0f bytes as served)", float64(flo[0].inBytes)/float64(col[0].events))
	}
	fmt.Println()
	fmt.Printf("  events/s      %s\n", stat(eps))
	if len(flo) > 0 {
		fmt.Printf("  MB/s (API)    %s\n", statf(mbs))
		fmt.Printf("  ratio to floor %s\n", statf(ratio))
	}
	fmt.Printf("  peak RSS MiB  %s\n", stat(rss))
	fmt.Printf("  CPU seconds   %s\n", statf(cpu))
}

// collectorRun runs the binary with -once and measures the child process.
func collectorRun(bin string, emu *emulator.Server, sink string, peer *peer, dir string, workers string, alerts bool) (result, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	if workers != "" {
		workers = "workers: " + workers + "\n"
	}
	cfg := fmt.Sprintf(`sophos:
  client_id: bench
  client_secret: bench-secret
  auth_url: %s
  api_host: %s
  from_date_offset_minutes: 0 # the floor reads up to now too
txt_file_creation: false
log_level: ERROR
log_file_name: ""
save_file_location: %s
state_dir: %s
%ssources:
  alerts: {enabled: %v}
  events: {enabled: true}
sinks:
%s`, emu.AuthURL(), emu.URL(), dir, filepath.Join(dir, "state"), workers, alerts, sinkConfig(sink, dir, peer))
	p := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "-c", p, "-once")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	// Peak RSS: the kernel's high-water mark of the collector's own memory
	// (VmHWM), sampled until it exits. (wait4's ru_maxrss is no good here:
	// on Linux a child inherits the parent's RSS at fork, and this process
	// holds the emulator and the sink's peer.)
	var hwm atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			if kb := vmHWM(cmd.Process.Pid); kb > hwm.Load() {
				hwm.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	if err != nil {
		return result{}, fmt.Errorf("collector: %v\n%s", err, stderr.String())
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return result{wall: wall, cpu: cpu, rssMiB: float64(hwm.Load()) / 1024}, nil
}

// vmHWM reads the peak resident set size (KiB) of a running process.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb
		}
	}
	return 0
}

func sinkConfig(sink, dir string, p *peer) string {
	switch sink {
	case "jsonl":
		return fmt.Sprintf("  - {name: out, type: json, layout: lines, path: %s}\n", filepath.Join(dir, "events.ndjson"))
	case "json":
		return fmt.Sprintf("  - {name: out, type: json, layout: array, path: %s}\n", filepath.Join(dir, "events.json"))
	case "txt":
		return fmt.Sprintf("  - {name: out, type: txt, path: %s}\n", filepath.Join(dir, "sophos_events"))
	}
	return p.config
}

// floorRun fetches every page with a bare HTTP loop (tenants in parallel),
// finding next_cursor with a byte search, writing the bodies to disk.
func floorRun(emu *emulator.Server, tenants int, dir string) (result, error) {
	os.MkdirAll(dir, 0o755)
	defer os.RemoveAll(dir)
	tok, err := token(emu)
	if err != nil {
		return result{}, err
	}
	ids := emu.TenantIDs()
	hosts, err := tenantHosts(emu, tok, tenants > 1)
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total int64
	var firstErr error
	since := time.Now().Add(-24*time.Hour + 5*time.Minute).Unix()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("t%d.json", i)))
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			defer f.Close()
			q := fmt.Sprintf("limit=1000&from_date=%d", since)
			for {
				req, _ := http.NewRequest("GET", hosts[id]+"/siem/v1/events?"+q, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("X-Tenant-ID", id)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					mu.Lock()
					firstErr = fmt.Errorf("floor: tenant %s: %s: %.200s", id, resp.Status, body)
					mu.Unlock()
					return
				}
				f.Write(body)
				mu.Lock()
				total += int64(len(body))
				mu.Unlock()
				cur := between(body, `"next_cursor":"`, `"`)
				if !bytes.HasPrefix(body, []byte(`{"has_more":true`)) {
					break
				}
				q = "limit=1000&cursor=" + url.QueryEscape(cur)
			}
			f.Sync()
		}()
	}
	wg.Wait()
	return result{wall: time.Since(start), inBytes: total}, firstErr
}

func between(b []byte, pre, post string) string {
	i := bytes.LastIndex(b, []byte(pre))
	if i < 0 {
		return ""
	}
	rest := b[i+len(pre):]
	j := bytes.Index(rest, []byte(post))
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

func token(emu *emulator.Server) (string, error) {
	resp, err := http.PostForm(emu.AuthURL(), url.Values{"grant_type": {"client_credentials"}, "scope": {"token"}, "client_id": {"bench"}, "client_secret": {"bench-secret"}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return between(b, `"access_token":"`, `"`), nil
}

// tenantHosts finds each tenant's apiHost (partner) or the data region.
func tenantHosts(emu *emulator.Server, tok string, partner bool) (map[string]string, error) {
	get := func(path string, hdr map[string]string) ([]byte, error) {
		req, _ := http.NewRequest("GET", emu.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		return io.ReadAll(resp.Body)
	}
	who, err := get("/whoami/v1", nil)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if !partner {
		out[emu.TenantIDs()[0]] = between(who, `"dataRegion":"`, `"`)
		return out, nil
	}
	pid := between(who, `"id":"`, `"`)
	body, err := get("/partner/v1/tenants?page=1&pageSize=100&pageTotal=true", map[string]string{"X-Partner-ID": pid})
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []struct{ ID, APIHost string }
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("tenant list: %w", err)
	}
	for _, t := range list.Items {
		out[t.ID] = strings.TrimRight(t.APIHost, "/")
	}
	for _, id := range emu.TenantIDs() {
		if out[id] == "" {
			return nil, fmt.Errorf("tenant %s not listed", id)
		}
	}
	return out, nil
}
