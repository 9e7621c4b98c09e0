package syslog

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Config is the syslog sink's own keys (SPEC §3). The pipeline handles the
// common keys (name, type, streams, when, buffer, batch, retry).
type Config struct {
	// Address is udp://host:port, tcp://host:port, tcp+tls://host:port,
	// relp://host:port, relp+tls://host:port or unix:///path (datagram or
	// stream socket, detected when connecting).
	Address string `yaml:"address"`
	// Protocol is rfc3164 or rfc5424; default rfc3164 with the CEF/LEEF
	// header convention for formats cef and leef, rfc5424 for every other
	// format.
	Protocol string `yaml:"protocol"`
	// Framing is lf (default for tcp:// and unix stream sockets) or
	// octet-counting (default for tcp+tls://, as RFC 5425 requires).
	// Datagram transports and RELP take no framing ("" or none).
	Framing string `yaml:"framing"`
	// Timezone is the zone of RFC 3164 timestamps, which carry none: local
	// (default, what receivers assume) or utc.
	Timezone string `yaml:"timezone"`
	// Facility is a facility keyword (kern … local7) or number 0-23.
	Facility string `yaml:"facility"`
	// SeverityMap maps the record's severity (low, medium, high, …; any
	// case) to a syslog severity name or number; entries override the
	// defaults in DefaultSeverityMap.
	SeverityMap map[string]string `yaml:"severity_map"`
	// DefaultSeverity is used for record severities the map does not name.
	DefaultSeverity string `yaml:"default_severity"`
	// AppName is the RFC 5424 APP-NAME / RFC 3164 TAG.
	AppName string `yaml:"app_name"`
	// Hostname is the HOSTNAME field; "" means os.Hostname().
	Hostname string `yaml:"hostname"`
	// SDID is the RFC 5424 structured-data element carrying tenant and id.
	SDID string `yaml:"sd_id"`
	// Format is the shared encoder writing the MSG part (encoding.Formats).
	Format string `yaml:"format"`
	// Options are the shared encoders' keys (cef_strict, …), inline.
	encoding.Options `yaml:",inline"`
	// TLS configures tcp+tls:// (verification is on unless
	// insecure_skip_verify).
	TLS config.TLS `yaml:"tls"`
	// MaxMessageBytes caps one syslog message (header and MSG, without the
	// framing); 0 means 8192 for udp, unix datagram sockets and RELP
	// (rsyslog's maxMessageSize and imrelp's maxDataSize), 65535 for tcp,
	// tcp+tls and unix streams.
	MaxMessageBytes config.ByteSize `yaml:"max_message_bytes"`
	// Oversize is what happens to a message over max_message_bytes:
	// truncate (default: cut at a field boundary, send, and keep the full
	// record in the dead-letter file) or dead_letter (do not send it).
	Oversize string `yaml:"oversize"`
	// Window is the number of RELP messages sent but not yet acknowledged
	// (default 128, relp:// only).
	Window int `yaml:"window"`
	// DialTimeout bounds connecting (and the TLS handshake).
	DialTimeout config.Duration `yaml:"dial_timeout"`
	// WriteTimeout bounds writing one batch.
	WriteTimeout config.Duration `yaml:"write_timeout"`
}

// Defaults for the keys left empty.
const (
	DefaultProtocol        = "rfc5424" // for formats other than cef
	DefaultCEFProtocol     = "rfc3164" // ArcSight's and QRadar's convention (cef and leef)
	DefaultTimezone        = "local"
	DefaultOversize        = oversizeTruncate
	DefaultWindow          = 128
	DefaultFacility        = "local4" // SPEC §3's example
	DefaultAppName         = "sophos-connect"
	DefaultFormat          = "cef"
	DefaultDefaultSeverity = "notice"
	// DefaultSDID names the structured-data element `[sophos@32473 id="…"
	// tenant="…"]`. 32473 is the private enterprise number IANA reserves for
	// examples (RFC 5612): it can never clash with a real vendor's SD-IDs.
	// Sophos' own number is not ours to use; set sd_id to your own
	// enterprise number if your SIEM needs one.
	DefaultSDID = "sophos@32473"

	defaultDatagramMax = 8192  // rsyslog's default maxMessageSize (syslog-ng takes 64 KiB)
	defaultStreamMax   = 65535 // syslog-ng's log-msg-size; rsyslog needs maxMessageSize raised to take it whole
	maxWindow          = 65535
	minMessageBytes    = 480 // RFC 5426 §3.2: receivers MUST accept 480
	maxUDPPayload      = 65507
)

// DefaultSeverityMap maps Sophos severities to syslog severities. `none`
// and `very_high` are the official CEF map's other names.
var DefaultSeverityMap = map[string]string{
	"none":      "info",
	"low":       "notice",
	"medium":    "warning",
	"high":      "err",
	"very_high": "crit",
}

