package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestReplayDeadLetters: Elasticsearch refuses some alerts for good (the
// raw format sends data.user_match_id as a string in some and an object in
// others: a mapping conflict). They land in the dead-letter file, nothing is
// lost. After the cause is fixed (format: ecs normalizes those ids),
// `replay dlq` delivers them and empties the file.
func TestReplayDeadLetters(t *testing.T) {
	es := elasticsearchtest.New(elasticsearchtest.Options{})
	defer es.Close()
	emu := newEmu(t, emulator.Options{Seed: 21, Events: 600, Alerts: 150})
	dir := t.TempDir()
	sink := func(format string) string {
		return fmt.Sprintf("sinks:\n  - name: search\n    type: elasticsearch\n    addresses: [%s]\n    index: sophos-alerts\n    streams: [alerts]\n    format: %s\n", es.URL, format)
	}
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\njson_file_creation: false\n"+sink("raw"))
	// Completed, but records were dead-lettered: exit 3.
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != exitIncomplete || !strings.Contains(e, "dead-lettered") {
		t.Fatalf("exit %d, want 3: %s", code, e)
	}
	dlqPath := filepath.Join(dir, "state", "dead-letter.ndjson")
	var refused []string
	pipeline.ReadDeadLetters(dlqPath, func(e pipeline.DeadLetterEntry) error {
		if e.Sink != "search" || !strings.Contains(e.Reason, "mapping") && !strings.Contains(e.Reason, "parsing") {
			t.Fatalf("unexpected dead letter %+v", e)
		}
		refused = append(refused, e.ID)
		return nil
	})
	alerts := groundTruth(emu, "alert")
	if len(refused) == 0 || es.Count("sophos-alerts")+len(refused) != len(alerts) {
		t.Fatalf("%d indexed + %d dead-lettered != %d alerts", es.Count("sophos-alerts"), len(refused), len(alerts))
	}

	// Fix the cause and replay. (The sink keeps its name; the format changes.)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "format: raw", "format: ecs", 1)), 0o600)
	// ECS documents carry a different shape: use a fresh index for them.
	es2 := elasticsearchtest.New(elasticsearchtest.Options{})
	defer es2.Close()
	b, _ = os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), es.URL, es2.URL, 1)), 0o600)
	code, out, errOut := runApp(t, ctxT(t), "replay", "dlq", "-c", cfg)
	if code != 0 {
		t.Fatalf("replay: %d %s %s", code, out, errOut)
	}
	if !strings.Contains(out, fmt.Sprintf("replayed %d record(s)", len(refused))) || !strings.Contains(out, "0 refused again") {
		t.Fatalf("replay output: %s", out)
	}
	docs := es2.Docs("sophos-alerts")
	for _, id := range refused {
		if _, ok := docs[id]; !ok {
			t.Fatalf("replayed alert %s not indexed", id)
		}
	}
	if b, _ := os.ReadFile(dlqPath); len(b) != 0 {
		t.Fatalf("dead-letter file not emptied: %s", b)
	}
	// Nothing left: a second replay says so.
	if code, out, _ := runApp(t, ctxT(t), "replay", "dlq", "-c", cfg); code != 0 || !strings.Contains(out, "no dead letters") {
		t.Fatalf("second replay: %d %s", code, out)
	}
}

// TestReplayStreamsRotatedFilesAndSkipsDamagedLines: replay reads the rotated
// files and the current one in order, a damaged line is reported and kept
// (not a stop), entries for an unknown sink stay, and emptied rotated files
// go away.
func TestReplayStreamsRotatedFilesAndSkipsDamagedLines(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: -1, Alerts: -1})
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\njson_file_creation: false\nsinks:\n  - name: out\n    type: json\n    layout: lines\n    path: "+out+"\n")
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	entry := func(sink, id string) string {
		return `{"time":"2026-11-26T10:00:00Z","sink":"` + sink + `","reason":"x","stream":"event","tenant":"t1","id":"` + id + `","record":{"id":"` + id + `","type":"Event::Endpoint::UpdateSuccess"}}` + "\n"
	}
	rotated := filepath.Join(state, "dead-letter-20261126T100000.000000000Z.ndjson")
	os.WriteFile(rotated, []byte(entry("out", "a")+entry("out", "b")), 0o600)
	damaged := "{\"time\":\"2026-11-26T10:00:0\n"
	cur := filepath.Join(state, pipeline.DeadLetterName)
	os.WriteFile(cur, []byte(entry("out", "c")+damaged+entry("gone", "d")+entry("out", "e")), 0o600)

	code, stdout, stderr := runApp(t, ctxT(t), "replay", "dlq", "-c", cfg)
	if code != 1 || !strings.Contains(stdout, "replayed 4 record(s)") || !strings.Contains(stdout, "1 damaged line(s)") || !strings.Contains(stderr, dlqLineRef(cur, 2)) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	b, _ := os.ReadFile(out)
	for _, id := range []string{"a", "b", "c", "e"} {
		if !strings.Contains(string(b), `"id":"`+id+`"`) {
			t.Fatalf("%s not delivered: %s", id, b)
		}
	}
	if _, err := os.Stat(rotated); !os.IsNotExist(err) {
		t.Fatalf("the emptied rotated file is still there (%v)", err)
	}
	left, _ := os.ReadFile(cur)
	if string(left) != damaged+entry("gone", "d") {
		t.Fatalf("kept %q", left)
	}
}

func dlqLineRef(path string, line int) string { return fmt.Sprintf("%s:%d (byte", path, line) }
