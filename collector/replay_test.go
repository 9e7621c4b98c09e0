package collector

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestReplayStageScopedToOneStream: a record a stage refused is replayed
// through the stages the way a run applies them, so a stage scoped to
// `streams: [alerts]` leaves an event alone (replay used to run every stage
// on every record).
func TestReplayStageScopedToOneStream(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.ndjson")
	cfgPath := filepath.Join(dir, "sophos-connect.yaml")
	y := "sophos:\n  client_id: id\n  client_secret: secret\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\nsave_file_location: " + dir + "\n" +
		"txt_file_creation: false\njson_file_creation: false\n" +
		"transforms:\n  - type: fields\n    streams: [alerts]\n    set: {scoped: alerts-only}\n" +
		"sinks:\n  - name: out\n    type: json\n    layout: lines\n    path: " + out + "\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	entry := func(stream, id string) string {
		return `{"time":"2026-11-26T10:00:00Z","stage":"source","reason":"x","stream":"` + stream + `","tenant":"t1","id":"` + id + `","record":{"id":"` + id + `","type":"Event::Endpoint::UpdateSuccess"}}` + "\n"
	}
	os.WriteFile(filepath.Join(state, pipeline.DeadLetterName), []byte(entry("event", "ev-1")+entry("alert", "al-1")), 0o600)

	res, err := Replay(context.Background(), c, ReplayOptions{Attempts: 1, Log: slog.New(slog.DiscardHandler)})
	if err != nil || res.Delivered != 2 || res.Refused != 0 {
		t.Fatalf("replay: %+v %v", res, err)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("delivered:\n%s", b)
	}
	for _, l := range lines {
		isAlert := strings.Contains(l, `"id":"al-1"`)
		if got := strings.Contains(l, `"scoped":"alerts-only"`); got != isAlert {
			t.Errorf("the alerts-only stage ran=%v on %s", got, l)
		}
	}
}
