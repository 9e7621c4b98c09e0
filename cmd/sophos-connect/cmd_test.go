package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func newEmu(t *testing.T, o emulator.Options) *emulator.Server {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = testClientID, testClientSecret
	}
	emu, err := emulator.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	return emu
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestWhoamiPrintsIdentity(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 3, Partner: true})
	cfg := writeConfig(t, t.TempDir(), emu, "")
	for _, flag := range []string{"-w", "-whoami", "--whoami"} {
		code, out, errOut := runApp(t, ctxT(t), "-c", cfg, flag)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", flag, code, errOut)
		}
		for _, want := range []string{"idType:      partner", "tenants:     3", "data region:"} {
			if !strings.Contains(out, want) {
				t.Fatalf("%s output lacks %q:\n%s", flag, want, out)
			}
		}
	}
}

func TestWhoamiTenantCredentialsShowRegion(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	cfg := writeConfig(t, t.TempDir(), emu, "")
	code, out, errOut := runApp(t, ctxT(t), "-c", cfg, "-w")
	if code != 0 || !strings.Contains(out, "idType:      tenant") || strings.Contains(out, "data region: -") || !strings.Contains(out, "tenants:     1") {
		t.Fatalf("whoami: %d\n%s%s", code, out, errOut)
	}
}

func TestWhoamiWrongSecret(t *testing.T) {
	emu := newEmu(t, emulator.Options{})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	b, _ := os.ReadFile(cfg)
	wrong := "wrong-secret-value-xyz"
	os.WriteFile(cfg, []byte(strings.Replace(string(b), testClientSecret, wrong, 1)), 0o600)
	code, out, errOut := runApp(t, ctxT(t), "-c", cfg, "-w")
	if code == 0 {
		t.Fatal("wrong secret accepted")
	}
	all := out + errOut
	if !strings.Contains(all, "client_secret") || !strings.Contains(all, "401") {
		t.Fatalf("message does not name the cause and the fix: %s", all)
	}
	if strings.Contains(all, wrong) {
		t.Fatalf("the secret leaked: %s", all)
	}
}

func TestValidateReportsLineNumbers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("sophos:\n  client_id: a\n  client_secret: b\nsinks:\n  - name: x\n    type: txt\n    path: /tmp/x\n    formatt: cef\n"), 0o600)
	code, _, errOut := runApp(t, ctxT(t), "validate", "-c", p)
	if code != 2 {
		t.Fatalf("exit %d, want 2: %s", code, errOut)
	}
	if !strings.Contains(errOut, p+":8:") || !strings.Contains(errOut, "formatt: unknown key") {
		t.Fatalf("error lacks file:line: key: %s", errOut)
	}
}

