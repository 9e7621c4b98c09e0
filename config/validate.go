package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// LogLevels are the seed's five levels (LOG is INFO's alias).
var LogLevels = []string{"OFF", "ERROR", "INFO", "LOG", "LOG+", "VERBOSE"}

// Validate checks the values that do not depend on a component: the
// components check their own keys when they are built.
func (c *Config) Validate() error {
	var errs Errors
	add := func(msg string, path ...string) { errs = append(errs, c.fieldErr(msg, path...)) }

	if c.Sophos.ClientID == "" {
		add("missing: set sophos.client_id in the file or the SOPHOS_CLIENT_ID environment variable"+c.unsetHint("sophos", "client_id"), "sophos", "client_id")
	}
	// A listen address without a port fails the run's net.Listen.
	if c.MetricsAddr != "" {
		if err := checkListenAddr(c.MetricsAddr); err != nil {
			add(err.Error(), "metrics_addr")
		}
	}
	if c.Sophos.ClientSecret == "" {
		add("missing: set sophos.client_secret in the file or the SOPHOS_CLIENT_SECRET environment variable"+c.unsetHint("sophos", "client_secret"), "sophos", "client_secret")
	}
	for _, k := range []struct{ key, v string }{{"auth_url", c.Sophos.AuthURL}, {"api_host", c.Sophos.APIHost}} {
		u, err := url.Parse(k.v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add(fmt.Sprintf("%q is not an http(s) URL (default %s)", k.v, map[string]string{"auth_url": DefaultAuthURL, "api_host": DefaultAPIHost}[k.key]), "sophos", k.key)
		}
	}
	if c.Sophos.FromDateOffsetMinutes < 0 || c.Sophos.FromDateOffsetMinutes >= 24*60 {
		add("must be 0 to 1439 minutes (the API keeps 24 h)", "sophos", "from_date_offset_minutes")
	}
	if c.Sophos.Timeout.D() > 10*time.Minute {
		add("must be at most 10m (per request attempt; default 30s)", "sophos", "timeout")
	}
	if c.PullTime.D() < time.Second || c.PullTime.D() > 24*time.Hour {
		add("must be between 1 second and 24h (a number of seconds or a duration such as 30s): Sophos keeps 24 h", "pull_time")
	}
	if !validLogLevel(c.LogLevel) {
		add(fmt.Sprintf("%q is not a log level: use one of %s", c.LogLevel, strings.Join(LogLevels, ", ")), "log_level")
	}
	if c.LogFormat != "seed" && c.LogFormat != "json" {
		add(fmt.Sprintf("%q: use seed (the default) or json", c.LogFormat), "log_format")
	}
	switch strings.ToLower(c.AlertsAutoAcknowledgeLevel) {
	case "low", "medium", "high":
	default:
		add(fmt.Sprintf("%q: use low, medium or high", c.AlertsAutoAcknowledgeLevel), "alerts_auto_acknowledge_level")
	}
	if c.StateDir == "" {
		add("must not be empty: checkpoints and buffers live there", "state_dir")
	}
	if c.Workers < 0 || c.Workers > 256 {
		add("must be auto or between 1 and 256", "workers")
	}
	if c.MaxWorkers < 1 || c.MaxWorkers > 256 {
		add("must be between 1 and 256 (the bound of workers: auto)", "max_workers")
	}
	if _, err := c.FileMode.Mode(); err != nil {
		add(err.Error(), "file_mode")
	}
	if c.MaxInflightPages < 0 || c.MaxInflightPages > 4096 {
		add("must be 0 (automatic) to 4096: each page in flight holds up to 1000 records in memory", "max_inflight_pages")
	}
	switch a := c.MetricsAuth; a.Type {
	case "":
	case "basic":
		if a.Username == "" || a.PasswordFile == "" {
			add("type basic needs username and password_file", "metrics_auth")
		}
	case "bearer":
		if a.TokenFile == "" {
			add("type bearer needs token_file", "metrics_auth")
		}
	default:
		add(fmt.Sprintf("type %q: want basic or bearer", a.Type), "metrics_auth", "type")
	}
	if m := c.Sophos.MaxPageBytes; m != 0 && (m < 1<<20 || m > 1<<30) {
		add("must be 1MiB to 1GiB (default 32MiB)", "sophos", "max_page_bytes")
	}
	if c.DeadLetter.MaxBytes < 0 || (c.DeadLetter.MaxBytes > 0 && c.DeadLetter.MaxBytes < 1<<20) || c.DeadLetter.MaxBytes > 1<<40 {
		add("must be 0 (never rotate) or 1MiB to 1TiB (default 100MiB)", "dead_letter", "max_bytes")
	}
	if e := c.Reconcile.Every.D(); e != 0 && (e < time.Second || e > 24*time.Hour) {
		add("must be 0 (off) or 1s to 24h, e.g. 1h", "reconcile", "every")
	}
	if s := c.Reconcile.Since.D(); s < 0 || s > 24*time.Hour {
		add("must be at most 24h: Sophos Central keeps 24 h of SIEM data (default 24h)", "reconcile", "since")
	}
	for i, st := range c.Sophos.Streams {
		if !validStream(st) {
			add(fmt.Sprintf("sophos.streams[%d]: unknown stream %q: use alerts, events, detections or cases", i, st), "sophos", "streams")
		}
	}
	if c.Sophos.Streams != nil && len(c.Sophos.Streams) == 0 {
		add("empty: list the streams to pull (alerts, events, detections, cases) or remove the key", "sophos", "streams")
	}
	if len(c.EnabledStreams()) == 0 && len(c.Sophos.Streams) == 0 {
		add("every source is disabled: enable sources.alerts or sources.events, or list streams in sophos.streams", "sources")
	}
	errs = append(errs, c.Sources.validateXDR(c.fieldErr)...)
	names := map[string]int{}
	for i, s := range c.Sinks {
		p := fmt.Sprintf("sinks[%d]", i)
		// A missing type is reported where the sink types are known
		// (sinks.Build), with the list of them.
		if s.Name == "" {
			errs = append(errs, &FieldError{Line: s.Line, Key: p + ".name", Msg: "missing: every sink needs a unique name (used in logs, metrics, buffers)"})
		} else if prev, dup := names[s.Name]; dup {
			errs = append(errs, &FieldError{Line: s.Line, Key: p + ".name", Msg: fmt.Sprintf("%q is already used by sinks[%d]", s.Name, prev)})
		} else {
			names[s.Name] = i
		}
		errs = append(errs, checkCommon(s, p)...)
	}
	for i, t := range c.Transforms {
		p := fmt.Sprintf("transforms[%d]", i)
		if t.Type == "" {
			errs = append(errs, &FieldError{Line: t.Line, Key: p + ".type", Msg: "missing: filter | fields | dedupe"})
		}
		for _, s := range t.Streams {
			if !validStream(s) {
				errs = append(errs, &FieldError{Line: t.Line, Key: p + ".streams", Msg: fmt.Sprintf("unknown stream %q: use alerts, events, detections or cases", s)})
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func checkCommon(s Component, p string) Errors {
	var errs Errors
	for _, st := range s.Streams {
		if !validStream(st) {
			errs = append(errs, &FieldError{Line: s.Line, Key: p + ".streams", Msg: fmt.Sprintf("unknown stream %q: use alerts, events, detections or cases", st)})
		}
	}
	switch s.Buffer.Type {
	case "", "memory", "disk":
	default:
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".buffer.type", Msg: fmt.Sprintf("%q: use memory or disk", s.Buffer.Type)})
	}
	if a := s.Buffer.Adopt; a != "" && (s.Buffer.Type != "disk" || a == s.Name) {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".buffer.adopt", Msg: fmt.Sprintf("%q: adopt takes the old name of a disk-buffered sink, into this sink's own disk buffer (type: disk)", a)})
	}
	switch s.Buffer.WhenFull {
	case "", "block", "drop_newest":
	default:
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".buffer.when_full", Msg: fmt.Sprintf("%q: use block or drop_newest", s.Buffer.WhenFull)})
	}
	if s.Batch.MaxEvents < 0 || s.Batch.MaxEvents > 100000 {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".batch.max_events", Msg: "must be between 1 and 100000"})
	}
	if s.Retry.MaxAttempts < 0 || s.Retry.MaxAttempts > 1000000 {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".retry.max_attempts", Msg: "must be 0 (retry until delivered) to 1000000"})
	}
	if s.Batch.Timeout.D() > time.Hour {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".batch.timeout", Msg: "must be at most 1h (default 0s: write at once)"})
	}
	if s.Retry.Initial.D() > time.Hour || s.Retry.Max.D() > 24*time.Hour {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".retry", Msg: "initial must be at most 1h and max at most 24h (defaults 1s and 1m)"})
	}
	if s.Buffer.MaxBytes < 0 || s.Buffer.MaxBytes > 4<<40 {
		errs = append(errs, &FieldError{Line: s.Line, Key: p + ".buffer.max_bytes", Msg: "must be at most 4TiB (default 1GiB)"})
	}
	return errs
}

