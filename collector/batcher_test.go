package collector

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestSinkBatchDefaults: a sink that gathers its own batch (s3: objects of
// max_records, written after max_age) gets it when the config has no
// batch keys; batch keys, when set, win.
func TestSinkBatchDefaults(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sophos-connect.yaml")
	s3 := "    type: s3\n    bucket: soc-archive\n    endpoint: http://127.0.0.1:1\n    force_path_style: true\n" +
		"    access_key_id: AKIDEXAMPLE\n    secret_access_key: example-secret\n    max_records: 2000\n    max_age: 90s\n"
	y := "sophos:\n  client_id: id\n  client_secret: secret\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\nsave_file_location: " + dir + "\n" +
		"txt_file_creation: false\njson_file_creation: false\n" +
		"sinks:\n  - name: archive\n" + s3 +
		"  - name: tuned\n" + s3 + "    batch: {max_events: 10, timeout: 1s}\n"
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
	if got := as.Sinks[0].Batch; got.MaxEvents != 2000 || got.Timeout != 90*time.Second {
		t.Fatalf("s3 sink's batch %+v, want its max_records and max_age", got)
	}
	if got := as.Sinks[1].Batch; got.MaxEvents != 10 || got.Timeout != time.Second {
		t.Fatalf("batch keys %+v, want them to win", got)
	}
}
