package transforms

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/internal/cputime"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/internal/samples"
)

// stagesYAML parses a transforms: list and returns each entry's node.
func stagesYAML(t testing.TB, src string) []*yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0].Content
}

func typeOf(n *yaml.Node) string {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			return n.Content[i+1].Value
		}
	}
	return ""
}

// buildAll builds a chain like the pipeline does.
func buildAll(t testing.TB, src, stateDir string) []pipeline.Stage {
	t.Helper()
	var out []pipeline.Stage
	for i, n := range stagesYAML(t, src) {
		s, err := Build(typeOf(n), n, fmt.Sprintf("transforms[%d]", i), Env{StateDir: stateDir, Log: slog.New(slog.DiscardHandler), Name: fmt.Sprintf("transforms[%d]", i)})
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		out = append(out, s)
	}
	return out
}

// run passes recs through the chain in order.
func run(t testing.TB, stages []pipeline.Stage, recs []*pipeline.Record) []*pipeline.Record {
	t.Helper()
	cur := recs
	for _, s := range stages {
		var next []*pipeline.Record
		for _, r := range cur {
			var err error
			if next, err = s.Process(r, next); err != nil {
				t.Fatalf("%s: %v", Describe(s), err)
			}
		}
		cur = next
	}
	return cur
}

func delivered(stages []pipeline.Stage, recs []*pipeline.Record) {
	for _, s := range stages {
		if o, ok := s.(pipeline.DeliveryObserver); ok {
			o.Delivered(recs)
		}
	}
}

