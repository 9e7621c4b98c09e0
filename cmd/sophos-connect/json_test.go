package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func TestTenantsAndWhoamiJSON(t *testing.T) {
	emu, cfg, _ := operatorSetup(t, emulator.Options{Partner: true, Tenants: 3})
	code, out, errOut := runApp(t, ctxT(t), "tenants", "-json", "-c", cfg)
	var tenants []struct{ ID, Name, DataRegion, APIHost string }
	if err := json.Unmarshal([]byte(out), &tenants); code != 0 || err != nil || len(tenants) != 3 {
		t.Fatalf("tenants -json: exit %d, %v, %s %s", code, err, out, errOut)
	}
	ids := map[string]bool{}
	for _, tn := range tenants {
		ids[tn.ID] = tn.APIHost != "" && tn.Name != ""
	}
	for _, id := range emu.TenantIDs() {
		if !ids[id] {
			t.Errorf("tenant %s missing or without name/apiHost: %s", id, out)
		}
	}
	code, out, errOut = runApp(t, ctxT(t), "-w", "-json", "-c", cfg)
	var who struct {
		ID, IDType string
		Tenants    int
	}
	if err := json.Unmarshal([]byte(out), &who); code != 0 || err != nil || who.IDType != "partner" || who.ID != emu.WhoamiID() || who.Tenants != 3 {
		t.Fatalf("-w -json: exit %d, %v, %s %s", code, err, out, errOut)
	}
}

// TestValidateShowsAutoAcknowledge: validate says what auto-acknowledge
// will acknowledge, in text and in -json.
func TestValidateShowsAutoAcknowledge(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml, text string
		enabled    bool
		sev        []string
	}{
		{"alerts_auto_acknowledge_status: true\nalerts_auto_acknowledge_level: Medium\n", "ON: every alert of severity low, medium is acknowledged", true, []string{"low", "medium"}},
		{"alerts_auto_acknowledge_status: true\nalerts_auto_acknowledge_level: high\n", "ON: every alert of severity low, medium, high is acknowledged", true, []string{"low", "medium", "high"}},
		{"", "off (alerts_auto_acknowledge_status: false; level medium would acknowledge low, medium)", false, []string{"low", "medium"}},
	} {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte("sophos: {client_id: a, client_secret: b}\nstate_dir: "+dir+"\n"+tc.yaml), 0o600)
		code, out, errOut := runApp(t, ctxT(t), "validate", "-c", p)
		if code != 0 || !strings.Contains(out, "alerts auto-acknowledge: "+tc.text) {
			t.Errorf("validate (%q): exit %d, lacks %q:\n%s%s", tc.yaml, code, tc.text, out, errOut)
		}
		code, out, _ = runApp(t, ctxT(t), "validate", "-json", "-c", p)
		var v struct {
			Sinks []struct{ Name string }
			Auto  struct {
				Enabled    bool
				Severities []string
			} `json:"alerts_auto_acknowledge"`
		}
		if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Auto.Enabled != tc.enabled ||
			strings.Join(v.Auto.Severities, ",") != strings.Join(tc.sev, ",") || len(v.Sinks) != 2 {
			t.Errorf("validate -json (%q): exit %d, %v: %s", tc.yaml, code, err, out)
		}
	}
}
