package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/splunkhec/splunkhectest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/status"
)

// TestOnceMissingNamedTenantExits1: a tenant named in sophos.tenants that
// the credentials do not reach is a failed partition under -once: exit 1,
// named — even when every other tenant was delivered.
func TestOnceMissingNamedTenantExits1(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 6, Tenants: 2, Partner: true, Events: 50, Alerts: 5})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	b, _ := os.ReadFile(cfg)
	b = []byte(strings.Replace(string(b), "sophos:\n", fmt.Sprintf("sophos:\n  tenants: [%s, No Such Tenant]\n", emu.TenantIDs()[0]), 1))
	os.WriteFile(cfg, b, 0o600)
	code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once")
	if code != exitRuntime || !strings.Contains(errOut, "tenant(s) named in sophos.tenants were not found (failed partitions): No Such Tenant") {
		t.Fatalf("exit %d, want %d naming the tenant:\n%s", code, exitRuntime, errOut)
	}
}

// TestOnceWrongHECTokenFailsFast: a splunk_hec sink whose token HEC refuses
// fails a -once run within seconds (not at -timeout), exit 1, naming the
// sink, the answer and the fix; nothing is committed. With a disk buffer the
// same.
func TestOnceWrongHECTokenFailsFast(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk_buffer=%v", buffered), func(t *testing.T) {
			hec := splunkhectest.New(splunkhectest.Options{Tokens: map[string]splunkhectest.Token{"right": {}}})
			defer hec.Close()
			emu := newEmu(t, emulator.Options{Seed: 7, Events: 100, Alerts: 10})
			dir := t.TempDir()
			buf := ""
			if buffered {
				buf = "    buffer: {type: disk}\n"
			}
			cfg := writeConfig(t, dir, emu, fmt.Sprintf("txt_file_creation: false\njson_file_creation: false\nsinks:\n  - name: splunk\n    type: splunk_hec\n    url: %s\n    token: wrong-token-value\n%s", hec.URL, buf))
			start := time.Now()
			code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once", "-timeout", "10m")
			took := time.Since(start)
			if code != exitRuntime || took > 30*time.Second {
				t.Fatalf("exit %d after %s, want %d within 30 s:\n%s", code, took, exitRuntime, errOut)
			}
			for _, want := range []string{"sink splunk (splunk_hec)", "token was refused", "check the token", "no checkpoint moved"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q:\n%s", want, errOut)
				}
			}
			if strings.Contains(errOut, "wrong-token-value") {
				t.Fatalf("the token is in the output:\n%s", errOut)
			}
			cps, err := pipeline.OpenCheckpoints(dir + "/state")
			if err != nil {
				t.Fatal(err)
			}
			if n := len(cps.All()); n != 0 {
				t.Fatalf("%d checkpoints committed", n)
			}
			if len(hec.Events()) != 0 {
				t.Fatal("records reached HEC")
			}
		})
	}
}

// TestRefusedSophosCredentialExits2: a client secret the token endpoint
// refuses is a configuration error (exit 2), so systemd's
// RestartPreventExitStatus=2 stops the restart loop.
func TestRefusedSophosCredentialExits2(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 8, Events: 10, Alerts: 1})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), "client_secret: "+testClientSecret, "client_secret: not-the-secret", 1)), 0o600)
	code, _, errOut := runApp(t, ctxT(t), "-c", cfg, "-once")
	if code != exitUsage || !strings.Contains(errOut, "check sophos.client") {
		t.Fatalf("exit %d, want %d:\n%s", code, exitUsage, errOut)
	}
}