func closeAll(t testing.TB, stages []pipeline.Stage) {
	for _, s := range stages {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fresh returns the sample pages as new records (a replay re-fetches them).
func fresh() []*pipeline.Record { return samples.All() }

const chain = `
- type: filter
  light: true
  drop_when: 'tenant in ("lab")'
- type: fields
  rename: {location: host.name}
  add: {collector: site-a, tenant_id: "${tenant}"}
  drop: [customer_id]
- type: dedupe
  ttl: 25h
`

// TestReplayAfterRestart: a replay of the same pages (a checkpoint reset)
// after a restart forwards zero repeats through filter → fields → dedupe,
// while records that passed but were never delivered before the crash are
// forwarded again.
func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	stages := buildAll(t, chain, dir)
	first := run(t, stages, fresh())
	if len(first) != 9 { // 12 samples minus 3 light-list events
		t.Fatalf("first pass forwarded %d, want 9", len(first))
	}
	delivered(stages, first)
	closeAll(t, stages)

	restarted := buildAll(t, chain, dir)
	if again := run(t, restarted, fresh()); len(again) != 0 {
		t.Fatalf("replay after restart forwarded %d repeats: %v", len(again), again[0].ID)
	}
	closeAll(t, restarted)

	// Crash before delivery: nothing may be dropped on the replay.
	dir2 := t.TempDir()
	crashed := buildAll(t, chain, dir2)
	if n := len(run(t, crashed, fresh())); n != 9 {
		t.Fatal(n)
	}
	// no Delivered, no Close: the process dies with the records in flight
	replay := buildAll(t, chain, dir2)
	if n := len(run(t, replay, fresh())); n != 9 {
		t.Fatalf("after a crash before delivery the replay forwarded %d of 9", n)
	}
	closeAll(t, replay)
}

func TestTable(t *testing.T) {
	if got := strings.Join(Types(), ","); got != "filter,fields,dedupe" {
		t.Errorf("Types() = %s", got)
	}
	for _, f := range Table {
		if f.Doc == "" || f.New == nil {
			t.Errorf("%s: incomplete factory", f.Type)
		}
		// Each example builds.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(f.Example), &n); err != nil {
			t.Fatalf("%s example: %v", f.Type, err)
		}
		s, err := Build(f.Type, n.Content[0], "transforms[0]", Env{StateDir: t.TempDir(), Name: f.Type})
		if err != nil {
			t.Errorf("%s example: %v", f.Type, err)
			continue
		}
		// And the defaults (a bare `- type: x`).
		d, err := Build(f.Type, nil, "transforms[1]", Env{StateDir: t.TempDir()})
		if err != nil {
			t.Errorf("%s defaults: %v", f.Type, err)
		}
		for _, st := range []pipeline.Stage{s, d} {
			if c, ok := st.(io.Closer); ok {
				c.Close()
			}
		}
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"- type: filtre", `1: transforms[0].type: unknown transform type "filtre": use filter, fields, dedupe`},
		{"- type: filter\n  min_sevrity: high", `2: transforms[0].min_sevrity: unknown key (did you mean "min_severity"?)`},
		{"- type: filter\n  name: x\n  streams: [alerts]\n  min_severity: urgent", `4: transforms[0].min_severity: "urgent" is not a severity`},
		{"- type: filter\n  types:\n    - a\n    - ''", `4: transforms[0].types[1]: empty type`},
		{"- type: filter\n  field:\n    path: raw.x", `2: transforms[0].field: give exactly one of equals`},
		{"- type: filter\n  field:\n    equals: x", `2: transforms[0].field.path: required`},
		{"- type: filter\n  when: severity >= hgih", `2: transforms[0].when: column 13: unknown severity "hgih"`},
		{"- type: fields\n  drop: [id]", `2: transforms[0].drop[0]: id cannot be removed`},
		{"- type: fields\n  add:\n    host.site: ${env:SC_TEST_UNSET_VAR}", `3: transforms[0].add.host.site: environment variable SC_TEST_UNSET_VAR is not set`},
		{"- type: fields\n  set: {a: '${bogus}'}", `2: transforms[0].set.a: unknown placeholder ${bogus}`},
		{"- type: dedupe\n  ttl: soon", `2: transforms[0].ttl: invalid duration "soon"`},
		{"- type: dedupe\n  max_entries: 0", `2: transforms[0].max_entries: 0 is out of range`},
		{"- type: dedupe\n  ttl: 0s", `2: transforms[0].ttl: 0s is too short`},
	}
	for _, c := range cases {
		n := stagesYAML(t, c.src)[0]
		_, err := Build(typeOf(n), n, "transforms[0]", Env{StateDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	dir := t.TempDir()
	stages := buildAll(t, chain, dir)
	defer closeAll(t, stages)
	var got []string
	for _, s := range stages {
		got = append(got, Describe(s))
	}
	want := []string{
		`filter(light, drop_when: tenant in ("lab"))`,
		`fields(rename: location→host.name; add: collector, tenant_id; drop: [customer_id])`,
		`dedupe(ttl=25h0m0s, max_entries=2000000, state=` + dir + `/dedupe-transforms_2_.db)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Describe:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDryRun(t *testing.T) {
	dir := t.TempDir() + "/absent"
	n := stagesYAML(t, chain)[2]
	s, err := Build("dedupe", n, "transforms[2]", Env{StateDir: dir, Name: "transforms[2]", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := Describe(s); !strings.Contains(got, "state="+dir+"/dedupe-transforms_2_.db") {
		t.Errorf("Describe = %q", got)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Error("a dry run created state_dir")
	}
}

// BenchmarkStages measures records/s through filter → fields → dedupe on
// the sample items with unique ids (10% repeats), pages of 1000 delivered
// and persisted as the pipeline would. Building the records (the source's
// job) is outside the timer.
func BenchmarkStages(b *testing.B) {
	stages := buildAll(b, chain, b.TempDir())
	defer closeAll(b, stages)
	items := make([][]byte, 0, 12)
	streams := make([]pipeline.Stream, 0, 12)
	for _, st := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		for _, raw := range samples.Items(st) {
			items, streams = append(items, raw), append(streams, st)
		}
	}
	const page = 1000
	recs := make([]*pipeline.Record, page)
	var cpu time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; done += page {
		b.StopTimer()
		for j := range page {
			n := done + j
			if n%10 == 9 {
				n -= 5 // a repeat of a recent record
			}
			k := n % len(items)
			raw := withID(items[k], fmt.Sprintf("%08x-83a5-4f0d-b6e1-%012x", n, k))
			r, err := pipeline.NewRecord(streams[k], samples.Tenant, raw)
			if err != nil {
				b.Fatal(err)
			}
			recs[j] = &r
		}
		c0 := cpuTime()
		b.StartTimer()
		out := run(b, stages, recs)
		delivered(stages, out)
		b.StopTimer()
		cpu += cpuTime() - c0
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
}

// withID returns a copy of raw with its "id" value replaced.
func withID(raw []byte, id string) []byte {
	i := bytes.Index(raw, []byte(`"id":"`))
	j := i + 6 + bytes.IndexByte(raw[i+6:], '"')
	out := make([]byte, 0, len(raw)+len(id))
	out = append(out, raw[:i+6]...)
	out = append(out, id...)
	return append(out, raw[j:]...)
}

// cpuTime is the process's user+system CPU time (kept per package so the
// benchmarks read as before).
var cpuTime = cputime.Self
