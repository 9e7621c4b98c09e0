package collector

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestSinkOwnMetricsRegistered: a sink's own metrics (here the http sink's
// request concurrency limit) reach the metrics registry although the sink
// is wrapped for start-up retries; the wrapper alone is no collector.
func TestSinkOwnMetricsRegistered(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sophos-connect.yaml")
	y := "sophos:\n  client_id: id\n  client_secret: secret\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\nsave_file_location: " + dir + "\n" +
		"txt_file_creation: false\njson_file_creation: false\n" +
		"sinks:\n  - name: siem\n    type: http\n    url: http://127.0.0.1:1/ingest\n    request: {concurrency: 6}\n"
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	as, err := Assemble(c, []pipeline.Stream{pipeline.Events}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer as.Close()
	m := pipeline.NewMetrics()
	if err := as.addBuffers(filepath.Join(dir, "state"), nil, m, nil); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "sophos_connect_sink_request_concurrency_limit" {
			if g := mf.GetMetric()[0].GetGauge().GetValue(); g != 6 {
				t.Fatalf("limit %v, want 6", g)
			}
			return
		}
	}
	t.Fatal("the http sink's sophos_connect_sink_request_concurrency_limit is not registered")
}