// DefaultConfig returns the defaults; Address must still be set.
func DefaultConfig() Config {
	return Config{
		Facility:        DefaultFacility,
		DefaultSeverity: DefaultDefaultSeverity,
		AppName:         DefaultAppName,
		SDID:            DefaultSDID,
		Format:          DefaultFormat,
		Timezone:        DefaultTimezone,
		Oversize:        DefaultOversize,
		DialTimeout:     config.Duration(10 * time.Second),
		WriteTimeout:    config.Duration(30 * time.Second),
	}
}

// Validate checks every key and reports all problems together, each naming
// the key and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	ep, err := parseAddress(c.Address)
	if err != nil {
		bad("address", "%v", err)
	}
	switch c.Protocol {
	case "", "rfc5424", "rfc3164":
	default:
		bad("protocol", "unknown protocol %q: use rfc5424 or rfc3164", c.Protocol)
	}
	switch c.Framing {
	case "", framingNone, framingOctet, framingLF:
	default:
		bad("framing", "unknown framing %q: use lf or octet-counting (tcp, unix stream); datagrams and relp take none", c.Framing)
	}
	if err == nil && (ep.network == "udp" || ep.relp) && c.Framing != "" && c.Framing != framingNone {
		bad("framing", "%s does not apply to %s: each %s carries one message; remove framing", c.Framing, ep.scheme, map[bool]string{true: "RELP frame", false: "datagram"}[ep.relp])
	}
	if err == nil && ep.network == "tcp" && !ep.relp && c.Framing == framingNone {
		bad("framing", "none would glue messages together on a stream: use lf or octet-counting")
	}
	switch c.Timezone {
	case "", "local", "utc":
	default:
		bad("timezone", "unknown timezone %q: use local or utc", c.Timezone)
	}
	switch c.Oversize {
	case "", oversizeTruncate, oversizeDeadLetter:
	default:
		bad("oversize", "unknown value %q: use truncate or dead_letter", c.Oversize)
	}
	if c.Window < 0 || c.Window > maxWindow {
		bad("window", "%d is out of range: use 1-%d, or 0 for %d", c.Window, maxWindow, DefaultWindow)
	}
	if err == nil && !ep.relp && c.Window != 0 {
		bad("window", "applies to relp:// addresses only: remove window")
	}
	if _, ferr := parseFacility(c.facility()); ferr != nil {
		bad("facility", "%v", ferr)
	}
	for k, v := range c.SeverityMap {
		if _, serr := parseSeverity(v); serr != nil {
			bad("severity_map."+k, "%v", serr)
		}
	}
	if _, serr := parseSeverity(c.defaultSeverity()); serr != nil {
		bad("default_severity", "%v", serr)
	}
	if msg := checkAppName(c.appName(), c.protocol()); msg != "" {
		bad("app_name", "%s", msg)
	}
	if c.Hostname != "" {
		if msg := checkHostname(c.Hostname); msg != "" {
			bad("hostname", "%s", msg)
		}
	}
	if msg := checkSDID(c.sdID()); msg != "" {
		bad("sd_id", "%s", msg)
	}
	if c.Format != "" && !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "unknown format %q: use one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if err == nil && !ep.tls && c.TLS != (config.TLS{}) {
		bad("tls", "applies to tcp+tls:// and relp+tls:// addresses only: change the address scheme or remove tls")
	}
	if fe := c.TLS.Problem(); fe != nil {
		bad("tls."+fe.Key, "%s", fe.Msg)
	}
	if c.MaxMessageBytes < 0 || (c.MaxMessageBytes > 0 && c.MaxMessageBytes < minMessageBytes) {
		bad("max_message_bytes", "%d is too small: use at least %d (RFC 5426), or 0 for the default", c.MaxMessageBytes, minMessageBytes)
	}
	if err == nil && ep.network == "udp" && c.MaxMessageBytes > maxUDPPayload {
		bad("max_message_bytes", "%d exceeds the largest UDP datagram (%d)", c.MaxMessageBytes, maxUDPPayload)
	}
	if c.DialTimeout < 0 {
		bad("dial_timeout", "must not be negative")
	}
	if c.WriteTimeout < 0 {
		bad("write_timeout", "must not be negative")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func (c *Config) protocol() string {
	if c.Protocol == "" && c.vendorHeader() {
		return DefaultCEFProtocol
	}
	return or(c.Protocol, DefaultProtocol)
}

// vendorHeader: cef and leef follow ArcSight's and QRadar's convention,
// an RFC 3164 header without TAG, the CEF:/LEEF: header right after HOST.
func (c *Config) vendorHeader() bool { return c.format() == "cef" || c.format() == "leef" }

func (c *Config) oversize() string { return or(c.Oversize, DefaultOversize) }
func (c *Config) utc() bool        { return c.Timezone == "utc" }
func (c *Config) window() int {
	if c.Window <= 0 {
		return DefaultWindow
	}
	return c.Window
}
func (c *Config) facility() string { return or(c.Facility, DefaultFacility) }
func (c *Config) appName() string  { return or(c.AppName, DefaultAppName) }
func (c *Config) sdID() string     { return or(c.SDID, DefaultSDID) }
func (c *Config) format() string   { return or(c.Format, DefaultFormat) }
func (c *Config) defaultSeverity() string {
	return or(c.DefaultSeverity, DefaultDefaultSeverity)
}

func (c *Config) dialTimeout() time.Duration {
	if c.DialTimeout <= 0 {
		return 10 * time.Second
	}
	return c.DialTimeout.D()
}

func (c *Config) writeTimeout() time.Duration {
	if c.WriteTimeout <= 0 {
		return 30 * time.Second
	}
	return c.WriteTimeout.D()
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkHostname applies RFC 5424's HOSTNAME rule (1-255 printable US-ASCII,
// no space), which RFC 3164 receivers accept too.
func checkHostname(h string) string {
	if len(h) > 255 || !printUSASCII(h) {
		return fmt.Sprintf("%q is not a syslog hostname: use 1-255 printable ASCII characters without spaces", h)
	}
	return ""
}

// checkAppName applies RFC 5424's APP-NAME rule (1-48 printable US-ASCII)
// or RFC 3164's TAG rule (1-32, no ':' or brackets, which end the tag).
func checkAppName(a, protocol string) string {
	if protocol == "rfc3164" {
		if len(a) > 32 || !printUSASCII(a) || strings.ContainsAny(a, ":[]") {
			return fmt.Sprintf("%q is not an RFC 3164 tag: use 1-32 printable ASCII characters without spaces, ':' or brackets", a)
		}
		return ""
	}
	if len(a) > 48 || !printUSASCII(a) {
		return fmt.Sprintf("%q is not an RFC 5424 APP-NAME: use 1-48 printable ASCII characters without spaces", a)
	}
	return ""
}

// checkSDID applies RFC 5424's SD-NAME rule: 1-32 printable US-ASCII except
// '=', ']' and '"'; a name without '@' is reserved for IANA.
func checkSDID(id string) string {
	if len(id) > 32 || !printUSASCII(id) || strings.ContainsAny(id, `="]`) {
		return fmt.Sprintf("%q is not an SD-ID: use 1-32 printable ASCII characters without spaces, '=', ']' or '\"'", id)
	}
	if name, pen, ok := strings.Cut(id, "@"); !ok || name == "" || pen == "" || strings.Trim(pen, "0123456789") != "" {
		return fmt.Sprintf("%q is not an enterprise SD-ID: use name@<private enterprise number>, e.g. %s", id, DefaultSDID)
	}
	return ""
}

// printUSASCII reports whether s is non-empty PRINTUSASCII (%d33-126).
func printUSASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}

// Oversize policies.
const (
	oversizeTruncate   = "truncate"
	oversizeDeadLetter = "dead_letter"
)

// resolve returns the framing and message cap for the configured transport
// (dgram: the socket is a datagram socket, known for unix:// only once
// connected).
func (c *Config) resolve(ep endpoint, dgram bool) (framing string, max int) {
	max = int(c.MaxMessageBytes)
	switch {
	case dgram || ep.relp:
		framing = framingNone // one message per datagram or RELP frame
	case c.Framing != "" && c.Framing != framingNone:
		framing = c.Framing
	case ep.tls:
		framing = framingOctet // RFC 5425 requires it
	default:
		framing = framingLF // what every receiver reads on plain tcp and unix streams
	}
	if max == 0 {
		max = defaultStreamMax
		if dgram || ep.relp {
			// rsyslog's maxMessageSize, which is also imrelp's default
			// maxDataSize (longer RELP messages it truncates silently).
			max = defaultDatagramMax
		}
	}
	return framing, max
}

// Describe is what `validate` prints: the address and the framing,
// protocol and size limit the sink will use, defaults resolved.
func (c *Config) Describe() string {
	ep, err := parseAddress(c.Address)
	if err != nil {
		return "address=" + c.Address
	}
	var fr string
	var max int
	if ep.network == "unix" {
		sf, sm := c.resolve(ep, false)
		df, dm := c.resolve(ep, true)
		fr, max = fmt.Sprintf("%s (stream) / %s (datagram)", sf, df), sm
		if sm != dm {
			return fmt.Sprintf("address=%s protocol=%s framing=%s max_message_bytes=%d (stream) / %d (datagram) oversize=%s format=%s",
				c.Address, c.protocolDesc(), fr, sm, dm, c.oversize(), c.format())
		}
	} else {
		fr, max = c.resolve(ep, ep.network == "udp")
	}
	d := fmt.Sprintf("address=%s protocol=%s framing=%s max_message_bytes=%d oversize=%s format=%s",
		c.Address, c.protocolDesc(), fr, max, c.oversize(), encoding.FormatDesc(c.format(), c.Options))
	if ep.relp {
		d += fmt.Sprintf(" window=%d (acknowledged)", c.window())
	}
	return d
}

// protocolDesc names the protocol with the RFC 3164 header variant and zone.
func (c *Config) protocolDesc() string {
	p := c.protocol()
	if p != "rfc3164" {
		return p
	}
	if c.vendorHeader() {
		p += " (" + strings.ToUpper(c.format()) + " header: no tag)"
	}
	return p + " timezone=" + or(c.Timezone, DefaultTimezone)
}
