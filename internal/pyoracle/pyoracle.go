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
// With the argument "array" it writes one line instead: the text
// json.dump(list_of_documents, f) writes, as the seed wrote its JSON file.
const script = `
import json, sys
docs = [json.loads(json.loads(line)) for line in sys.stdin]
if sys.argv[1:] == ["array"]:
    sys.stdout.write(json.dumps(json.dumps(docs)) + "\n")
else:
    for doc in docs:
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
	res := run(t, docs)
	if len(res) != len(docs) {
		t.Fatalf("python3 answered %d documents for %d", len(res), len(docs))
	}
	return res
}

// DumpArray returns what the seed's json.dump(items, f) wrote for the
// items (JSON texts): one array, Python's default separators and escapes.
func DumpArray(t testing.TB, items []string) string {
	t.Helper()
	return run(t, items, "array")[0]
}

func run(t testing.TB, docs []string, args ...string) []string {
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
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.String())
	}
	var res []string
	if len(out) == 0 {
		return nil
	}
	for _, l := range bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n")) {
		var s string
		if err := json.Unmarshal(l, &s); err != nil {
			t.Fatalf("python3 output %q: %v", l, err)
		}
		res = append(res, s)
	}
	return res
}