func validStream(s string) bool {
	switch strings.ToLower(s) {
	case "alert", "alerts", "event", "events", "detection", "detections", "case", "cases":
		return true
	}
	return false
}

func validLogLevel(l string) bool {
	for _, v := range LogLevels {
		if strings.EqualFold(l, v) {
			return true
		}
	}
	return false
}

// unsetHint explains an empty value that came from an unset ${VAR}.
func (c *Config) unsetHint(path ...string) string {
	line := fmt.Sprint(c.lineOf(path...))
	for name, l := range c.unsetVars {
		if l == line {
			return fmt.Sprintf(" (the file says ${%s}, which is not set)", name)
		}
	}
	return ""
}

// CheckFiles opens what the run opens besides the sinks' own files (which
// building the sinks reads): sophos.ca_file must exist and hold a
// certificate. Errors are "file:line: key: reason".
func (c *Config) CheckFiles() error {
	var errs Errors
	if c.Sophos.CAFile != "" {
		if err := checkPEMFile(c.Sophos.CAFile); err != nil {
			errs = append(errs, c.fieldErr(err.Error(), "sophos", "ca_file"))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return PrefixFile(c.File, errs)
}

// checkPEMFile opens a CA bundle and checks it holds a certificate.
func checkPEMFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist: fix the path or remove the key", path)
		}
		return fmt.Errorf("%s cannot be read: %v", path, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return nil
}

// checkListenAddr parses a listen address as the run's net.Listen will.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not a listen address (%v): write host:port, e.g. 127.0.0.1:%s", addr, strings.TrimPrefix(err.Error(), "address "+addr+": "), strings.TrimPrefix(addr, ":"))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
		}
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: %q is not a host name or IP address", addr, host)
	}
	return nil
}
