package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// promqlWords are the PromQL functions and keywords the shipped dashboards
// and rules may use; any other identifier in an expression must be a metric
// the collector exports.
var promqlWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "topk": true, "bottomk": true,
	"rate": true, "irate": true, "increase": true, "deriv": true, "histogram_quantile": true,
	"absent": true, "absent_over_time": true, "max_over_time": true, "label_values": true,
	"by": true, "without": true, "and": true, "or": true, "unless": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "bool": true, "offset": true,
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring)\s*\([^)]*\)`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promNumber    = regexp.MustCompile(`\b\d+(\.\d+)?(e[+-]?\d+)?\b`)
	histogramPart = regexp.MustCompile(`_(bucket|sum|count)$`)
)

// exprMetrics returns the metrics an expression reads, and any identifier
// that is neither a PromQL word nor a collector metric.
func exprMetrics(expr string, exported map[string]bool) (metrics, unknown []string) {
	e := promStrings.ReplaceAllString(expr, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promNumber.ReplaceAllString(e, " ")
	for _, id := range promIdent.FindAllString(e, -1) {
		switch {
		case promqlWords[id]:
		case exported[id] || exported[histogramPart.ReplaceAllString(id, "")]:
			metrics = append(metrics, id)
		default:
			unknown = append(unknown, id)
		}
	}
	return metrics, unknown
}

func exportedMetrics() map[string]bool {
	out := map[string]bool{}
	for _, n := range pipeline.NewMetrics().MetricNames() {
		out[n] = true
	}
	return out
}

func checkExpr(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	metrics, unknown := exprMetrics(expr, exported)
	if len(unknown) > 0 {
		t.Errorf("%s: %q reads %v, which the collector does not export", where, expr, unknown)
	}
	if len(metrics) == 0 {
		t.Errorf("%s: %q reads no collector metric", where, expr)
	}
}

func promtool(t *testing.T) string {
	if p := os.Getenv("PROMTOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("promtool not found (CI is set, so this is a failure: .ci/status.sh unpacks Debian's prometheus package and sets PROMTOOL)")
	}
	t.Log("promtool not found: the rules are checked by name only (set PROMTOOL or install Debian's prometheus package)")
	return ""
}

func runPromtool(t *testing.T, bin, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
}

// TestPrometheusAlerts checks examples/prometheus-alerts.yaml: every
// expression reads only metrics the collector exports, promtool accepts the
// file, and promtool's rule tests (synthetic series → expected alerts) pass.
func TestPrometheusAlerts(t *testing.T) {
	exported := exportedMetrics()
	b, err := os.ReadFile("../../examples/prometheus-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			checkExpr(t, r.Alert, r.Expr, exported)
			n++
		}
	}
	if n < 5 {
		t.Fatalf("%d rules", n)
	}
	if bin := promtool(t); bin != "" {
		runPromtool(t, bin, ".", "check", "rules", "../../examples/prometheus-alerts.yaml")
		runPromtool(t, bin, "testdata", "test", "rules", "prometheus-alerts.test.yaml")
	}
}

// TestGrafanaDashboard checks examples/grafana-dashboard.json: every panel
// queries, every query reads only metrics the collector exports, and (with
// promtool) every query is valid PromQL once Grafana's variables are filled.
func TestGrafanaDashboard(t *testing.T) {
	exported := exportedMetrics()
	b, err := os.ReadFile("../../examples/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title, UID string
		Panels     []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Name, Query string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.UID == "" || len(dash.Panels) < 6 {
		t.Fatalf("dashboard %q: %d panels", dash.UID, len(dash.Panels))
	}
	vars := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*", "$tenant", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for j, tg := range p.Targets {
			checkExpr(t, p.Title, tg.Expr, exported)
			q, _ := json.Marshal(vars.Replace(tg.Expr))
			fmt.Fprintf(&rules, "      - record: panel_%d_%d\n        expr: %s\n", i, j, q)
		}
	}
	for _, v := range dash.Templating.List {
		// label_values(metric{…}, label): the metric must exist.
		m := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`).FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Query)
			continue
		}
		checkExpr(t, "variable "+v.Name, m[1], exported)
	}
	if bin := promtool(t); bin != "" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte(rules.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		runPromtool(t, bin, dir, "check", "rules", "rules.yaml")
	}
}

// TestExprMetricsCatchesStrangers makes sure the name check can fail.
func TestExprMetricsCatchesStrangers(t *testing.T) {
	exported := exportedMetrics()
	if _, unknown := exprMetrics(`up{job="x"} == 0 and sophos_connect_inflight_pages > 1`, exported); len(unknown) != 1 || unknown[0] != "up" {
		t.Fatalf("unknown = %v", unknown)
	}
	if m, unknown := exprMetrics(`histogram_quantile(0.99, sum by (le, sink) (rate(sophos_connect_sink_write_seconds_bucket[5m])))`, exported); len(unknown) != 0 || len(m) != 1 {
		t.Fatalf("histogram: %v %v", m, unknown)
	}
}
