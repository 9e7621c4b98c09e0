package collector

import (
	"fmt"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ResetCheckpoints deletes the checkpoints of stateDir that tenant (an id
// or name, any case; "" or "all": every tenant) and stream ("": every
// stream) name, under the state dir's lock, and returns how many it
// deleted and the file. A tenant that matches no checkpoint is an error
// listing the checkpoints there are.
func ResetCheckpoints(stateDir, tenant, stream string) (int, string, error) {
	lock, err := pipeline.LockStateDir(stateDir, "state reset")
	if err != nil {
		return 0, "", err
	}
	defer lock.Unlock()
	// Read under the lock: a collector may have committed since.
	cps, err := pipeline.OpenCheckpoints(stateDir)
	if err != nil {
		return 0, "", err
	}
	all := cps.All()
	match := func(key string) bool {
		t, s, _ := strings.Cut(key, "/")
		tn := all[key].TenantName
		return (tenant == "" || tenant == "all" || strings.EqualFold(t, tenant) || (tn != "" && strings.EqualFold(tn, tenant))) && (stream == "" || s == stream)
	}
	if tenant != "" && tenant != "all" {
		found := false
		for k := range all {
			found = found || match(k)
		}
		if !found {
			var known []string
			for _, k := range cps.Keys() {
				t, s, _ := strings.Cut(k, "/")
				known = append(known, fmt.Sprintf("  %s %s (%s)", t, s, orDash(all[k].TenantName)))
			}
			if len(known) == 0 {
				known = []string{"  (none)"}
			}
			return 0, "", fmt.Errorf("state reset: no checkpoint matches %q%s in %s; the checkpoints are:\n%s",
				tenant, map[bool]string{true: " " + stream, false: ""}[stream != ""], cps.Path(), strings.Join(known, "\n"))
		}
	}
	n := cps.Delete(match)
	if err := cps.Flush(); err != nil {
		return 0, "", err
	}
	return n, cps.Path(), nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
