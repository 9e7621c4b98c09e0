package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestSplunkHECEndToEnd runs the collector from a config file into a
// splunk_hec sink with indexer acknowledgement behind a disk buffer, while
// HEC is busy (503 code 9) at first and loses one request's events (its ack
// never comes): every alert and event reaches its sourcetype (alerts and
// their event twins share ids), each exactly once after deduping the
// resends, and the run exits 0.
func TestSplunkHECEndToEnd(t *testing.T) {
	hec := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"tok-e2e": {Ack: true}}})
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
    ack_timeout: 1500ms
    ack_poll_interval: 50ms
    buffer: {type: disk}
    retry: {initial: 20ms, max: 200ms}
`, hec.URL))
	hec.SetFaults(splunkhectest.Faults{Busy503: 4, AckNever: 1})
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

// TestSentinelEndToEnd runs the collector from a config file into a
// sentinel sink (Entra ID token, the DCR of examples/sentinel-dcr.json)
// while the API throttles (429 with Retry-After) and refuses one row: every
// other alert and event is ingested exactly once with no column dropped,
// the refused one is in the dead-letter file, and the run exits 0.
func TestSentinelEndToEnd(t *testing.T) {
	streams, err := sentineltest.LoadDCR("../../examples/sentinel-dcr.json")
	if err != nil {
		t.Fatal(err)
	}
	const tenant, client, dcr = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "dcr-00112233445566778899aabbccddeeff"
	az := sentineltest.New(sentineltest.Options{TenantID: tenant, ClientID: client, ClientSecret: "az-secret", DCR: dcr, Streams: streams})
	defer az.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "azure-ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: az.Certificate().Raw}), 0o600)
	emu := newEmu(t, emulator.Options{Seed: 23, Events: 800, Alerts: 60})
	events := groundTruth(emu, "event")
	var bad string
	for id := range events {
		if !groundTruth(emu, "alert")[id] {
			bad = id // an event without an alert twin: refused in one stream only
			break
		}
	}
	cfg := writeConfig(t, dir, emu, fmt.Sprintf(`txt_file_creation: false
json_file_creation: false
sinks:
  - name: sentinel
    type: sentinel
    tenant_id: %s
    client_id: %s
    client_secret: ${AZ_SECRET}
    endpoint: %s
    authority_host: %s
    dcr_immutable_id: %s
    tls: {ca_file: %s}
    retry: {initial: 20ms, max: 200ms}
`, tenant, client, az.URL, az.URL, dcr, ca))
	t.Setenv("AZ_SECRET", "az-secret")
	az.SetFaults(sentineltest.Faults{Throttle429: 2, RetryAfter: "1", RejectIDs: []string{bad}})
	// One row is refused for good, so the run completes with exit 3.
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != exitIncomplete {
		t.Fatalf("exit %d, want 3 (a record dead-lettered): %s", code, e)
	}
	got := map[string]map[string]int{}
	for _, row := range az.Rows("Custom-SophosCentral_CL") {
		var id, stream string
		json.Unmarshal(row["SophosId"], &id)
		json.Unmarshal(row["Datastream"], &stream)
		if got[stream] == nil {
			got[stream] = map[string]int{}
		}
		got[stream][id]++
	}
	for _, stream := range []string{"alert", "event"} {
		var want []string
		for id := range groundTruth(emu, stream) {
			want = append(want, id)
		}
		if n := outtest.ExactlyOnce(t, want, got[stream], map[string]bool{bad: stream == "event"}); n != 0 {
			t.Fatalf("%s: %d repeats", stream, n)
		}
	}
	st := az.Stats()
	if st.Status[429] != 2 || len(st.Dropped) != 0 {
		t.Fatalf("stats %+v", st)
	}
	var dl []pipeline.DeadLetterEntry
	pipeline.ReadDeadLetters(filepath.Join(dir, "state", "dead-letter.ndjson"), func(e pipeline.DeadLetterEntry) error { dl = append(dl, e); return nil })
	if len(dl) != 1 || dl[0].ID != bad || dl[0].Sink != "sentinel" {
		t.Fatalf("dead letters %+v, want %s", dl, bad)
	}
}