// TestValidateJSONOnInvalidConfig: validate -json prints {"ok": false,
// "errors": [{file, line, key, message}]} for an invalid config (it printed
// nothing), exit 2; a valid one says ok and where each secret comes from.
func TestValidateJSONOnInvalidConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/c.yaml"
	os.WriteFile(cfg, []byte("sophos: {client_id: a, client_secret: b}\nmetrics_addr: 9464\npull_time: 0\n"), 0o600)
	code, out, _ := runApp(t, ctxT(t), "validate", "-c", cfg, "-json")
	var doc struct {
		OK     bool `json:"ok"`
		Errors []struct {
			File, Key, Message string
			Line               int
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitUsage || doc.OK || len(doc.Errors) != 2 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if e := doc.Errors[0]; e.File != cfg || e.Line != 2 || e.Key != "metrics_addr" || !strings.Contains(e.Message, "missing port") {
		t.Fatalf("first error: %+v", e)
	}
	os.WriteFile(dir+"/secret", []byte("s3cret\n"), 0o600)
	os.WriteFile(cfg, []byte("sophos: {client_id: a, client_secret_file: secret}\nstate_dir: st\n"), 0o600)
	code, out, errOut := runApp(t, ctxT(t), "validate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "sophos.client_secret") || !strings.Contains(out, "from file "+dir+"/secret") || strings.Contains(out, "s3cret") {
		t.Fatalf("exit %d:\n%s\n%s", code, out, errOut)
	}
}

// TestEnvFileOnEveryCommand: -env-file (systemd EnvironmentFile= syntax)
// gives validate, status and state the credentials that only the unit's
// env file holds; without it the same command fails naming the variable.
func TestEnvFileOnEveryCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/c.yaml"
	os.WriteFile(cfg, []byte("sophos:\n  client_id: ${I27_ID}\n  client_secret: ${I27_SECRET}\nstate_dir: st\n"), 0o600)
	env := dir + "/env"
	os.WriteFile(env, []byte("# credentials\nI27_ID=abc\n; another comment\nI27_SECRET=\"quoted \\\"secret\\\"\"\n\n"), 0o600)
	if code, _, errOut := runApp(t, ctxT(t), "validate", "-c", cfg); code != exitUsage || !strings.Contains(errOut, "${I27_ID} is not set") {
		t.Fatalf("without -env-file: exit %d: %s", code, errOut)
	}
	for _, args := range [][]string{{"validate"}, {"state", "show"}, {"status"}} {
		code, out, errOut := runApp(t, ctxT(t), append(args, "-env-file", env, "-c", cfg)...)
		if code != 0 || strings.Contains(out+errOut, "is not set") || strings.Contains(out+errOut, "quoted") {
			t.Fatalf("%v -env-file: exit %d:\n%s\n%s", args, code, out, errOut)
		}
	}
	if code, _, errOut := runApp(t, ctxT(t), "validate", "-env-file", dir+"/nope", "-c", cfg); code != exitUsage || !strings.Contains(errOut, "-env-file") {
		t.Fatalf("missing env file: exit %d: %s", code, errOut)
	}
}

// TestReloadKeepsBoardAndCounters: a SIGHUP reload is not a restart — the
// status page's uptime, totals and chart and the Prometheus counters go on
// from where they were (they were reset).
func TestReloadKeepsBoardAndCounters(t *testing.T) {
	emu := newEmu(t, emulator.Options{Seed: 12, Events: 200, Alerts: 20})
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("log_level: INFO\nmetrics_addr: %s\n", addr))
	good, _ := os.ReadFile(cfg)
	hup := make(chan os.Signal, 1)
	log, _, stop := startApp(t, hup, "-c", cfg)
	want := int64(len(streamKeys(emu)))
	var before status.Status
	eventually(t, "the first pass on the board", log, func() bool {
		st, err := status.Fetch(context.Background(), addr)
		before = st
		return err == nil && st.Totals.RecordsPulled == want
	})
	os.WriteFile(cfg, append(append([]byte{}, good...), "pull_time: 2\n"...), 0o600)
	hup <- nil
	eventually(t, "the reload", log, func() bool { return strings.Count(log.String(), "Configurations:") == 2 })
	var after status.Status
	eventually(t, "the page after the reload", log, func() bool {
		st, err := status.Fetch(context.Background(), addr)
		after = st
		return err == nil && st.Now.After(before.Now)
	})
	if !after.StartedAt.Equal(before.StartedAt) || after.Totals.RecordsPulled != want || after.Totals.Delivered < before.Totals.Delivered {
		t.Fatalf("reset by the reload: before %+v\nafter %+v", before.Totals, after.Totals)
	}
	var sum int64
	for _, n := range after.Throughput {
		sum += n
	}
	if sum != want {
		t.Fatalf("chart after the reload sums to %d, want %d", sum, want)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, _ := parser.TextToMetricFamilies(resp.Body)
	if got := sumMetric(fams, "sophos_connect_records_pulled_total", nil); got != float64(want) {
		t.Fatalf("records_pulled_total after the reload = %v, want %v", got, want)
	}
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
}
