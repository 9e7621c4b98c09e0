package sentinel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

func TestConfigValidate(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.TenantID = "contoso.onmicrosoft.com" }, "tenant_id"},
		{func(c *Config) { c.ClientID = "" }, "client_id"},
		{func(c *Config) { c.ClientSecret = "" }, "client_secret: missing"},
		{func(c *Config) { c.Endpoint = "http://dce.example" }, "not an https base URL"},
		{func(c *Config) { c.Endpoint += "/dataCollectionRules/x" }, "without a path"},
		{func(c *Config) { c.Endpoint += "/?api-version=2023-01-01" }, "without a path or query"},
		{func(c *Config) { c.DCRImmutableID = "SophosDCR" }, "dcr_immutable_id"},
		{func(c *Config) { c.Stream = "SophosCentral_CL" }, "Custom-<name>"},
		{func(c *Config) { c.Format = "cef" }, `"cef" is not one of`},
		{func(c *Config) { c.MaxBytes = 2 << 20 }, "1KiB to 1MiB"},
	} {
		c := testConfig(t, srv)
		tc.edit(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
	c := testConfig(t, srv)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

// TestRowsMatchDCR: the default rows fit the stream declaration of
// examples/sentinel-dcr.json exactly: no column dropped, every value of its
// declared type (the server checks), the item kept whole in Item.
func TestRowsMatchDCR(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	s := started(t, testConfig(t, srv))
	recs := outtest.Records(t, "dcr", 30)
	if err := s.Write(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if len(st.Dropped) != 0 || st.Gzip != 2 { // the start-up check and the batch
		t.Fatalf("stats %+v: columns dropped, or not gzip", st)
	}
	rows := srv.Rows(DefaultStream)
	if len(rows) != len(recs) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, row := range rows {
		r := recs[i]
		if len(row) != 14 {
			t.Errorf("row %d has %d columns, want the 14 of the DCR", i, len(row))
		}
		var item map[string]any
		json.Unmarshal(row["Item"], &item)
		var id, stream, loc, when string
		json.Unmarshal(row["SophosId"], &id)
		json.Unmarshal(row["Datastream"], &stream)
		json.Unmarshal(row["Location"], &loc)
		json.Unmarshal(row["TimeGenerated"], &when)
		if id != r.ID || stream != string(r.Stream) || loc != r.Host || item["id"] != r.ID || when != r.When {
			t.Errorf("row %d: %s %s %s %s, item %v", i, id, stream, loc, when, item["id"])
		}
	}
}

// TestStartErrors: the start-up check names the cause and the fix: a wrong
// secret (Entra's AADSTS7000215), a wrong tenant, a missing role (the role
// to grant), a wrong DCR or stream. The secret never appears.
func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	srv := testServer(t, sentineltest.Options{})
	noRole := testServer(t, sentineltest.Options{NoRole: true})
	for _, tc := range []struct {
		srv  *sentineltest.Server
		edit func(*Config)
		want string
	}{
		{srv, func(c *Config) { c.ClientSecret = "wrong-secret-value" }, "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + clientID + "'.: check client_secret"},
		{srv, func(c *Config) { c.TenantID = "11111111-2222-3333-4444-555555555555" }, "check tenant_id"},
		{srv, func(c *Config) { c.ClientID = "11111111-2222-3333-4444-555555555555" }, "check client_id"},
		{srv, func(c *Config) { c.Scope = "https://management.azure.com/.default" }, "invalid_scope"},
		{noRole, func(c *Config) {}, `403 OperationFailed: The authentication token provided does not have access to ingest data for the data collection rule with immutable Id '` + dcrID + `'.: grant the app (client_id ` + clientID + `) the "Monitoring Metrics Publisher" role`},
		{srv, func(c *Config) { c.DCRImmutableID = "dcr-ffffffffffffffffffffffffffffffff" }, "404 NotFound"},
		{srv, func(c *Config) { c.Stream = "Custom-Other_CL" }, "404 InvalidStream"},
	} {
		c := testConfig(t, tc.srv)
		tc.edit(&c)
		err := newSink(t, c).Start(ctx)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q\n got %v", tc.want, err)
			continue
		}
		if auth := !strings.Contains(tc.want, "404"); pipeline.IsAuthFailure(err) != auth {
			t.Errorf("IsAuthFailure = %v, want %v (refused credentials or role: -once fails at once): %v", !auth, auth, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "wrong-secret-value") || strings.Contains(err.Error(), "Trace ID") {
			t.Errorf("secret or Entra trace in the message: %v", err)
		}
	}
}

// TestOversizedRowRejectedAlone: a record whose row alone is over the 1 MiB
// limit is refused with 413 and dead-lettered alone; the rest of the batch
// is delivered. The same against the benchmarks' CountOnly server, which
// must answer as the full one does.
func TestOversizedRowRejectedAlone(t *testing.T) {
	for _, countOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("CountOnly=%v", countOnly), func(t *testing.T) {
			srv := testServer(t, sentineltest.Options{CountOnly: countOnly})
			c := testConfig(t, srv)
			c.MaxBytes = sentineltest.MaxBody
			s := started(t, c)
			recs := outtest.Records(t, "big", 20)
			huge := strings.Replace(string(recs[7].Raw), `"severity"`, `"padding":"`+strings.Repeat("x", 1100000)+`","severity"`, 1)
			r, err := pipeline.NewRecord(recs[7].Stream, recs[7].Tenant, []byte(huge))
			if err != nil {
				t.Fatal(err)
			}
			recs[7] = &r
			err = s.Write(context.Background(), recs)
			var be *pipeline.BatchError
			if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 7 || !pipeline.IsPermanent(be.Items[0].Err) ||
				!strings.Contains(be.Items[0].Err.Error(), "413 ContentLengthLimitExceeded") {
				t.Fatalf("want record 7 rejected alone with the 413, got %v", err)
			}
			if n := srv.Stats().Rows; n != 19 {
				t.Fatalf("%d rows ingested, want 19", n)
			}
			if !countOnly && len(srv.IDs()) != 19 {
				t.Fatalf("%d ids ingested, want 19", len(srv.IDs()))
			}
			if st := srv.Stats(); st.MaxBody > sentineltest.MaxBody {
				t.Fatalf("a call of %d bytes was taken", st.MaxBody)
			}
		})
	}
}

// TestRoleMissingRetried: a 403 mid-run (the role assignment removed) holds
// the records back for retry with the role to grant; it never dead-letters.
func TestRoleMissingRetried(t *testing.T) {
	srv := testServer(t, sentineltest.Options{NoRole: true})
	s := newSink(t, testConfig(t, srv))
	err := s.Write(context.Background(), outtest.Records(t, "nr", 20))
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) != 20 || pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "Monitoring Metrics Publisher") {
		t.Fatalf("want all 20 for retry, got %v", err)
	}
}

// TestURLCredentialsRejected: endpoint and authority_host with
// user:password@ are refused (the API authenticates with the Entra token;
// the URL is printed by validate, logs and the status page), and the
// password is not echoed.
func TestURLCredentialsRejected(t *testing.T) {
	srv := testServer(t, sentineltest.Options{})
	for _, u := range []string{"https://u:pw5ecret@dce.example", "http://u:pw5ecret@dce.example", "https://u:pw5ecret@dce example"} {
		for _, key := range []string{"endpoint", "authority_host"} {
			c := testConfig(t, srv)
			if key == "endpoint" {
				c.Endpoint = u
			} else {
				c.AuthorityHost = u
			}
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "pw5ecret") {
				t.Errorf("%s %s: want an error naming %s without the password, got %v", key, u, key, err)
			}
		}
	}
}
