package syslog

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

func TestConfigFromYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := config.DecodeStrict(&n, &c, "sinks[0]", config.CommonKeys...); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Protocol != "rfc3164" || c.Framing != "lf" || c.SeverityMap["high"] != "crit" || !c.CEFStrict ||
		c.MaxMessageBytes != 8192 || c.Oversize != "dead_letter" || c.Timezone != "utc" || c.WriteTimeout.D() != time.Minute || c.TLS.ServerName != "siem.example" || c.SDID != "acme@12345" {
		t.Errorf("decoded %+v", c)
	}
	s, err := New("soc", c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.f.framing != framingLF || s.f.max != 8192 || s.f.facility != 23 || s.f.sev.of("low") != 6 || s.f.sev.of("medium") != 4 ||
		s.f.sev.of("odd") != 4 || s.f.appName != "sophos" || !s.f.rfc3164 || !s.f.deadOver || s.f.loc != time.UTC || s.tls == nil || s.tls.ServerName != "siem.example" {
		t.Errorf("sink set up as %+v", s.f)
	}

	n.Content[0].Content = append(n.Content[0].Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "adress", Line: 99}, &yaml.Node{Kind: yaml.ScalarNode, Value: "x"})
	if err := config.DecodeStrict(&n, &c, "sinks[0]"); err == nil || !strings.Contains(err.Error(), `did you mean "address"`) {
		t.Errorf("unknown key: %v", err)
	}
}

