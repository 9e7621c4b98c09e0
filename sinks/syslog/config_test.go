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
	if err := config.DecodeStrict(&n, &c, "sinks[0]"); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Protocol != "rfc3164" || c.Framing != "lf" || c.SeverityMap["high"] != "crit" || !c.CEFStrict ||
		c.MaxMessageBytes != 8192 || c.WriteTimeout.D() != time.Minute || c.TLS.ServerName != "siem.example" || c.SDID != "acme@12345" {
		t.Errorf("decoded %+v", c)
	}
	s, err := New("soc", c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.f.framing != framingLF || s.f.max != 8192 || s.f.facility != 23 || s.f.sev.of("low") != 6 || s.f.sev.of("medium") != 4 ||
		s.f.sev.of("odd") != 4 || s.f.appName != "sophos" || !s.f.rfc3164 || s.tls == nil || s.tls.ServerName != "siem.example" {
		t.Errorf("sink set up as %+v", s.f)
	}

	n.Content[0].Content = append(n.Content[0].Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "adress", Line: 99}, &yaml.Node{Kind: yaml.ScalarNode, Value: "x"})
	if err := config.DecodeStrict(&n, &c, "sinks[0]"); err == nil || !strings.Contains(err.Error(), `did you mean "address"`) {
		t.Errorf("unknown key: %v", err)
	}
}

func TestDefaults(t *testing.T) {
	for addr, want := range map[string]struct {
		framing string
		max     int
	}{
		"tcp://127.0.0.1:514":      {framingOctet, 0},
		"tcp+tls://127.0.0.1:6514": {framingOctet, 0},
		"udp://127.0.0.1":          {framingNone, 2048},
	} {
		c := DefaultConfig()
		c.Address, c.Format = addr, "raw"
		s, err := New("d", c, nil)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if s.f.framing != want.framing || s.f.max != want.max || s.f.appName != "sophos-connect" || s.f.facility != 20 ||
			s.f.sdID != "sophos@32473" || s.f.rfc3164 || s.f.hostname == "" {
			t.Errorf("%s: %+v", addr, s.f)
		}
		if s.ep.tls != strings.HasPrefix(addr, "tcp+tls") {
			t.Errorf("%s: tls %v", addr, s.ep.tls)
		}
	}
	if ep, _ := parseAddress("udp://127.0.0.1"); ep.addr != "127.0.0.1:514" {
		t.Errorf("udp default port: %s", ep.addr)
	}
	if ep, _ := parseAddress("tcp+tls://[::1]"); ep.addr != "[::1]:6514" {
		t.Errorf("tls default port: %s", ep.addr)
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
		{func(c *Config) { c.AppName = "sophos connect" }, "app_name: \"sophos connect\" is not an RFC 5424 APP-NAME"},
		{func(c *Config) { c.Protocol = "rfc3164"; c.AppName = "a:b" }, "app_name: \"a:b\" is not an RFC 3164 tag"},
		{func(c *Config) { c.Hostname = "my host" }, "hostname: \"my host\" is not a syslog hostname"},
		{func(c *Config) { c.SDID = "sophos" }, "sd_id: \"sophos\" is not an enterprise SD-ID"},
		{func(c *Config) { c.Format = "xml" }, `format: unknown format "xml"`},
		{func(c *Config) { c.TLS.ServerName = "x" }, "tls: applies to tcp+tls:// addresses only"},
		{func(c *Config) { c.Address = "tcp+tls://x:1"; c.TLS.CertFile = "c.pem" }, "tls: cert_file and key_file must be given together"},
		{func(c *Config) { c.MaxMessageBytes = 100 }, "max_message_bytes: 100 is too small"},
		{func(c *Config) { c.Address = "udp://x:1"; c.MaxMessageBytes = 70000 }, "max_message_bytes: 70000 exceeds the largest UDP datagram"},
		{func(c *Config) { c.DialTimeout = -1 }, "dial_timeout: must not be negative"},
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
