package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// ConnectCheck is one line of `validate -connect`.
type ConnectCheck struct {
	Check string `json:"check"` // "sophos", "sink NAME (TYPE)"
	OK    bool   `json:"ok"`
	What  string `json:"result"` // what passed, or the error
	Fix   string `json:"fix,omitempty"`
}

// Connect is `validate -connect`, as Vector's healthchecks: a Sophos
// token and whoami with the config's credentials, then every sink's
// start-up check (connect, authenticate, health, setup). Nothing is pulled
// or written; files and stdout are judged by the path check instead (a
// running collector may be writing them).
func Connect(ctx context.Context, c *config.Config, as *Assembly) []ConnectCheck {
	var out []ConnectCheck
	sophosCheck := ConnectCheck{Check: "sophos token and whoami"}
	client, err := sophos.NewClient(SophosConfig(c), nil)
	if err == nil {
		var id *sophos.Identity
		if id, err = client.WhoAmI(ctx); err == nil {
			tenants, terr := client.TenantsFor(ctx, id)
			if terr != nil {
				err = terr
			} else {
				sophosCheck.OK = true
				sophosCheck.What = fmt.Sprintf("%s %s, %d tenant(s) reachable", id.IDType, id.ID, len(tenants))
			}
		}
	}
	if err != nil {
		sophosCheck.What = err.Error()
		sophosCheck.Fix = "check sophos.client_id and client_secret (Sophos Central → Global Settings → API Credentials), auth_url and api_host, and that this host reaches them (proxy, firewall, ca_file)"
	}
	out = append(out, sophosCheck)
	for _, s := range as.CheckSinks(ctx, 30*time.Second) {
		ch := ConnectCheck{Check: fmt.Sprintf("sink %s (%s)", s.Name, s.Type), OK: s.Err == nil}
		switch {
		case s.Local:
			ch.What = "local output: its path is checked above"
		case s.Err == nil:
			ch.What = "start-up check passed"
		case pipeline.IsAuthFailure(s.Err):
			ch.What = s.Err.Error()
			ch.Fix = "the destination refused the sink's credentials or permissions: fix its token/password/key, or the grant on the destination"
		default:
			ch.What = s.Err.Error()
			ch.Fix = "check the sink's address or URL, that the receiver runs and that this host reaches it (firewall, proxy, TLS settings)"
		}
		out = append(out, ch)
	}
	return out
}
