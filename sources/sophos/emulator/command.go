package emulator

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunCommand runs the `sophos-connect emulate` subcommand: it parses args
// (flags of SPEC §6), starts an emulator, prints its base URL, auth URL,
// client id and secret (a local fake: printing them is the point) and a
// ready-to-use YAML snippet, and serves until ctx is done. -h returns
// flag.ErrHelp after printing usage.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("emulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	run := DefineFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sophos-connect emulate [flags]\n\nServe a local Sophos Central (token, whoami, tenants, SIEM, Common alerts, Endpoint, Health Check).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("emulate: unexpected argument %q", fs.Arg(0))
	}
	return run(ctx, stdout, stderr)
}

// DefineFlags defines the emulate command's flags on fs and returns the
// function that, once fs is parsed, starts the emulator and serves until ctx
// is done. The command line's help reads the flags from fs.
func DefineFlags(fs *flag.FlagSet) func(ctx context.Context, stdout, stderr io.Writer) error {
	var o Options
	var faults string
	var verbose bool
	var latency, rateLimit string
	var kinds, quirks string
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8443", "listen address (`host:port`; port 0 picks a free one)")
	fs.BoolVar(&o.TLS, "tls", false, "serve HTTPS with a self-signed ECDSA certificate for 127.0.0.1/localhost")
	fs.StringVar(&o.CAFile, "ca-file", "emulator-ca.pem", "with -tls: write the CA certificate (PEM) to this `file` (use it as sophos.ca_file)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of the generated data and faults")
	fs.IntVar(&o.Tenants, "tenants", 1, "number of tenants (more than one needs -partner or -organization)")
	fs.BoolVar(&o.Partner, "partner", false, "issue partner credentials (tenants over two regions)")
	fs.BoolVar(&o.Organization, "organization", false, "issue organization credentials")
	fs.IntVar(&o.Events, "events", 1000, "events backlog per tenant over the last 23 h (-1 = none)")
	fs.IntVar(&o.Alerts, "alerts", 100, "alerts backlog per tenant (each is also an event; -1 = none)")
	fs.Float64Var(&o.Rate, "rate", 0, "new items per second per tenant (events:alerts about 10:1)")
	fs.StringVar(&o.ClientID, "client-id", "emulator-client", "client id the token endpoint accepts")
	fs.StringVar(&o.ClientSecret, "client-secret", "emulator-secret", "client secret the token endpoint accepts")
	fs.DurationVar(&o.TokenTTL, "token-ttl", time.Hour, "access token lifetime (expires_in)")
	fs.StringVar(&faults, "fault", "", "fault injection, e.g. 429=0.1,retry-after=1s,503=0.05,503-burst=3,401-midpage=3,slow=200ms,malformed=0.01,stale-cursor=0.1,late-arrivals=0.2,replay=0.1; collector faults: same-cursor,empty-cursor,missing-id=0.1,foreign-host,echo-token,tenants-loop, limited with tenant=ID|N")
	fs.DurationVar(&o.IsolationDelay, "isolation-delay", 2*time.Second, "how long an isolation change stays in progress (409 meanwhile)")
	fs.StringVar(&latency, "latency", "", "added latency per API request, e.g. 150ms or 150ms±50ms (uniform spread)")
	fs.StringVar(&rateLimit, "rate-limit", "", "API requests per second for the credentials (token bucket; 429 with Retry-After beyond), e.g. 20/s")
	fs.IntVar(&o.Limits.MaxConcurrency, "max-concurrency", 0, "API requests in flight for the credentials (429 beyond); 0 = unlimited")
	fs.BoolVar(&verbose, "v", false, "log every request to stderr")
	fs.IntVar(&o.XDR.Detections, "detections", 60, "XDR detections backlog per licensed tenant over the last 23 h (-1 = none)")
	fs.IntVar(&o.XDR.Cases, "cases", 12, "cases per licensed tenant over the last 30 days (-1 = none)")
	fs.StringVar(&kinds, "kinds", "", "XDR kind of each tenant in order, e.g. xdr,mdr,unlicensed (mdr: alerts empty, findings as cases; unlicensed: 403 on /detections and /cases); default xdr")
	fs.DurationVar(&o.XDR.CaseChangeEvery, "case-change-every", 0, "one case of each licensed tenant changes status this often (0 = never)")
	fs.StringVar(&quirks, "xdr-quirks", "", "the reported XDR API quirks, on by default; e.g. pending-polls=2,fail-runs=1,run-ttl=1h,page-size-cap=50 and strict-filters (updatedAfter honoured), page-param (page= honoured), none (all off)")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		var err error
		if kinds != "" {
			o.XDR.Kinds = csv(kinds)
		}
		if o.XDR.Quirks, err = ParseXDRQuirks(quirks); err != nil {
			return fmt.Errorf("emulate: -xdr-quirks: %w", err)
		}
		if o.Limits.Latency, o.Limits.Jitter, err = ParseLatency(latency); err != nil {
			return fmt.Errorf("emulate: -latency: %w", err)
		}
		if o.Limits.RateLimit, err = ParseRate(rateLimit); err != nil {
			return fmt.Errorf("emulate: -rate-limit: %w", err)
		}
		return serveCommand(ctx, o, faults, verbose, stdout, stderr)
	}
}

