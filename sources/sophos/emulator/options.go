package emulator

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options configures an emulator. The zero value is usable: one tenant,
// tenant credentials, 1000 events and 100 alerts of backlog, plain HTTP on a
// free loopback port.
type Options struct {
	Seed           int64            // deterministic data (default 1)
	Tenants        int              // tenants (default 1); more than one needs Partner or Organization; spread over two regions
	Partner        bool             // credentials are partner credentials (whoami idType "partner")
	Organization   bool             // credentials are organization credentials (idType "organization")
	Events         int              // events backlog per tenant (default 1000; -1 = none), spread over the 23 h before start
	Alerts         int              // alerts backlog per tenant (default 100; -1 = none); each alert is also an event
	Rate           float64          // new items per second per tenant (events:alerts ~10:1); 0 = none
	ClientID       string           // default "emulator-client"
	ClientSecret   string           // default "emulator-secret"
	TokenTTL       time.Duration    // access token lifetime (expires_in), default 1h
	TLS            bool             // serve HTTPS with a self-signed certificate
	CAFile         string           // with TLS: write the CA certificate (PEM) here
	Faults         Faults           // fault injection, see ParseFaults
	Limits         Limits           // latency, rate and concurrency limits of a real API (none by default)
	Addr           string           // listen address, default "127.0.0.1:0"
	Now            func() time.Time // clock (default time.Now); tests move time with it
	IsolationDelay time.Duration    // how long an isolation toggle stays in progress (409s meanwhile), default 2s; <0 = none
	Log            *slog.Logger     // optional request log (Debug level per request)
	XDR            XDR              // the detections and cases APIs (xdr_model.go)
}

// backlogSpan is how far back the backlog reaches. It stays inside the 24 h
// window with an hour to spare, so a client that clamps from_date to
// now-23h59m (as the official script and the Elastic integration do) still
// sees every backlog item.
const backlogSpan = 23 * time.Hour

// window is how far back the SIEM API serves.
const window = 24 * time.Hour

func (o *Options) setDefaults() error {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Tenants == 0 {
		o.Tenants = 1
	}
	switch {
	case o.Events == 0:
		o.Events = 1000
	case o.Events < 0:
		o.Events = 0
	}
	switch {
	case o.Alerts == 0:
		o.Alerts = 100
	case o.Alerts < 0:
		o.Alerts = 0
	}
	if o.ClientID == "" {
		o.ClientID = "emulator-client"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "emulator-secret"
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.IsolationDelay == 0:
		o.IsolationDelay = 2 * time.Second
	case o.IsolationDelay < 0:
		o.IsolationDelay = 0
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.XDR.setDefaults()
	var errs []error
	if err := o.XDR.validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Partner && o.Organization {
		errs = append(errs, errors.New("emulator: Partner and Organization are exclusive"))
	}
	if o.Tenants < 0 || o.Tenants > 10000 {
		errs = append(errs, fmt.Errorf("emulator: Tenants %d out of range 1..10000", o.Tenants))
	}
	if o.Tenants > 1 && !o.Partner && !o.Organization {
		errs = append(errs, fmt.Errorf("emulator: %d tenants need partner or organization credentials (tenant credentials cover one tenant)", o.Tenants))
	}
	// Backlog items get strictly increasing millisecond timestamps.
	if limit := int(backlogSpan / time.Millisecond); o.Events > limit || o.Alerts > limit {
		errs = append(errs, fmt.Errorf("emulator: at most %d events and alerts per tenant", limit))
	}
	if o.Alerts > o.Events && o.Events > 0 {
		errs = append(errs, fmt.Errorf("emulator: Alerts (%d) cannot exceed Events (%d): every alert is also an event", o.Alerts, o.Events))
	}
	if o.Limits.RateLimit < 0 || o.Limits.MaxConcurrency < 0 || o.Limits.Latency < 0 || o.Limits.Jitter < 0 || o.Limits.Jitter > o.Limits.Latency {
		errs = append(errs, errors.New("emulator: Limits must be >= 0, with Jitter at most Latency"))
	}
	if o.Rate < 0 {
		errs = append(errs, errors.New("emulator: Rate must be >= 0"))
	}
	return errors.Join(errs...)
}
