package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/pyoracle"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// pullAll fetches every item of the tenant's streams from the emulator, as
// the seed's pulls did.
func pullAll(t *testing.T, emu *emulator.Server) map[pipeline.Stream][]pipeline.Record {
	t.Helper()
	ctx := ctxT(t)
	client, err := sophos.NewClient(sophos.Config{ClientID: testClientID, ClientSecret: testClientSecret, AuthURL: emu.AuthURL(), APIHost: emu.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	src, err := sophos.NewSource(client, sophos.SourceOptions{Streams: []pipeline.Stream{pipeline.Alerts, pipeline.Events}})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := src.Partitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[pipeline.Stream][]pipeline.Record{}
	for _, p := range parts {
		pos := pipeline.Position{Since: time.Now().Add(-23*time.Hour - 50*time.Minute)}
		for {
			page, err := src.Fetch(ctx, p, pos)
			if err != nil {
				t.Fatal(err)
			}
			out[p.Stream] = append(out[p.Stream], page.Records...)
			if !page.HasMore {
				break
			}
			pos = pipeline.Position{Cursor: page.Cursor}
		}
	}
	return out
}

// writeSeedDir writes what a seed install left behind: sophos.conf (as a
// user wrote it: comments, quotes, CRLF), the txt files (the seed's lines),
// the JSON files (written by python3's json.dump, as the seed did) and its
// log, from the first part of each stream's items.
func writeSeedDir(t *testing.T, dir string, items map[pipeline.Stream][]pipeline.Record, share float64) map[string]string {
	t.Helper()
	conf := "# Sophos API Connect\r\n# API credentials from Sophos Central > Global Settings > API Credentials\r\n" +
		"client_id = \"" + testClientID + "\"\r\nclient_secret = '" + testClientSecret + "'\r\n" +
		"pull_time = 10\r\nrun = True\r\nsave_file_location = \r\ntxt_file_creation = True\r\njson_file_creation = True\r\n" +
		"alerts_txt_file_name = sophos_alerts\r\nevents_txt_file_name = sophos_events\r\nalerts_json_file_name = sophos_alerts.json\r\n" +
		"events_json_file_name = sophos_events.json\r\nlog_level = INFO\r\nlog_file_name = Sophos_log.log\r\n" +
		"alerts_auto_acknowledge_status = False\r\nalerts_auto_acknowledge_level = medium\r\n" +
		"events_auto_acknowledge_status = False\r\nevents_auto_acknowledge_level = medium\r\n"
	files := map[string]string{
		"sophos.conf":    conf,
		"Sophos_log.log": "[System Log 30/11/2026 08:00:00] New Log File Created\n[System Log 30/11/2026 08:00:00] Initiating Sophos Alerts and Events Pull\n[Events Log 30/11/2026 08:00:01] No events json file existed, created a new events json file\n",
	}
	txt, err := encoding.New("txt", encoding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for stream, recs := range items {
		n := int(float64(len(recs)) * share)
		var lines []byte
		var docs []string
		for i := range recs[:n] {
			if lines, err = txt.Append(lines, &recs[i]); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, '\n')
			docs = append(docs, string(recs[i].Raw))
		}
		name := "sophos_" + stream.Plural()
		files[name] = string(lines)
		files[name+".json"] = pyoracle.DumpArray(t, docs)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// TestSeedDirectoryMigrateAndTwoRuns is the migration from the seed end to
// end: a directory the seed wrote goes through migrate and two runs. No id
// is written twice, the seed's lines stay as they were, and the JSON file is
// byte for byte what Python's json.dumps makes of it.
func TestSeedDirectoryMigrateAndTwoRuns(t *testing.T) {
	pyoracle.Python(t)
	emu := newEmu(t, emulator.Options{Events: 400, Alerts: 40})
	items := pullAll(t, emu)
	if len(items[pipeline.Events]) < 300 || len(items[pipeline.Alerts]) < 30 {
		t.Fatalf("emulator backlog: %d events, %d alerts", len(items[pipeline.Events]), len(items[pipeline.Alerts]))
	}
	dir := t.TempDir()
	seed := writeSeedDir(t, dir, items, 0.6)

	// migrate, then point the config at the emulator (what a user of the
	// emulator adds; a real install keeps the defaults).
	cfg := filepath.Join(dir, "sophos-connect.yaml")
	code, _, errOut := runApp(t, ctxT(t), "migrate", filepath.Join(dir, "sophos.conf"), "-o", cfg)
	if code != 0 {
		t.Fatalf("migrate: %d %s", code, errOut)
	}
	if !strings.Contains(errOut, "events_auto_acknowledge_status is not carried over") {
		t.Errorf("migrate did not warn about events_auto_acknowledge_status:\n%s", errOut)
	}
	y, _ := os.ReadFile(cfg)
	y = []byte(strings.Replace(string(y), "sophos:\n", "sophos:\n  auth_url: "+emu.AuthURL()+"\n  api_host: "+emu.URL()+"\n  from_date_offset_minutes: 0\n", 1))
	if err := os.WriteFile(cfg, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, e := runApp(t, ctxT(t), "validate", "-c", cfg); code != 0 {
		t.Fatalf("validate: %s %s", out, e)
	}

	run := func() string {
		code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once")
		if code != 0 {
			t.Fatalf("run: exit %d\n%s", code, errOut)
		}
		return errOut
	}
	first := run()
	for stream, noun := range map[pipeline.Stream]string{pipeline.Events: "Event", pipeline.Alerts: "Alert"} {
		n := int(float64(len(items[stream])) * 0.6)
		for _, name := range []string{"sophos_" + stream.Plural(), "sophos_" + stream.Plural() + ".json"} {
			want := fmt.Sprintf("Adopted %d %s IDs from %s", n, noun, filepath.Join(dir, name))
			if !strings.Contains(first, want) {
				t.Errorf("first run does not say %q:\n%s", want, first)
			}
		}
	}
	tenant := emu.TenantIDs()[0]
	emu.AddItems(tenant, "events", 30)
	emu.AddItems(tenant, "alerts", 3)
	if second := run(); strings.Contains(second, "Adopted") {
		t.Errorf("the second run adopted again (checkpoints should have taken over):\n%s", second)
	}

	for _, stream := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		all := emu.AllIDs(tenant, string(stream))
		base := filepath.Join(dir, "sophos_"+stream.Plural())
		for path, ids := range map[string]map[string]int{base: txtIDs(t, base), base + ".json": jsonArrayIDs(t, base+".json")} {
			var twice, missing []string
			for id, n := range ids {
				if n > 1 {
					twice = append(twice, id)
				}
			}
			for _, id := range all {
				if ids[id] == 0 {
					missing = append(missing, id)
				}
			}
			sort.Strings(twice)
			if len(twice) > 0 || len(missing) > 0 || len(ids) != len(all) {
				t.Errorf("%s: %d ids (want %d), %d twice %.3q, %d missing", path, len(ids), len(all), len(twice), twice, len(missing))
			}
		}
		// The seed's lines are untouched: the old text is a prefix.
		b, _ := os.ReadFile(base)
		if !strings.HasPrefix(string(b), seed[filepath.Base(base)]) {
			t.Errorf("%s: the seed's lines changed", base)
		}
		j, _ := os.ReadFile(base + ".json")
		old := seed[filepath.Base(base)+".json"]
		if !strings.HasPrefix(string(j), old[:len(old)-1]+", ") {
			t.Errorf("%s: the seed's items are not kept as written", base+".json")
		}
		if py := pyoracle.Dumps(t, []string{string(j)})[0]; py != string(j) {
			i := 0
			for i < len(py) && i < len(j) && py[i] == j[i] {
				i++
			}
			t.Errorf("%s differs from Python's json.dumps of it at byte %d:\n ours   %.200s\n python %.200s", base+".json", i, j[i:], py[i:])
		}
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
	if !strings.HasPrefix(string(logText), seed["Sophos_log.log"]) {
		t.Errorf("the seed's log lines changed")
	}
	if !strings.Contains(string(logText[len(seed["Sophos_log.log"]):]), "] Initiating Sophos Alerts and Events Pull\n") {
		t.Errorf("the log beside the config lacks the run's lines:\n%s", logText)
	}
	_ = context.Background
}