func serveCommand(ctx context.Context, o Options, faults string, verbose bool, stdout, stderr io.Writer) error {
	f, err := ParseFaults(faults)
	if err != nil {
		return fmt.Errorf("emulate: -fault: %w", err)
	}
	o.Faults = f
	if o.Limits.MaxConcurrency < 0 {
		return fmt.Errorf("emulate: -max-concurrency %d: want 0 (unlimited) or more", o.Limits.MaxConcurrency)
	}
	if o.Events == 0 {
		o.Events = -1
	}
	if o.Alerts == 0 {
		o.Alerts = -1
	}
	if o.XDR.Detections == 0 {
		o.XDR.Detections = -1
	}
	if o.XDR.Cases == 0 {
		o.XDR.Cases = -1
	}
	if o.IsolationDelay == 0 {
		o.IsolationDelay = -1
	}
	if !o.TLS {
		o.CAFile = ""
	} else if abs, err := filepath.Abs(o.CAFile); err == nil {
		o.CAFile = abs
	}
	if verbose {
		o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(o)
	if err != nil {
		return err
	}
	defer s.Close()
	printBanner(stdout, s)
	<-ctx.Done()
	return nil
}

func printBanner(w io.Writer, s *Server) {
	o := s.opts
	creds := s.idType + " credentials"
	fmt.Fprintf(w, "Sophos Central emulator: seed %d, %d tenant(s), %s, %d events + %d alerts backlog per tenant", o.Seed, len(s.tenants), creds, o.Events, o.Alerts)
	if o.Rate > 0 {
		fmt.Fprintf(w, ", %g new items/s per tenant", o.Rate)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  base URL:      %s\n", s.URL())
	fmt.Fprintf(w, "  auth URL:      %s\n", s.AuthURL())
	fmt.Fprintf(w, "  client id:     %s\n", o.ClientID)
	fmt.Fprintf(w, "  client secret: %s\n", o.ClientSecret)
	fmt.Fprintf(w, "  whoami:        %s %s\n", s.idType, s.ownerID)
	for i, t := range s.tenants {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more tenants\n", len(s.tenants)-10)
			break
		}
		fmt.Fprintf(w, "  tenant:        %s %q at %s\n", t.id, t.name, s.regionURL(t.region.id))
	}
	if o.TLS && o.CAFile != "" {
		fmt.Fprintf(w, "  CA file:       %s\n", o.CAFile)
	}
	if l := o.Limits; l.Enabled() {
		fmt.Fprintf(w, "  limits:        latency %s±%s, rate limit %g/s, max concurrency %d (0 = unlimited)\n", l.Latency, l.Jitter, l.RateLimit, l.MaxConcurrency)
	}
	for i, t := range s.tenants {
		if i == 10 {
			break
		}
		if k := s.kindOf(i); k != KindXDR {
			fmt.Fprintf(w, "  XDR kind:      %s %s\n", t.id, k)
		}
	}
	if f := o.Faults.String(); f != "" {
		fmt.Fprintf(w, "  faults:        %s\n", f)
	}
	var y strings.Builder
	y.WriteString("sophos:\n")
	fmt.Fprintf(&y, "  client_id: %s\n", yamlQuote(o.ClientID))
	fmt.Fprintf(&y, "  client_secret: %s\n", yamlQuote(o.ClientSecret))
	fmt.Fprintf(&y, "  auth_url: %s\n", s.AuthURL())
	fmt.Fprintf(&y, "  api_host: %s\n", s.URL())
	if o.TLS && o.CAFile != "" {
		fmt.Fprintf(&y, "  ca_file: %s\n", yamlQuote(o.CAFile))
	}
	fmt.Fprintf(w, "\nConfiguration snippet:\n\n%s\nServing until interrupted.\n", y.String())
}

// yamlQuote double-quotes a scalar when YAML could misread it.
func yamlQuote(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[]&*!|>'\"%@`, \t\\") || strings.TrimSpace(s) != s {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return s
}

// ParseXDRQuirks reads -xdr-quirks: "" keeps the reported quirks on;
// "none" turns them all off; key=value pairs and flags adjust them.
func ParseXDRQuirks(s string) (XDRQuirks, error) {
	var q XDRQuirks
	for _, part := range csv(s) {
		k, v, _ := strings.Cut(part, "=")
		n, nerr := strconv.Atoi(v)
		switch k {
		case "none":
			q = XDRQuirks{PendingPolls: -1, StrictFilters: true, PageParamHonoured: true, PageSizeCap: -1}
		case "pending-polls", "fail-runs", "page-size-cap":
			if nerr != nil || n < 0 {
				return q, fmt.Errorf("%s=%q: want a number >= 0", k, v)
			}
			if n == 0 {
				n = -1 // 0 means none here, not the default
			}
			switch k {
			case "pending-polls":
				q.PendingPolls = n
			case "fail-runs":
				q.FailRuns = max(n, 0)
			default:
				q.PageSizeCap = n
			}
		case "run-ttl":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return q, fmt.Errorf("run-ttl=%q: want a duration such as 1h", v)
			}
			q.RunTTL = d
		case "strict-filters":
			q.StrictFilters = true
		case "page-param":
			q.PageParamHonoured = true
		default:
			return q, fmt.Errorf("unknown quirk %q (pending-polls=N, fail-runs=N, run-ttl=D, page-size-cap=N, strict-filters, page-param, none)", k)
		}
	}
	return q, nil
}
