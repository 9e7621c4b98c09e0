// Package pyoracle runs the real python3 as the test oracle for the bytes
// the seed ("Sophos API Connect", a Python program) wrote: json.dumps with
// its defaults. Tests skip without python3, but fail when $CI is set.
package pyoracle

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
)

// script reads one JSON document per line (a JSON string holding the
// document's text, so any bytes survive the trip) and writes one line per
// document: json.dumps(json.loads(text)) with Python's defaults.
const script = `
import json, sys
for line in sys.stdin:
    doc = json.loads(json.loads(line))
    sys.stdout.write(json.dumps(json.dumps(doc)) + "\n")
`

// Python returns the python3 binary, skipping (or failing under CI) when
// there is none.
func Python(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 not found: it is the oracle for the seed's JSON bytes (CI is set, so this is a failure)")
		}
		t.Skip("python3 not found: install it to compare the seed's JSON bytes with Python's json.dumps")
	}
	return p
}

// Dumps returns Python's json.dumps(json.loads(doc)) of every document.
func Dumps(t testing.TB, docs []string) []string {
	t.Helper()
	py := Python(t)
	var in bytes.Buffer
	for _, d := range docs {
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(b)
		in.WriteByte('\n')
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var res []string
	for _, l := range bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n")) {
		var s string
		if err := json.Unmarshal(l, &s); err != nil {
			t.Fatalf("python3 output %q: %v", l, err)
		}
		res = append(res, s)
	}
	if len(res) != len(docs) {
		t.Fatalf("python3 answered %d documents for %d", len(res), len(docs))
	}
	return res
}