func TestValidatePrintsPipeline(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ok.yaml")
	os.WriteFile(p, []byte(`sophos: {client_id: a, client_secret: b}
json_file_creation: true
state_dir: `+dir+`
transforms:
  - type: filter
    min_severity: medium
sinks:
  - name: out
    type: stdout
    format: raw
    when: severity >= high
`), 0o600)
	code, out, errOut := runApp(t, ctxT(t), "validate", "-c", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"seed-alerts-txt (txt)", "seed-events-json (json)", "sink out (stdout)", "when: ", "filter"} {
		if !strings.Contains(out, want) {
			t.Fatalf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func TestExamplesValidate(t *testing.T) {
	t.Setenv("SOPHOS_CLIENT_ID", "id")
	t.Setenv("SOPHOS_CLIENT_SECRET", "secret")
	t.Setenv("KAFKA_PASSWORD", "p")
	t.Setenv("ES_API_KEY", "k")
	for _, v := range []string{"SPLUNK_HEC_TOKEN", "AZURE_CLIENT_SECRET", "SIEM_CLIENT_SECRET"} {
		t.Setenv(v, "s")
	}
	t.Setenv("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	t.Setenv("AZURE_CLIENT_ID", "0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 5 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		if filepath.Base(f) == "prometheus-alerts.yaml" { // Prometheus rules, not a config (TestPrometheusAlerts)
			continue
		}
		code, out, errOut := runApp(t, ctxT(t), "validate", "-c", f)
		// Example paths (CA files) do not exist here: only that kind of
		// error is acceptable.
		if code != 0 && !onlyMissingFiles(errOut) {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func onlyMissingFiles(s string) bool {
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "sophos-connect: configuration errors") {
			continue
		}
		// Output directories of examples (/var/lib/...) need root here.
		if !strings.Contains(l, "no such file or directory") && !strings.Contains(l, "cannot be written by this user") {
			return false
		}
	}
	return true
}

func TestFlagsAndUsage(t *testing.T) {
	code, out, _ := runApp(t, ctxT(t), "-h")
	if code != 0 {
		t.Fatal(code)
	}
	for _, want := range []string{"-a, -alerts", "-e, -events", "-r, -run", "-w, -whoami", "-h, -help", "-once", "-since", "validate", "demo", "emulate", "tenants", "state", "migrate", "version"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	if code, _, _ := runApp(t, ctxT(t), "--help"); code != 0 {
		t.Fatal("--help")
	}
	if code, _, _ := runApp(t, ctxT(t), "-nope"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
	if code, _, _ := runApp(t, ctxT(t), "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
	if code, _, errOut := runApp(t, ctxT(t), "-c", "/nonexistent/x.yaml", "-once"); code != 2 || !strings.Contains(errOut, "not found") {
		t.Fatalf("missing config: exit %d %s", code, errOut)
	}
}

func TestAlertsOnlyFlag(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 300, Alerts: 50})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	for _, f := range []string{"-a", "--alerts"} {
		if code, _, errOut := runApp(t, ctxT(t), "-c", cfg, f, "-once"); code != 0 {
			t.Fatalf("%s: exit %d %s", f, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sophos_events")); err == nil {
		t.Fatal("-a pulled events")
	}
	got := jsonArrayIDs(t, filepath.Join(dir, "sophos_alerts.json"))
	assertExactlyOnce(t, "alerts", got, groundTruth(emu, "alert"))
	if code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-e", "-once"); code != 0 {
		t.Fatalf("-e: exit %d %s", code, errOut)
	}
	assertExactlyOnce(t, "events", txtIDs(t, filepath.Join(dir, "sophos_events")), groundTruth(emu, "event"))
}

func TestRunFalseStopsContinuousMode(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 100, Alerts: 10})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	done := make(chan int, 1)
	go func() {
		code, _, _ := runApp(t, ctxT(t), "-c", cfg)
		done <- code
	}()
	// Wait for the first pass, then flip run: false as a seed user would.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, "state", "checkpoints.json")); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("run: false\n")...), 0o600)
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run: false did not stop the collector")
	}
	assertExactlyOnce(t, "events", txtIDs(t, filepath.Join(dir, "sophos_events")), groundTruth(emu, "event"))
}

func TestStateShowAndReset(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 50, Alerts: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	code, out, _ := runApp(t, ctxT(t), "state", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "event") || !strings.Contains(out, "alert") {
		t.Fatalf("state show: %d %s", code, out)
	}
	code, out, _ = runApp(t, ctxT(t), "state", "reset", "all", "events", "-c", cfg)
	if code != 0 || !strings.Contains(out, "removed 1 checkpoint") {
		t.Fatalf("state reset: %d %s", code, out)
	}
}

func TestMigrateSeedConf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "sophos.conf")
	os.WriteFile(conf, []byte("client_id = my-id\nclient_secret = my-very-secret\npull_time = 30\nrun = True\nsave_file_location = /tmp/out/\ntxt_file_creation = True\njson_file_creation = False\nalerts_txt_file_name = a\nevents_txt_file_name = e\nlog_level = VERBOSE\nalerts_auto_acknowledge_status = True\nalerts_auto_acknowledge_level = High\n"), 0o600)
	code, out, errOut := runApp(t, ctxT(t), "migrate", conf)
	if code != 0 {
		t.Fatal(errOut)
	}
	if strings.Contains(out, "my-very-secret") || !strings.Contains(out, "${SOPHOS_CLIENT_SECRET}") {
		t.Fatalf("secret printed or not replaced:\n%s", out)
	}
	outFile := filepath.Join(dir, "sophos-connect.yaml")
	if code, _, e := runApp(t, ctxT(t), "migrate", conf, "-o", outFile); code != 0 {
		t.Fatal(e)
	}
	if code, out, e := runApp(t, ctxT(t), "validate", "-c", outFile); code != 0 {
		t.Fatalf("migrated config does not validate: %s %s", out, e)
	}
	b, _ := os.ReadFile(outFile)
	for _, want := range []string{"pull_time: 30", "run: true", "log_level: VERBOSE", "alerts_auto_acknowledge_level: High", "client_secret: my-very-secret"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("migrated file lacks %q:\n%s", want, b)
		}
	}
}

func TestDemoRunsWithoutConfig(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo-out")
	code, out, errOut := runApp(t, ctxT(t), "demo", "-dir", dir, "-events", "500", "-alerts", "50")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, f := range []string{"sophos_events", "sophos_alerts", "sophos_events.json", "sophos_alerts.json", "Sophos_log.log",
		"sophos_detections", "sophos_cases", "sophos_detections.json", "sophos_cases.json"} { // all four streams
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("demo did not write %s: %v", f, err)
		}
	}
	if !strings.Contains(out, dir) {
		t.Fatalf("demo does not say where the files are:\n%s", out)
	}
}

func TestAutoAcknowledgeWired(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 100, Alerts: 40})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "alerts_auto_acknowledge_status: true\nalerts_auto_acknowledge_level: low\n")
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sophos_alerts.json"))
	var items []struct{ ID, Severity string }
	json.Unmarshal(b, &items)
	low := 0
	for _, it := range items {
		if acked := emu.Acknowledged(it.ID); acked != (it.Severity == "low") {
			t.Fatalf("alert %s (%s): acknowledged=%v with level low", it.ID, it.Severity, acked)
		}
		if it.Severity == "low" {
			low++
		}
	}
	if low == 0 || len(items) != 40 {
		t.Fatalf("%d alerts, %d low", len(items), low)
	}
}

