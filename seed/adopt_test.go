package seed

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func TestReadSeedIDs(t *testing.T) {
	now := time.Now().UTC()
	recent := now.Add(-2 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	old := now.Add(-30 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	type got struct{ id, created string }
	collect := func(read func(add func(id, created string)) error) ([]got, error) {
		var out []got
		err := read(func(id, created string) { out = append(out, got{id, created}) })
		return out, err
	}
	txt := "[Timestamp: " + recent + "] [EventID: e-1] [Severity: low] [Name: a\n" + // a name with a newline splits the line
		"continued] [IP: ][EventType: X] [SourceInfo: {}] [Location: l] [Group: g] [CustomerID: c]\n" +
		"[Timestamp: " + old + "] [EventID: e-old] [Severity: low] [Name: b] [IP: ][EventType: X]\n" +
		"[Timestamp: " + recent + "] [EventID: e-long] [Name: " + strings.Repeat("x", 200_000) + "]\n" +
		"[Reporter: Sophos Central] [Timestamp: " + recent + "] [AlertID: a-1] [Severity: high]\n"
	ids, err := collect(func(add func(id, created string)) error {
		return readTxtIDs(strings.NewReader(txt), pipeline.Events, add)
	})
	if err != nil || len(ids) != 3 || ids[0] != (got{"e-1", recent}) || ids[1] != (got{"e-old", old}) || ids[2] != (got{"e-long", recent}) {
		t.Fatalf("txt events: %v %v", ids, err)
	}
	ids, _ = collect(func(add func(id, created string)) error {
		return readTxtIDs(strings.NewReader(txt), pipeline.Alerts, add)
	})
	if len(ids) != 1 || ids[0] != (got{"a-1", recent}) {
		t.Fatalf("txt alerts: %v", ids)
	}
	js := `[{"id": "j-1", "created_at": "` + recent + `", "data": {"id": "nested"}}, {"created_at": "x", "id": "j-2"}, {"id": "j-3", "na`
	ids, err = collect(func(add func(id, created string)) error { return readJSONIDs(strings.NewReader(js), add) })
	if err == nil || len(ids) != 2 || ids[0] != (got{"j-1", recent}) || ids[1] != (got{"j-2", "x"}) {
		t.Fatalf("torn json: %v %v (want the two complete items and an error)", ids, err)
	}
	if ids, err := collect(func(add func(id, created string)) error { return readJSONIDs(strings.NewReader(""), add) }); err != nil || len(ids) != 0 {
		t.Fatalf("empty json file: %v %v", ids, err)
	}
}

func TestAdoptSeedFilesWindowAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	path := dir + "/sophos_events"
	line := func(id string, at time.Time) string {
		return "[Timestamp: " + at.UTC().Format("2006-01-02T15:04:05.000Z") + "] [EventID: " + id + "] [Severity: low]\n"
	}
	if err := os.WriteFile(path, []byte(line("e-1", now.Add(-time.Hour))+line("e-old", now.Add(-26*time.Hour))), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []File{{Sink: 0, Path: path, Kind: "txt", Stream: pipeline.Events}}
	build := func() []pipeline.SinkSpec { return []pipeline.SinkSpec{{Name: "seed-events-txt"}} }
	var logBuf strings.Builder
	log := slog.New(&seedHandler{mu: &sync.Mutex{}, outs: []io.Writer{&logBuf}, level: pipeline.LevelInfo, source: "System", now: time.Now})
	cps, err := pipeline.OpenCheckpoints(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	sinks := build()
	if err := Adopt(files, sinks, cps, now, log); err != nil {
		t.Fatal(err)
	}
	when := sinks[0].Routes.When
	if when == nil {
		t.Fatal("nothing adopted")
	}
	for id, want := range map[string]bool{"e-1": false, "e-old": true, "e-new": true} {
		if got := when(&pipeline.Record{Stream: pipeline.Events, ID: id}); got != want {
			t.Errorf("%s routed to the seed file: %v, want %v", id, got, want)
		}
	}
	if !strings.Contains(logBuf.String(), "] Adopted 1 Event IDs from "+path+"\n") || !strings.Contains(logBuf.String(), "1 older ids are outside the 24 h window") {
		t.Errorf("log:\n%s", logBuf.String())
	}
	// Once the stream has a checkpoint, nothing is adopted.
	cps.Set("tenant-1/event", pipeline.Checkpoint{Cursor: "c", SavedAt: now})
	sinks = build()
	if err := Adopt(files, sinks, cps, now, log); err != nil || sinks[0].Routes.When != nil {
		t.Fatalf("adopted despite a checkpoint: %v", err)
	}
}
