package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestValidateListsEveryErrorSortedByLine: one file with errors of every
// kind (type, unknown key, value, stage, sink key, sink value); validate and
// run both list them all, each at the line of its key, sorted by line, and
// the two lists are the same.
func TestValidateListsEveryErrorSortedByLine(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	y := `sophos:
  client_id: x
  client_secret: y
pull_time: soon
bogus_key: 1
transforms:
  - type: filter
    min_severity: extreme
  - type: nope
sinks:
  - name: s1
    type: syslog
    address: ftp://x
    colour: red
  - name: s2
    type: txt
  - name: s3
    type: syslog
    address: tcp://127.0.0.1:514
    batch: {max_events: abc}
    tls:
      enabled: true
workers: many
log_level: LOUD
`
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	wantLines := map[int]string{4: "pull_time", 5: "bogus_key", 8: "transforms[0].min_severity", 9: "transforms[1].type",
		13: "sinks[0].address", 14: "sinks[0].colour", 15: "sinks[1]", 20: "sinks[2].batch.max_events", 22: "sinks[2].tls.enabled",
		23: "workers", 24: "log_level"}
	code, vOut, vErr := runApp(t, ctxT(t), "validate", "-c", cfg)
	if code != 2 || vOut != "" {
		t.Fatalf("validate: exit %d, stdout %q", code, vOut)
	}
	re := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(cfg) + `:(\d+): (\S+?):`)
	m := re.FindAllStringSubmatch(vErr, -1)
	if len(m) != len(wantLines) {
		t.Fatalf("validate lists %d errors, want %d:\n%s", len(m), len(wantLines), vErr)
	}
	// Nothing else: no error without the file and line (a nested list once
	// lost its file name), none made up by a bad value (a sink with a bad
	// batch value once also lost its type and name).
	for _, l := range strings.Split(strings.TrimSpace(vErr), "\n")[1:] {
		if !re.MatchString(l) {
			t.Errorf("an error without its file and line: %q", l)
		}
	}
	prev := 0
	for _, x := range m {
		n, _ := strconv.Atoi(x[1])
		if n <= prev {
			t.Errorf("line %d after line %d: not sorted by line", n, prev)
		}
		prev = n
		if want, ok := wantLines[n]; !ok || !strings.HasPrefix(x[2], want) {
			t.Errorf("line %d: key %q, want %q", n, x[2], wantLines[n])
		}
	}
	code, _, rErr := runApp(t, ctxT(t), "-c", cfg, "-once")
	if code != 2 || rErr != vErr {
		t.Fatalf("run: exit %d; its list differs from validate's:\nrun:\n%s\nvalidate:\n%s", code, rErr, vErr)
	}
}
