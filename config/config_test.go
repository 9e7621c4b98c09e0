package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const good = `
sophos:
  client_id: abc
  client_secret: ${TEST_SECRET:-s3cr3t-value}
pull_time: 30s
log_level: LOG+
transforms:
  - type: filter
    min_severity: low
sinks:
  - name: soc
    type: syslog
    streams: [alerts, events]
    address: tcp://127.0.0.1:514
    batch: {max_events: 100, timeout: 1s}
`

func TestParseGood(t *testing.T) {
	c, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sophos.ClientID != "abc" || c.Sophos.ClientSecret.Value() != "s3cr3t-value" {
		t.Fatalf("sophos = %+v", c.Sophos)
	}
	if c.PullTime.D() != 30*time.Second || c.LogLevel != "LOG+" {
		t.Fatalf("pull_time %v log_level %v", c.PullTime, c.LogLevel)
	}
	if c.AlertsTxtFileName != "sophos_alerts" || !c.TxtFileCreation || c.JSONFileCreation || !c.Run {
		t.Fatalf("seed defaults lost: %+v", c)
	}
	if len(c.Sinks) != 1 || c.Sinks[0].Name != "soc" || c.Sinks[0].Batch.MaxEvents != 100 || c.Sinks[0].Node == nil {
		t.Fatalf("sinks = %+v", c.Sinks)
	}
	if len(c.Transforms) != 1 || c.Transforms[0].Type != "filter" {
		t.Fatalf("transforms = %+v", c.Transforms)
	}
	if s := strings.Join([]string{c.Sophos.ClientSecret.String()}, ""); strings.Contains(s, "s3cr3t") {
		t.Fatal("secret printed")
	}
}

