package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// runMSP is the MSP mode: many tenants with a small backlog each (one page
// of events and one of alerts), behind an emulator with a real API's
// latency, rate limit and concurrency limit. A full pass is then bound by
// the API's limits: 2 × tenants requests at min(rate limit, concurrency
// limit / latency) requests per second.
func runMSP(tenants, perTenant, runs int, bin, dir, workers, latency, rateLimit string, maxConc int) error {
	lim := emulator.Limits{MaxConcurrency: maxConc}
	var err error
	if lim.Latency, lim.Jitter, err = emulator.ParseLatency(latency); err != nil {
		return err
	}
	if lim.RateLimit, err = emulator.ParseRate(rateLimit); err != nil {
		return err
	}
	rate := math.Inf(1)
	if lim.RateLimit > 0 {
		rate = lim.RateLimit
	}
	if maxConc > 0 && lim.Latency > 0 {
		rate = min(rate, float64(maxConc)/lim.Latency.Seconds())
	}
	if math.IsInf(rate, 1) {
		return fmt.Errorf("MSP mode needs -rate-limit, or -max-concurrency with -latency, to have a bound")
	}
	bound := 2 * float64(tenants) / rate
	bin, dir, cleanup, err := prepare(bin, dir)
	defer cleanup()
	if err != nil {
		return err
	}
	wk := workers
	if wk == "" {
		wk = "default (auto)"
	}
	fmt.Printf("MSP: %d tenants × (1 page of %d events + 1 page of alerts), latency %s, rate limit %s, max concurrency %d, workers %s; bound %.1fs, %d run(s)\n",
		tenants, perTenant, latency, orNone(rateLimit), maxConc, wk, bound, runs)

	type mspResult struct {
		result
		requests, throttled int
	}
	var rs []mspResult
	for i := 0; i < runs; i++ {
		emu, err := emulator.New(emulator.Options{Seed: int64(200 + i), Tenants: tenants, Partner: true, Events: perTenant, Alerts: max(1, perTenant/10),
			ClientID: "bench", ClientSecret: "bench-secret", Limits: lim})
		if err != nil {
			return err
		}
		peer, _ := startPeer("jsonl", dir)
		runDir := filepath.Join(dir, fmt.Sprintf("msp%d", i))
		r, err := collectorRun(bin, emu, "jsonl", peer, runDir, workers, true)
		reqs := emu.Requests()
		emu.Close()
		os.RemoveAll(runDir)
		if err != nil {
			return err
		}
		var m mspResult
		m.result = r
		for k, v := range reqs {
			if strings.HasPrefix(k, "POST /api/v2/oauth2/token ") {
				continue
			}
			m.requests += v
			if strings.HasSuffix(k, " 429") {
				m.throttled += v
			}
		}
		if ok := reqs["GET /siem/v1/events 200"] + reqs["GET /siem/v1/alerts 200"]; ok < 2*tenants {
			return fmt.Errorf("run %d: %d SIEM pages served, want %d", i+1, ok, 2*tenants)
		}
		rs = append(rs, m)
		fmt.Printf("run %d: pass %.1fs (%.2f × bound), %.1f requests/s, %d of %d requests 429 (%.2f %%), peak RSS %.0f MiB, CPU %.1fs\n",
			i+1, r.wall.Seconds(), r.wall.Seconds()/bound, float64(m.requests)/r.wall.Seconds(), m.throttled, m.requests,
			100*float64(m.throttled)/float64(m.requests), r.rssMiB, r.cpu.Seconds())
	}
	stat := func(f func(mspResult) float64, format string) string {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return fmt.Sprintf(format+" / "+format+" / "+format, v[0], v[len(v)/2], v[len(v)-1])
	}
	fmt.Printf("\nMSP %d tenants: min / median / max over %d runs (bound %.1fs)\n", tenants, len(rs), bound)
	fmt.Printf("  pass s          %s\n", stat(func(r mspResult) float64 { return r.wall.Seconds() }, "%.1f"))
	fmt.Printf("  ratio to bound  %s\n", stat(func(r mspResult) float64 { return r.wall.Seconds() / bound }, "%.2f"))
	fmt.Printf("  requests/s      %s\n", stat(func(r mspResult) float64 { return float64(r.requests) / r.wall.Seconds() }, "%.1f"))
	fmt.Printf("  429 share %%     %s\n", stat(func(r mspResult) float64 { return 100 * float64(r.throttled) / float64(r.requests) }, "%.2f"))
	fmt.Printf("  peak RSS MiB    %s\n", stat(func(r mspResult) float64 { return r.rssMiB }, "%.0f"))
	fmt.Printf("  CPU s           %s\n", stat(func(r mspResult) float64 { return r.cpu.Seconds() }, "%.1f"))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
