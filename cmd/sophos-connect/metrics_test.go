package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func sumMetric(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range match {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	return sum
}

// TestMetricsMatchWhatWasSent scrapes /metrics of a running collector with
// the Prometheus text parser and checks the counters against the emulator.
func TestMetricsMatchWhatWasSent(t *testing.T) {
	faults, _ := emulator.ParseFaults("429=0.2")
	emu := newEmu(t, emulator.Options{Tenants: 2, Partner: true, Events: 1500, Alerts: 120, Faults: faults})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("metrics_addr: %s\npull_time: 1h\n", addr))
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan int, 1)
	go func() {
		code, _, errOut := runApp(t, ctx, "-c", cfg)
		if code != 0 {
			t.Log(errOut)
		}
		done <- code
	}()
	want := map[string]float64{}
	for _, tid := range emu.TenantIDs() {
		want[tid+"/event"] = float64(len(emu.AllIDs(tid, "event")))
		want[tid+"/alert"] = float64(len(emu.AllIDs(tid, "alert")))
	}
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			p := expfmt.NewTextParser(model.UTF8Validation)
			fams, err = p.TextToMetricFamilies(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("/metrics is not valid Prometheus text: %v", err)
			}
			// Caught up when every partition has committed all its records.
			total := 0.0
			for _, v := range want {
				total += v
			}
			if sumMetric(fams, "sophos_connect_sink_delivered_total", nil) >= 2*total &&
				sumMetric(fams, "sophos_connect_checkpoint_timestamp_seconds", nil) > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			var names []string
			for n := range fams {
				names = append(names, n)
			}
			select {
			case code := <-done:
				t.Fatalf("collector exited with %d", code)
			default:
			}
			t.Fatalf("collector did not catch up; families %v", names)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for key, n := range want {
		tenant, stream := filepath.Split(key)
		tenant = tenant[:len(tenant)-1]
		if got := sumMetric(fams, "sophos_connect_records_pulled_total", map[string]string{"tenant": tenant, "stream": stream}); got != n {
			t.Errorf("records_pulled{%s} = %v, want %v", key, got, n)
		}
	}
	var events, alerts float64
	for k, v := range want {
		if filepath.Base(k) == "event" {
			events += v
		} else {
			alerts += v
		}
	}
	// Each record goes to its stream's txt and json file: two sinks.
	for _, s := range []struct {
		sink string
		n    float64
	}{{"seed-events-txt", events}, {"seed-events-json", events}, {"seed-alerts-txt", alerts}, {"seed-alerts-json", alerts}} {
		if got := sumMetric(fams, "sophos_connect_sink_delivered_total", map[string]string{"sink": s.sink}); got != s.n {
			t.Errorf("sink_delivered{%s} = %v, want %v", s.sink, got, s.n)
		}
	}
	// API errors by status: the 429s the emulator injected.
	served429 := 0
	for k, n := range emu.Requests() {
		if strings.HasSuffix(k, " 429") {
			served429 += n
		}
	}
	if got := sumMetric(fams, "sophos_connect_api_errors_total", map[string]string{"status": "429"}); served429 == 0 || got != float64(served429) {
		t.Errorf("api_errors{429} = %v, the emulator served %d", got, served429)
	}
	// workers: auto, and 20 % of requests throttled: the adaptive limit is
	// exported, somewhere between 1 and max_workers.
	if _, ok := fams["sophos_connect_api_concurrency_limit"]; !ok {
		t.Error("sophos_connect_api_concurrency_limit is not exported")
	} else if got := sumMetric(fams, "sophos_connect_api_concurrency_limit", nil); got < 1 || got > 64 {
		t.Errorf("api_concurrency_limit = %v, want 1..64", got)
	}
	if got := sumMetric(fams, "sophos_connect_sink_rejected_total", nil); got > 0 {
		t.Errorf("rejected %v", got)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	// SIGINT/SIGTERM (the signal context): stop, drain, commit, exit 0.
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after a stop signal", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the collector did not stop on its signal")
	}
}
