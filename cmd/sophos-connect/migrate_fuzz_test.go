package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/seed"
)

// FuzzMigrateSeed: whatever UTF-8 sophos.conf holds, migrate never fails on
// its content (other bytes are refused with the line) and its YAML passes
// validate (loadChecked: the file, its stages
// and sinks), with the credentials from the environment when blank.
// go test -run XXX -fuzz FuzzMigrateSeed -fuzztime 60s ./cmd/sophos-connect/
func FuzzMigrateSeed(f *testing.F) {
	for _, s := range []string{
		"client_id = a\nclient_secret = b\n",
		"client_id = \"a\" # x\r\nclient_secret = 'b#c'\r\npull_time = 2.5\r\nrun = FALSE\r\n",
		"save_file_location = rel/dir_\nlog_file_name = /abs/log\njson_file_creation = True\nlog_level = log+\n",
		"alerts_auto_acknowledge_level = HIGH\nalerts_auto_acknowledge_status = True\nevents_auto_acknowledge_level = x\n",
		"[section]\n; comment\nnot a line\n = empty key\nclient_id_extra = z\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, conf string) {
		if strings.ContainsRune(conf, 0) {
			return // a path with NUL is not a file name on any system
		}
		dir := t.TempDir()
		in := filepath.Join(dir, "sophos.conf")
		if err := os.WriteFile(in, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "sophos-connect.yaml")
		y, _, _, err := seed.Migrate(in, out)
		if err != nil && !utf8.ValidString(conf) && strings.Contains(err.Error(), "not UTF-8 text") {
			return // the one refusal: text migrate cannot read as the seed's
		}
		if err != nil {
			t.Fatalf("migrate failed on %q: %v", conf, err)
		}
		if err := os.WriteFile(out, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SOPHOS_CLIENT_ID", "fuzz-id")
		t.Setenv("SOPHOS_CLIENT_SECRET", "fuzz-secret")
		if _, err := loadChecked(&globals{config: out}); err != nil {
			t.Fatalf("the YAML migrated from %q does not validate: %v\n%s", conf, err, y)
		}
	})
}
