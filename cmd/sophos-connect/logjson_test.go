package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestJSONLogFormat: log_format json writes one JSON object per line with
// time (RFC 3339, UTC), level (the seed's names), msg, source and the
// attributes; control characters cannot split a line.
func TestJSONLogFormat(t *testing.T) {
	var out bytes.Buffer
	log, closeLog, err := newLogger("LOG+", "", &out)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	log = withLogFormat(log, "json")
	log.With("sink", "siem").Error("write failed\nsecond line", "tenant", "t-1", "records", 3)
	log.Info("Pulling Sophos Events", "source", "Events", "stream", "event")
	log.Log(context.Background(), -2, "a LOG+ line")
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatalf("line 1 is not JSON: %v: %s", err, lines[0])
	}
	ts, err := time.Parse(time.RFC3339, first["time"].(string))
	if err != nil || !strings.HasSuffix(first["time"].(string), "Z") || time.Since(ts) > time.Minute {
		t.Fatalf("time %v: %v", first["time"], err)
	}
	if first["level"] != "ERROR" || first["msg"] != "write failed\nsecond line" || first["sink"] != "siem" || first["tenant"] != "t-1" || first["records"] != 3.0 || first["source"] != "System" {
		t.Fatalf("line 1: %v", first)
	}
	var second, third map[string]any
	json.Unmarshal([]byte(lines[1]), &second)
	json.Unmarshal([]byte(lines[2]), &third)
	if second["source"] != "Events" || second["stream"] != "event" || second["level"] != "INFO" || third["level"] != "LOG+" {
		t.Fatalf("lines 2-3: %v %v", second, third)
	}
}
