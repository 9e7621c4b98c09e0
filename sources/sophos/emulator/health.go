package emulator

import (
	"net/http"
	"strconv"
	"strings"
)

// Account Health Check (reference §7), computed from the tenant's devices
// so it agrees with the Endpoint API.

var healthChecks = []string{"protection", "policy", "exclusions", "tamperProtection"}

func (s *Server) handleHealthCheck(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	q := r.URL.Query()
	checks := map[string]bool{}
	for _, x := range csv(q.Get("checks")) {
		if !contains(healthChecks, x) {
			s.writeError(w, 400, "checks: unknown value "+strconv.Quote(x)+" (allowed: "+strings.Join(healthChecks, ", ")+")")
			return
		}
		checks[x] = true
	}
	products := map[string]bool{}
	for _, x := range csv(q.Get("products")) {
		if x != "endpoint" && x != "networkDevice" {
			s.writeError(w, 400, "products: unknown value "+strconv.Quote(x)+" (allowed: endpoint, networkDevice)")
			return
		}
		products[x] = true
	}
	want := func(check string) bool { return len(checks) == 0 || checks[check] }

	t.mu.Lock()
	var total, unprot, tpOff [2]int // computer, server
	for _, e := range t.hosts {
		e.settle(s.now())
		k := 0
		if e.kind == "server" {
			k = 1
		}
		total[k]++
		if e.health != "good" {
			unprot[k]++
		}
		if !e.tamperEnabled {
			tpOff[k]++
		}
	}
	global := t.globalTamper
	t.mu.Unlock()

	score := func(bad, n int) int {
		if n == 0 {
			return 100
		}
		return 100 - 100*bad/n
	}
	pol := func(salt uint64, name string, n int) obj {
		h, l := uuidOf(hash4(t.key, 0x9011, salt, 0))
		return obj{{"id", uuidString(h, l)}, {"name", name}, {"notOnRecommended", n}, {"lockedByManagingAccount", false}}
	}
	ep := obj{}
	if want("protection") {
		ep = append(ep, kv{"protection", obj{
			{"computer", obj{{"total", total[0]}, {"notFullyProtected", unprot[0]}, {"snoozed", false}, {"score", score(unprot[0], total[0])}}},
			{"server", obj{{"total", total[1]}, {"notFullyProtected", unprot[1]}, {"snoozed", false}, {"score", score(unprot[1], total[1])}}},
		}})
	}
	if want("policy") {
		ep = append(ep, kv{"policy", obj{
			{"computer", obj{{"threat-protection", obj{{"total", 4}, {"notOnRecommended", 1}, {"snoozed", false}, {"score", 85},
				{"policies", []obj{pol(1, t.hosts[0].group+" workstations", 2)}}}}}},
			{"server", obj{{"server-threat-protection", obj{{"total", 2}, {"notOnRecommended", 0}, {"snoozed", false}, {"score", 100},
				{"policies", []obj{}}}}}},
		}})
	}
	if want("exclusions") {
		start := t.startMs - 13*86400_000
		snooze := obj{{"start", isoString(start)}, {"expired", false}, {"comment", "Legacy ERP client, vendor fix due next month"},
			{"end", isoString(start + 31*86400_000)}, {"expiry", isoString(start + 31*86400_000)}}
		gh, gl := uuidOf(hash4(t.key, 0xE8C, 0, 0))
		ph, pl := uuidOf(hash4(t.key, 0x9011, 1, 0))
		ep = append(ep, kv{"exclusions", obj{
			{"policy", obj{
				{"computer", obj{{"total", 4}, {"numberOfSecurityRisks", 2}, {"snoozed", true}, {"score", 70}, {"snoozeDetail", snooze},
					{"exclusions", []obj{{
						{"policyId", uuidString(ph, pl)}, {"policyName", t.hosts[0].group + " workstations"},
						{"lockedByManagingAccount", false}, {"snoozeComment", "Legacy ERP client, vendor fix due next month"},
						{"scanningExclusions", []obj{
							{{"value", `C:\ERP\`}, {"type", "path"}, {"scanMode", "onDemandAndOnAccess"}, {"reasonCode", "entireDrive"}},
							{{"value", "erpclient.exe"}, {"type", "process"}, {"scanMode", "onAccess"}, {"reasonCode", "windowsSystemTools"}},
						}},
					}}}}},
				{"server", obj{{"total", 2}, {"numberOfSecurityRisks", 0}, {"snoozed", false}, {"score", 100}, {"exclusions", []obj{}}}},
			}},
			{"global", obj{{"numberOfSecurityRisks", 1}, {"lockedByManagingAccount", false}, {"snoozed", false}, {"score", 80},
				{"scanningExclusions", []obj{{{"id", uuidString(gh, gl)}, {"value", `%TEMP%\*.tmp`}, {"type", "path"},
					{"scanMode", "onDemandAndOnAccess"}, {"reasonCode", "usesWindowsPathVariables"}}}}}},
		}})
	}
	if want("tamperProtection") {
		gs := 0
		if global {
			gs = 100
		}
		ep = append(ep, kv{"tamperProtection", obj{
			{"computer", obj{{"total", total[0]}, {"disabled", tpOff[0]}, {"snoozed", false}, {"score", score(tpOff[0], total[0])}}},
			{"server", obj{{"total", total[1]}, {"disabled", tpOff[1]}, {"snoozed", false}, {"score", score(tpOff[1], total[1])}}},
			{"globalDetail", obj{{"enabled", global}, {"snoozed", false}, {"score", gs}}},
			{"global", global},
		}})
	}
	body := obj{{"tenant", obj{{"id", t.id}, {"name", t.name}}}}
	if len(products) == 0 || products["endpoint"] {
		body = append(body, kv{"endpoint", ep})
	}
	if len(products) == 0 || products["networkDevice"] {
		body = append(body, kv{"networkDevice", obj{{"firewall", obj{}}}})
	}
	s.writeJSON(w, 200, body)
}
