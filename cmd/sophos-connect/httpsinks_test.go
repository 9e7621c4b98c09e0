package main

import (
	"fmt"
	"testing"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/hectest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestSplunkHECEndToEnd runs the collector from a config file into a
// splunk_hec sink with indexer acknowledgement behind a disk buffer, while
// HEC is busy (503 code 9) at first and loses one request's events (its ack
// never comes): every alert and event reaches its sourcetype (alerts and
// their event twins share ids), each exactly once after deduping the
// resends, and the run exits 0.
func TestSplunkHECEndToEnd(t *testing.T) {
	hec := hectest.New(hectest.Options{Tokens: map[string]hectest.Token{"tok-e2e": {Ack: true}}})
	defer hec.Close()
	emu := newEmu(t, emulator.Options{Seed: 19, Events: 1500, Alerts: 120})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, fmt.Sprintf(`txt_file_creation: false
json_file_creation: false
sinks:
  - name: splunk
    type: splunk_hec
    url: %s
    token: tok-e2e
    index: sophos
    ack: true
    ack_timeout: 500ms
    ack_poll_interval: 50ms
    buffer: {type: disk}
    retry: {initial: 20ms, max: 200ms}
`, hec.URL))
	hec.SetFaults(hectest.Faults{Busy503: 4, AckNever: 1})
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	got := map[string]map[string]int{}
	for _, ev := range hec.Events() {
		if ev.Index != "sophos" || ev.Source != "sophos-connect" {
			t.Fatalf("event %+v", ev)
		}
		if got[ev.Sourcetype] == nil {
			got[ev.Sourcetype] = map[string]int{}
		}
		got[ev.Sourcetype][outtest.RecordID(ev.Event)]++
	}
	for st, stream := range map[string]string{"sophos:central:alerts": "alert", "sophos:central:events": "event"} {
		var want []string
		for id := range groundTruth(emu, stream) {
			want = append(want, id)
		}
		if n := outtest.ExactlyOnce(t, want, got[st], nil); n != 0 {
			t.Fatalf("%s: %d repeats", st, n)
		}
	}
	if st := hec.Stats(); st.Status[503] != 4 || st.Lost == 0 {
		t.Fatalf("stats %+v: the faults did not bite", st)
	}
	if len(got) != 2 {
		t.Fatalf("%d sourcetypes, want 2", len(got))
	}
}