// TestLogLevels runs the same pull at each of the seed's levels and checks
// what the log file holds.
func TestLogLevels(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 30, Alerts: 3})
	cases := []struct {
		level     string
		want, not []string
	}{
		{"OFF", []string{"New Log File Created"}, []string{"Configurations", "Initiating", "Added"}},
		{"ERROR", []string{"New Log File Created"}, []string{"Configurations", "Pulled"}},
		{"INFO", []string{"Configurations: [", "client_secret=[redacted]", "Initiating Sophos Alerts and Events Pull", "new logs added"}, []string{"Pulled", "Event ID:"}},
		{"LOG", []string{"Initiating Sophos Alerts and Events Pull"}, []string{"Pulled", "Event ID:"}},
		{"LOG+", []string{"Pulled 30 events", "Added 30 new Event IDs", "Added 3 new Alert IDs"}, []string{"Event ID:"}},
		{"VERBOSE", []string{"Event ID: ", " added. Name: ", "Alert ID: ", " added. Description: ", "WhoAmI Authentication Successful", "[Events Log ", "[Alerts Log "}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, emu, "log_level: "+tc.level+"\n")
			if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
				t.Fatal(e)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "Sophos_log.log"))
			log := string(b)
			for _, w := range tc.want {
				if !strings.Contains(log, w) {
					t.Errorf("%s log lacks %q:\n%s", tc.level, w, log)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(log, n) {
					t.Errorf("%s log has %q", tc.level, n)
				}
			}
			if strings.Contains(log, testClientSecret) {
				t.Fatal("the secret reached the log")
			}
		})
	}
}

// TestSinkRouting: a sink with `when:` gets only the records its condition
// accepts; a sink with streams gets only that stream.
func TestSinkRouting(t *testing.T) {
	emu := newEmu(t, emulator.Options{Events: 800, Alerts: 80})
	dir := t.TempDir()
	high := filepath.Join(dir, "high.ndjson")
	alerts := filepath.Join(dir, "alerts.ndjson")
	cfg := writeConfig(t, dir, emu, `txt_file_creation: false
sinks:
  - {name: high, type: json, layout: lines, path: `+high+`, when: 'severity == "high"'}
  - {name: alerts, type: json, layout: lines, path: `+alerts+`, streams: [alerts]}
`)
	if code, _, e := runApp(t, ctxT(t), "-c", cfg, "-once"); code != 0 {
		t.Fatal(e)
	}
	read := func(p string) []map[string]any {
		b, _ := os.ReadFile(p)
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, m)
		}
		return out
	}
	hs := read(high)
	for _, m := range hs {
		if m["severity"] != "high" {
			t.Fatalf("high sink got %v", m["severity"])
		}
	}
	// Count the high ones the emulator served (the seed's JSON files hold all).
	var wantHigh int
	for _, f := range []string{"sophos_events.json", "sophos_alerts.json"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		var items []struct{ Severity string }
		json.Unmarshal(b, &items)
		for _, it := range items {
			if it.Severity == "high" {
				wantHigh++
			}
		}
	}
	if len(hs) != wantHigh || wantHigh == 0 {
		t.Fatalf("high sink got %d records, %d high ones were served", len(hs), wantHigh)
	}
	as := read(alerts)
	if len(as) != len(groundTruth(emu, "alert")) {
		t.Fatalf("alerts sink got %d of %d", len(as), len(groundTruth(emu, "alert")))
	}
	for _, m := range as {
		if m["datastream"] != "alert" {
			t.Fatalf("alerts sink got a %v", m["datastream"])
		}
	}
}

func TestTenantsVersionEmulate(t *testing.T) {
	emu := newEmu(t, emulator.Options{Tenants: 3, Partner: true})
	cfg := writeConfig(t, t.TempDir(), emu, "")
	code, out, errOut := runApp(t, ctxT(t), "tenants", "-c", cfg)
	if code != 0 || strings.Count(out, "\n") != 4 || !strings.HasPrefix(out, "ID") {
		t.Fatalf("tenants: %d\n%s%s", code, out, errOut)
	}
	for _, id := range emu.TenantIDs() {
		if !strings.Contains(out, id) {
			t.Fatalf("tenant %s missing:\n%s", id, out)
		}
	}
	if code, out, _ := runApp(t, ctxT(t), "version"); code != 0 || !strings.HasPrefix(out, "sophos-connect ") {
		t.Fatalf("version: %d %s", code, out)
	}
	// emulate serves until interrupted and prints what a client needs.
	ctx, cancel := context.WithCancel(ctxT(t))
	done := make(chan string, 1)
	go func() {
		_, out, _ := runApp(t, ctx, "emulate", "-addr", "127.0.0.1:0", "-client-id", "x", "-client-secret", "y")
		done <- out
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case out := <-done:
		if !strings.Contains(out, "http://127.0.0.1:") || !strings.Contains(out, "client_id: x") {
			t.Fatalf("emulate printed:\n%s", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulate did not stop")
	}
}