func TestSeedPullTimeSeconds(t *testing.T) {
	c, err := Parse("x.yaml", []byte("sophos: {client_id: a, client_secret: b}\npull_time: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.PullTime.D() != 10*time.Second {
		t.Fatal(c.PullTime)
	}
}

func TestEnvOverride(t *testing.T) {
	t.Setenv("SOPHOS_CLIENT_ID", "from-env")
	t.Setenv("SOPHOS_CLIENT_SECRET", "env-secret")
	c, err := Parse("x.yaml", []byte("sophos: {client_id: file}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sophos.ClientID != "from-env" || c.Sophos.ClientSecret.Value() != "env-secret" {
		t.Fatal(c.Sophos)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "sophos: {client_id: a, client_secret: b}\npul_time: 10\n", []string{"x.yaml:2: pul_time: unknown key", `did you mean "pull_time"`}},
		{"unknown nested key", "sophos:\n  client_id: a\n  client_secret: b\n  tenant: [x]\n", []string{"x.yaml:4: sophos.tenant: unknown key", `"tenants"`}},
		{"wrong type", "sophos: {client_id: a, client_secret: b}\nworkers: many\n", []string{"x.yaml:2: workers:", "use auto"}},
		{"workers zero", "sophos: {client_id: a, client_secret: b}\nworkers: 0\n", []string{"x.yaml:2: workers:", "1 or more"}},
		{"max_workers", "sophos: {client_id: a, client_secret: b}\nmax_workers: 0\n", []string{"max_workers", "between 1 and 256"}},
		{"bad duration", "sophos: {client_id: a, client_secret: b}\npull_time: soon\n", []string{"x.yaml:2: pull_time: invalid duration \"soon\""}},
		{"missing secret", "sophos:\n  client_id: a\n", []string{"sophos.client_secret: missing", "SOPHOS_CLIENT_SECRET"}},
		{"unset var", "sophos:\n  client_id: a\n  client_secret: ${NOPE_NOT_SET_VAR}\n", []string{"x.yaml:3: sophos.client_secret: ${NOPE_NOT_SET_VAR} is not set"}},
		{"unset var in a path", "sophos: {client_id: a, client_secret: b}\nstate_dir: ${NOPE_DATA_DIR}/sophos\n", []string{"x.yaml:2: state_dir: ${NOPE_DATA_DIR} is not set: export NOPE_DATA_DIR, or give a default with ${NOPE_DATA_DIR:-value}"}},
		{"var in a key", "sophos: {client_id: a, client_secret: b}\n${NOPE_KEY}: 1\n", []string{"x.yaml:2: ${NOPE_KEY}: ${…} is not allowed in a key"}},
		{"bad log level", "sophos: {client_id: a, client_secret: b}\nlog_level: LOUD\n", []string{"x.yaml:2: log_level:", "OFF, ERROR, INFO, LOG, LOG+, VERBOSE"}},
		{"bad bool", "sophos: {client_id: a, client_secret: b}\nrun: maybe\n", []string{`x.yaml:2: run: expected true or false, got the string "maybe"`}},
		{"sink without name", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - type: stdout\n", []string{"x.yaml:3: sinks[0].name: missing"}},
		{"bad batch key", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    batch: {max_event: 3}\n", []string{"x.yaml:5: sinks[0].batch.max_event: unknown key"}},
		{"bad batch value", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    batch:\n      max_events: abc\n", []string{`x.yaml:6: sinks[0].batch.max_events: expected a whole number, got the string "abc"`}},
		{"list for a number", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    batch: {max_events: [1]}\n", []string{`x.yaml:5: sinks[0].batch.max_events: expected a whole number, got a list`}},
		{"string for a list", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    streams: alerts\n", []string{`x.yaml:5: sinks[0].streams: expected a list, got the string "alerts"`}},
		{"key one level too high", "sophos: {client_secret: b}\nclient_id: a\n", []string{"x.yaml:2: client_id: unknown key (it belongs under sophos: write sophos.client_id)"}},
		{"bad size", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    buffer: {type: disk, max_bytes: lots}\n", []string{"x.yaml:5:", "invalid size \"lots\""}},
		{"syntax", "sophos: {client_id: a\n", []string{"x.yaml:", "YAML syntax"}},
		{"bad stream", "sophos: {client_id: a, client_secret: b}\nsinks:\n  - name: a\n    type: stdout\n    streams: [logs]\n", []string{"x.yaml:3: sinks[0].streams: unknown stream \"logs\""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOPHOS_CLIENT_ID", "")
			t.Setenv("SOPHOS_CLIENT_SECRET", "")
			_, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("sophos: {client_id: a, client_secret: b}\nsinks: [{name: a, type: stdout, batch: {max_events: 3}}]\n"))
	f.Add([]byte("a: [1, {b: *x}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret("hunter2")
	b, _ := json.Marshal(struct{ S Secret }{s})
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), string(b), buf.String()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if s.Value() != "hunter2" {
		t.Fatal("Value")
	}
}

// TestUpperBounds: every number has an upper bound, so a typo is an error
// at validate time, not an out-of-memory crash at run time.
func TestUpperBounds(t *testing.T) {
	base := "sophos: {client_id: a, client_secret: b}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"max_inflight_pages: 100000000000\n", "max_inflight_pages: must be 0 (automatic) to 4096"},
		{"workers: 100000\n", "workers: must be auto or between 1 and 256"},
		{"pull_time: 48h\n", "pull_time: must be between 1 second and 24h"},
		{"pull_time: 1e30\n", "invalid duration"},
		{"dead_letter: {max_bytes: 1e30GiB}\n", "invalid size"},
		{"dead_letter: {max_bytes: 2TiB}\n", "dead_letter.max_bytes: must be 0 (never rotate) or 1MiB to 1TiB"},
		{"sinks:\n  - {name: s, type: stdout, batch: {max_events: 1000000}}\n", "batch.max_events: must be between 1 and 100000"},
		{"sinks:\n  - {name: s, type: stdout, batch: {timeout: 5h}}\n", "batch.timeout: must be at most 1h"},
		{"sinks:\n  - {name: s, type: stdout, retry: {max: 100h}}\n", "retry: initial must be at most 1h and max at most 24h"},
		{"sinks:\n  - {name: s, type: stdout, retry: {max_attempts: 100000000}}\n", "retry.max_attempts: must be 0 (retry until delivered) to 1000000"},
		{"sinks:\n  - {name: s, type: stdout, buffer: {type: disk, max_bytes: 10TiB}}\n", "buffer.max_bytes: must be at most 4TiB"},
		{"sophos: {client_id: a, client_secret: b, timeout: 1h}\n", "sophos.timeout: must be at most 10m"},
	} {
		y := base + tc.yaml
		if strings.HasPrefix(tc.yaml, "sophos:") {
			y = tc.yaml
		}
		_, err := Parse("x.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestWorkers(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want Workers
		max  int
	}{
		{"", WorkersAuto, DefaultMaxWorkers},
		{"workers: auto\nmax_workers: 32\n", WorkersAuto, 32},
		{"workers: AUTO\n", WorkersAuto, DefaultMaxWorkers},
		{"workers: 8\n", 8, DefaultMaxWorkers},
	} {
		c, err := Parse("x.yaml", []byte("sophos: {client_id: a, client_secret: b}\n"+tc.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if c.Workers != tc.want || c.MaxWorkers != tc.max {
			t.Fatalf("%q: workers %v, max_workers %d", tc.yaml, c.Workers, c.MaxWorkers)
		}
	}
	if WorkersAuto.String() != "auto" || Workers(3).String() != "3" {
		t.Fatal(WorkersAuto.String(), Workers(3).String())
	}
}
