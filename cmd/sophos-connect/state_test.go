package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func stateFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cps, err := pipeline.OpenCheckpoints(state)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cps.Set("tenant-a/event", pipeline.Checkpoint{Cursor: "c1", SavedAt: now, TenantName: "Acme"})
	cps.Set("tenant-a/alert", pipeline.Checkpoint{Cursor: "c2", SavedAt: now, TenantName: "Acme"})
	cps.Set("tenant-b/event", pipeline.Checkpoint{Cursor: "c3", SavedAt: now, TenantName: "Globex"})
	if err := cps.Flush(); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sophos-connect.yaml")
	y := "sophos: {client_id: x, client_secret: y}\nstate_dir: " + state + "\n"
	if err := os.WriteFile(cfg, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestStateResetUnknownNameListsKnown(t *testing.T) {
	cfg := stateFixture(t)
	code, out, errOut := runApp(t, ctxT(t), "state", "reset", "Initech", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, `no checkpoint matches "Initech"`) ||
		!strings.Contains(errOut, "tenant-a event (Acme)") || !strings.Contains(errOut, "tenant-b event (Globex)") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	// A name (any case) matches like an id; nothing else is removed.
	code, out, errOut = runApp(t, ctxT(t), "state", "reset", "globex", "-c", cfg)
	if code != 0 || !strings.Contains(out, "removed 1 checkpoint") {
		t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
	}
	code, out, _ = runApp(t, ctxT(t), "state", "show", "-json", "-c", cfg)
	var list []struct {
		Tenant, Stream, Cursor string
		TenantName             string `json:"tenant_name"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 || list[0].Tenant != "tenant-a" || list[0].TenantName != "Acme" {
		t.Fatalf("state show -json: exit %d, %v, %s", code, err, out)
	}
}
