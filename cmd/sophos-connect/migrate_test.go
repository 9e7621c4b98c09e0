package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

// TestMigrateRealSeedConfigs runs migrate over sophos.conf files as seed
// users wrote them. Each result must pass validate, name state_dir, carry
// the values over exactly and warn about what it could not carry.
func TestMigrateRealSeedConfigs(t *testing.T) {
	cases := []struct {
		name, conf string
		want       map[string]string // top-level or sophos.* key → value in the YAML
		absent     []string          // keys that must not be written
		warnings   []string          // substrings of stderr
		noWarn     bool
		env        bool // credentials blank: take them from the environment
	}{
		{
			name: "the seed's shipped file, blanks are defaults",
			conf: "# Sophos API Connect\n# fill in your API credentials\nclient_id = \nclient_secret = \n\npull_time = 10\nrun = True\nsave_file_location = \n" +
				"txt_file_creation = True\njson_file_creation = False\nalerts_txt_file_name = \nevents_txt_file_name = \nalerts_json_file_name = \n" +
				"events_json_file_name = \nlog_level = INFO\nlog_file_name = \nalerts_auto_acknowledge_status = False\nalerts_auto_acknowledge_level = medium\n",
			want:   map[string]string{"sophos.client_id": "${SOPHOS_CLIENT_ID}", "sophos.client_secret": "${SOPHOS_CLIENT_SECRET}", "pull_time": "10", "run": "true", "json_file_creation": "false"},
			absent: []string{"alerts_txt_file_name", "events_json_file_name"},
			noWarn: true, env: true,
		},
		{
			name:   "double and single quotes, CRLF, BOM",
			conf:   "\xef\xbb\xbfclient_id = \"0a1b2c3d-aaaa-bbbb-cccc-0123456789ab\"\r\nclient_secret = 'p@ss=w0rd \"x\"'\r\npull_time = \"30\"\r\nlog_level = 'VERBOSE'\r\njson_file_creation = \"True\"\r\n",
			want:   map[string]string{"sophos.client_id": "0a1b2c3d-aaaa-bbbb-cccc-0123456789ab", "sophos.client_secret": `p@ss=w0rd "x"`, "pull_time": "30", "log_level": "VERBOSE", "json_file_creation": "true"},
			noWarn: true,
		},
		{
			name:   "booleans in any case, no spaces around =",
			conf:   "client_id=abc\nclient_secret=def\nrun=true\ntxt_file_creation=FALSE\njson_file_creation=TRUE\nalerts_auto_acknowledge_status=true\nalerts_auto_acknowledge_level=High\n",
			want:   map[string]string{"run": "true", "txt_file_creation": "false", "json_file_creation": "true", "alerts_auto_acknowledge_status": "true", "alerts_auto_acknowledge_level": "High"},
			noWarn: true,
		},
		{
			name: "unknown and unsupported keys, a line without =",
			conf: "client_id = abc\nclient_secret = def\nevents_auto_acknowledge_status = True\nevents_auto_acknowledge_level = low\nproxy = http://proxy:3128\njust some text\n",
			warnings: []string{":3: events_auto_acknowledge_status is not carried over", ":4: events_auto_acknowledge_level is not carried over",
				`:5: unknown key "proxy"`, ":6: not a `key = value` line"},
			absent: []string{"events_auto_acknowledge_status", "proxy"},
		},
		{
			name:     "an inline # after the secret is kept whole and warned about",
			conf:     "client_id = abc\nclient_secret = s3cr3t#part # my secret\npull_time = 60 # seconds\n",
			want:     map[string]string{"sophos.client_secret": "s3cr3t#part # my secret", "pull_time": "60"},
			warnings: []string{":2: client_secret has a '#' in its value: it is kept whole", `:3: pull_time: the text from '#' ("# seconds") is taken as a comment`},
		},
		{
			name:     "a comment after a quoted secret",
			conf:     "client_id = \"abc\"   # the id\nclient_secret = 'd#ef' # rotated 2025\n",
			want:     map[string]string{"sophos.client_id": "abc", "sophos.client_secret": "d#ef"},
			warnings: []string{`:1: client_id: the text after the closing quote ("# the id")`, `:2: client_secret: the text after the closing quote ("# rotated 2025")`},
		},
		{
			name:     "a save_file_location prefix without a trailing slash",
			conf:     "client_id = abc\nclient_secret = def\nsave_file_location = /var/log/sophos/site1_\njson_file_creation = True\n",
			want:     map[string]string{"save_file_location": "/var/log/sophos", "events_txt_file_name": "site1_sophos_events", "alerts_json_file_name": "site1_sophos_alerts.json"},
			warnings: []string{"has no trailing '/'"},
		},
		{
			name:     "values the new config would refuse are left out with a warning",
			conf:     "client_id = abc\nclient_secret = def\nlog_level = DEBUG\npull_time = soon\nrun = yes\nalerts_auto_acknowledge_level = critical\n",
			absent:   []string{"log_level", "pull_time", "run", "alerts_auto_acknowledge_level"},
			warnings: []string{`log_level = "DEBUG"`, `pull_time = "soon"`, `run = "yes"`, `alerts_auto_acknowledge_level = "critical"`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			conf := filepath.Join(dir, "sophos.conf")
			if err := os.WriteFile(conf, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "sophos-connect.yaml")
			code, _, errOut := runApp(t, ctxT(t), "migrate", conf, "-o", out)
			if code != 0 {
				t.Fatalf("migrate: exit %d: %s", code, errOut)
			}
			if tc.noWarn && strings.Contains(errOut, "warning") {
				t.Errorf("unexpected warnings:\n%s", errOut)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(errOut, "warning: "+conf) || !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			get := func(k string) (string, bool) {
				m := doc
				if s, ok := strings.CutPrefix(k, "sophos."); ok {
					m, _ = doc["sophos"].(map[string]any)
					k = s
				}
				v, ok := m[k]
				if !ok {
					return "", false
				}
				return strings.TrimSpace(toString(v)), true
			}
			for k, want := range tc.want {
				if got, ok := get(k); !ok || got != want {
					t.Errorf("%s = %q (present %v), want %q\n%s", k, got, ok, want, b)
				}
			}
			for _, k := range tc.absent {
				if _, ok := get(k); ok {
					t.Errorf("%s written, want it left out\n%s", k, b)
				}
			}
			// The log continues where the seed wrote it: beside sophos.conf.
			if sl, _ := get("save_file_location"); sl != dir {
				if lf, _ := get("log_file_name"); lf != filepath.Join(dir, "Sophos_log.log") {
					t.Errorf("save_file_location %s: log_file_name %q, want the seed's %s", sl, lf, filepath.Join(dir, "Sophos_log.log"))
				}
			} else if _, ok := get("log_file_name"); ok {
				t.Errorf("log_file_name written although the log is already where the seed kept it\n%s", b)
			}
			if sd, ok := get("state_dir"); !ok || !filepath.IsAbs(sd) {
				t.Errorf("state_dir not written explicitly: %q\n%s", sd, b)
			}
			if tc.env {
				t.Setenv("SOPHOS_CLIENT_ID", "env-id")
				t.Setenv("SOPHOS_CLIENT_SECRET", "env-secret")
			}
			if _, err := config.Load(out); err != nil {
				t.Fatalf("the migrated file does not load: %v\n%s", err, b)
			}
			if code, vout, verr := runApp(t, ctxT(t), "validate", "-c", out); code != 0 {
				t.Fatalf("validate: exit %d\n%s%s\n%s", code, vout, verr, b)
			}
		})
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := yaml.Marshal(v)
	return string(b)
}
