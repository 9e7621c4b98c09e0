package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/status"
)

// TestGapPastTheWindow stops the collector past the API's 24 h horizon —
// the emulator's clock moves 30 h, the host's does not — and checks that
// the lost span is named everywhere: an ERROR with the span, the metric,
// the status page (the row and the banner), `state gaps`, and a gap record
// in every sink.
func TestGapPastTheWindow(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 100, Alerts: 10})
	tid := emu.TenantIDs()[0]
	dir := t.TempDir()
	lines := filepath.Join(dir, "all.jsonl")
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("metrics_addr: %s\npull_time: 1h\nsinks:\n  - name: lines\n    type: json\n    layout: lines\n    path: %s\n", addr, lines))
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	firstAPI := emu.Options().Now()

	// The collector is stopped while 30 h pass by the API's clock.
	emu.AdvanceClock(30 * time.Hour)
	emu.AddItems(tid, "event", 3)
	emu.AddItems(tid, "alert", 2)

	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, e := runApp(t, ctx, "-c", cfg)
		done <- result{code, e}
	}()
	var st status.Status
	var gapSeconds float64
	var page []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no gaps shown: %+v\n%s", st, (<-done).stderr)
		}
		if b, err := httpGet("http://" + addr + "/status.json"); err == nil && json.Unmarshal(b, &st) == nil && len(st.Gaps) == 2 {
			if b, err := httpGet("http://" + addr + "/metrics"); err == nil {
				parser := expfmt.NewTextParser(model.UTF8Validation)
				fams, err := parser.TextToMetricFamilies(strings.NewReader(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				gapSeconds = sumMetric(fams, "sophos_connect_gap_seconds_total", map[string]string{"tenant": tid})
				if gapSeconds > 0 && emuDelivered(t, lines) >= 2+5 {
					if page, err = httpGet("http://" + addr + "/"); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	cancel()
	res := <-done
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}

	// The span is the API's: from what the first run had served up to, to
	// the API's horizon when it answered again — about 6 h.
	want := 6 * time.Hour
	if gapSeconds < 2*want.Seconds()-120 || gapSeconds > 2*want.Seconds()+120 {
		t.Fatalf("gap metric %v s for two streams, want about 2 × %v", gapSeconds, want)
	}
	for _, stream := range []string{"alerts", "events"} {
		if !strings.Contains(res.stderr, "GAP: "+tid+" "+stream+" from ") {
			t.Fatalf("no ERROR names the %s gap:\n%s", stream, res.stderr)
		}
	}
	for _, tn := range st.Tenants {
		for _, s := range tn.Streams {
			if s.Gap == nil {
				t.Fatalf("status row %s/%s shows no gap", tn.ID, s.Stream)
			}
		}
	}
	if !strings.Contains(string(page), `id="gaps"`) || !strings.Contains(string(page), "renderGaps") {
		t.Fatal("the status page has no gap banner")
	}

	code, out, e := runApp(t, ctxT(t), "-c", cfg, "state", "gaps", "-json")
	if code != 0 {
		t.Fatal(e)
	}
	var listed []pipeline.Gap
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("state gaps: %v %s", err, out)
	}
	for _, g := range listed {
		if d := g.From.Sub(firstAPI); d < -time.Minute || d > time.Minute {
			t.Fatalf("gap starts %v, want about the first run's API time %v", g.From, firstAPI)
		}
		if d := g.To.Sub(g.From) - want; d < -time.Minute || d > time.Minute {
			t.Fatalf("gap %v → %v, want about %v", g.From, g.To, want)
		}
	}
	code, out, _ = runApp(t, ctxT(t), "-c", cfg, "state", "gaps")
	if code != 0 || !strings.Contains(out, tid) || !strings.Contains(out, "API's 24 h window") {
		t.Fatalf("state gaps table:\n%s", out)
	}

	// A gap record reached every sink: the json lines sink and the seed's
	// txt and json files, one per stream.
	for _, g := range listed {
		id := g.ID()
		for _, f := range []string{lines, filepath.Join(dir, "sophos_"+g.Stream.Plural()+".json"), filepath.Join(dir, "sophos_"+g.Stream.Plural())} {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(b), id); n != 1 {
				t.Fatalf("%s holds the gap record %s %d times, want once", f, id, n)
			}
		}
	}
}

func httpGet(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// emuDelivered counts the lines of a json lines file.
func emuDelivered(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n") - 110 // the first run's 100 events and 10 alerts
}