// TestDefaults: the defaults every receiver reads (issue 18): lf on plain
// tcp, octet counting on TLS (RFC 5425), 8192 on datagrams, 65535 on
// streams; cef in RFC 3164 with the CEF header; other formats in RFC 5424.
func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		addr, format string
		framing      string
		max          int
		rfc3164, cef bool
		desc         string
	}{
		{"tcp://127.0.0.1:514", "raw", framingLF, 65535, false, false,
			"address=tcp://127.0.0.1:514 protocol=rfc5424 framing=lf max_message_bytes=65535 oversize=truncate format=raw"},
		{"tcp+tls://127.0.0.1:6514", "raw", framingOctet, 65535, false, false,
			"address=tcp+tls://127.0.0.1:6514 protocol=rfc5424 framing=octet-counting max_message_bytes=65535 oversize=truncate format=raw"},
		{"udp://127.0.0.1", "raw", framingNone, 8192, false, false,
			"address=udp://127.0.0.1 protocol=rfc5424 framing=none max_message_bytes=8192 oversize=truncate format=raw"},
		{"tcp://127.0.0.1:514", "", framingLF, 65535, true, true,
			"address=tcp://127.0.0.1:514 protocol=rfc3164 (CEF header: no tag) timezone=local framing=lf max_message_bytes=65535 oversize=truncate format=cef"},
		{"udp://127.0.0.1", "keyvalue", framingNone, 8192, false, false, ""},
		{"relp://127.0.0.1", "", framingNone, 8192, true, true,
			"address=relp://127.0.0.1 protocol=rfc3164 (CEF header: no tag) timezone=local framing=none max_message_bytes=8192 oversize=truncate format=cef window=128 (acknowledged)"},
		{"unix:///dev/log", "", framingLF, 65535, true, true,
			"address=unix:///dev/log protocol=rfc3164 (CEF header: no tag) timezone=local framing=lf (stream) / none (datagram) max_message_bytes=65535 (stream) / 8192 (datagram) oversize=truncate format=cef"},
	} {
		c := DefaultConfig()
		c.Address = tt.addr
		if tt.format != "" {
			c.Format = tt.format
		}
		s, err := New("d", c, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.addr, err)
		}
		if s.f.framing != tt.framing || s.f.max != tt.max || s.f.appName != "sophos-connect" || s.f.facility != 20 ||
			s.f.sdID != "sophos@32473" || s.f.rfc3164 != tt.rfc3164 || s.f.cefHead != tt.cef || s.f.hostname == "" || s.f.loc != time.Local {
			t.Errorf("%s %s: %+v", tt.addr, tt.format, s.f)
		}
		if s.ep.tls != strings.HasPrefix(tt.addr, "tcp+tls") {
			t.Errorf("%s: tls %v", tt.addr, s.ep.tls)
		}
		if got := c.Describe(); tt.desc != "" && got != tt.desc {
			t.Errorf("Describe:\n got %s\nwant %s", got, tt.desc)
		}
	}
	for addr, want := range map[string]string{
		"udp://127.0.0.1": "127.0.0.1:514", "tcp+tls://[::1]": "[::1]:6514", "relp://h": "h:2514", "relp+tls://h": "h:2514",
	} {
		if ep, _ := parseAddress(addr); ep.addr != want {
			t.Errorf("%s: default port gives %s, want %s", addr, ep.addr, want)
		}
	}
	c := DefaultConfig()
	c.Address, c.Timezone = "tcp://h:1", "utc"
	if s, err := New("u", c, nil); err != nil || s.f.loc != time.UTC {
		t.Errorf("timezone utc: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		edit func(*Config)
		want string // the key, then a hint of the fix
	}{
		{func(c *Config) { c.Address = "" }, "address: missing"},
		{func(c *Config) { c.Address = "http://x:1" }, `address: unknown scheme "http"`},
		{func(c *Config) { c.Address = "tcp://x:1/path" }, "address: \"tcp://x:1/path\": write tcp://host:port"},
		{func(c *Config) { c.Address = "unix://dev/log" }, "address: \"unix://dev/log\": write an absolute socket path"},
		{func(c *Config) { c.Protocol = "rfc5425" }, "protocol: unknown protocol"},
		{func(c *Config) { c.Framing = "nul" }, "framing: unknown framing"},
		{func(c *Config) { c.Address = "udp://x:1"; c.Framing = "lf" }, "framing: lf does not apply to udp"},
		{func(c *Config) { c.Framing = "none" }, "framing: none would glue messages"},
		{func(c *Config) { c.Facility = "local8" }, `facility: unknown facility "local8"`},
		{func(c *Config) { c.SeverityMap = map[string]string{"high": "loud"} }, `severity_map.high: unknown syslog severity "loud"`},
		{func(c *Config) { c.DefaultSeverity = "9" }, "default_severity: unknown syslog severity"},
		{func(c *Config) { c.Protocol = "rfc5424"; c.AppName = "sophos connect" }, "app_name: \"sophos connect\" is not an RFC 5424 APP-NAME"},
		{func(c *Config) { c.Protocol = "rfc3164"; c.AppName = "a:b" }, "app_name: \"a:b\" is not an RFC 3164 tag"},
		{func(c *Config) { c.Hostname = "my host" }, "hostname: \"my host\" is not a syslog hostname"},
		{func(c *Config) { c.SDID = "sophos" }, "sd_id: \"sophos\" is not an enterprise SD-ID"},
		{func(c *Config) { c.Format = "xml" }, `format: unknown format "xml"`},
		{func(c *Config) { c.TLS.ServerName = "x" }, "tls: applies to tcp+tls:// and relp+tls:// addresses only"},
		{func(c *Config) { c.Address = "tcp+tls://x:1"; c.TLS.CertFile = "c.pem" }, "tls.key_file: cert_file and key_file must be given together"},
		{func(c *Config) { c.MaxMessageBytes = 100 }, "max_message_bytes: 100 is too small"},
		{func(c *Config) { c.Address = "udp://x:1"; c.MaxMessageBytes = 70000 }, "max_message_bytes: 70000 exceeds the largest UDP datagram"},
		{func(c *Config) { c.DialTimeout = -1 }, "dial_timeout: must not be negative"},
		{func(c *Config) { c.Timezone = "CET" }, `timezone: unknown timezone "CET": use local or utc`},
		{func(c *Config) { c.Oversize = "drop" }, `oversize: unknown value "drop": use truncate or dead_letter`},
		{func(c *Config) { c.Window = 8 }, "window: applies to relp:// addresses only"},
		{func(c *Config) { c.Address = "relp://x"; c.Window = -1 }, "window: -1 is out of range"},
		{func(c *Config) { c.Address = "relp://x"; c.Framing = "lf" }, "framing: lf does not apply to relp"},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.Address = "tcp://127.0.0.1:514"
		tt.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("want %q, got %v", tt.want, err)
		}
		if _, nerr := New("x", c, nil); nerr == nil {
			t.Errorf("New accepted a config Validate refuses (%s)", tt.want)
		}
	}
}
