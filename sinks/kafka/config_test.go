package kafka

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
)

func decode(t *testing.T, src string) (Config, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	err := config.DecodeStrict(&n, &c, "sinks[0]", config.CommonKeys...)
	return c, err
}

// TestConfigFile decodes testdata/config.yaml over the defaults and
// validates it.
func TestConfigFile(t *testing.T) {
	src, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decode(t, strings.ReplaceAll(string(src), "${KAFKA_PASSWORD}", "pw"))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := Config{
		Brokers: []string{"127.0.0.1:9092", "kafka2.example:9093"}, Topic: "sophos-${stream}-${tenant}", Key: "id", Format: "raw",
		Compression: "zstd", RequiredAcks: "one", MaxInFlight: 8, BatchBytes: 512 << 10,
		WriteTimeout: config.Duration(30 * time.Second), ClientID: "soc-collector",
		TopicMissingTimeout: config.Duration(10 * time.Minute),
		TLS:                 &config.TLS{ServerName: "kafka.example"},
		SASL:                SASL{Mechanism: "scram-sha-512", Username: "collector", Password: "pw"},
	}
	want.CEFStrict = true
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", c, want)
	}
}

// TestConfigDefaults: the defaults plus brokers and topic are valid, and
// match the SPEC's example (key id, raw, snappy, acks all).
func TestConfigDefaults(t *testing.T) {
	c, err := decode(t, "brokers: [127.0.0.1:9092]\ntopic: sophos-${stream}\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.Key != "id" || c.Format != "raw" || c.Compression != "snappy" || c.RequiredAcks != "all" || c.TLS != nil || c.SASL.Mechanism != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigUnknownKey(t *testing.T) {
	_, err := decode(t, "brokers: [a:1]\ntopic: t\ncompresion: gzip\n")
	if err == nil || !strings.Contains(err.Error(), `sinks[0].compresion: unknown key (did you mean "compression"?)`) {
		t.Fatalf("decode: %v", err)
	}
}

// TestConfigInvalid: each bad value is reported under its key with the fix.
func TestConfigInvalid(t *testing.T) {
	cases := []struct{ yaml, key, msg string }{
		{"topic: t", "brokers", "missing: list the bootstrap brokers"},
		{"brokers: [kafka]\ntopic: t", "brokers[0]", "is not host:port"},
		{"brokers: [kafka:99999]\ntopic: t", "brokers[0]", "port must be a number"},
		{"brokers: [a:1]", "topic", "missing: name the topic"},
		{"brokers: [a:1]\ntopic: 'sophos events'", "topic", "may only contain letters"},
		{"brokers: [a:1]\ntopic: t\nkey: data..x", "key", "use id (default), tenant, type, stream"},
		{"brokers: [a:1]\ntopic: t\nformat: xml", "format", "unknown format"},
		{"brokers: [a:1]\ntopic: t\ncompression: brotli", "compression", "use one of none, gzip, snappy, lz4, zstd"},
		{"brokers: [a:1]\ntopic: t\nrequired_acks: 2", "required_acks", "use one of none, one, all"},
		{"brokers: [a:1]\ntopic: t\nmax_in_flight: 0", "max_in_flight", "between 1 and 64"},
		{"brokers: [a:1]\ntopic: t\nbatch_bytes: 10", "batch_bytes", "between 1KiB and 64MiB"},
		{"brokers: [a:1]\ntopic: t\nwrite_timeout: 1ms", "write_timeout", "at least 100ms"},
		{"brokers: [a:1]\ntopic: t\ntls: {ca_file: /nonexistent/ca.pem}", "tls.ca_file", "cannot read /nonexistent/ca.pem"},
		{"brokers: [a:1]\ntopic: t\nsasl: {mechanism: gssapi, username: u, password: p}", "sasl.mechanism", "use one of plain, scram-sha-256, scram-sha-512"},
		{"brokers: [a:1]\ntopic: t\nsasl: {username: u, password: p}", "sasl.mechanism", "no mechanism"},
		{"brokers: [a:1]\ntopic: t\nsasl: {mechanism: plain, password: p}", "sasl.username", "missing"},
		{"brokers: [a:1]\ntopic: t\nsasl: {mechanism: plain, username: u}", "sasl.password", "missing"},
	}
	for _, tc := range cases {
		c, err := decode(t, tc.yaml)
		if err != nil {
			t.Fatalf("%q: decode: %v", tc.yaml, err)
		}
		err = c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: Validate: %v, want %s: ...%s...", tc.yaml, err, tc.key, tc.msg)
		}
	}
}

// TestPasswordNeverShown: printing or logging the config, or the sink's
// ready message, never shows the SASL password.
func TestPasswordNeverShown(t *testing.T) {
	c := DefaultConfig()
	c.Brokers, c.Topic = []string{"127.0.0.1:1"}, "t"
	c.SASL = SASL{Mechanism: "scram-sha-256", Username: "u", Password: "hunter2-secret"}
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("config", "sasl", c.SASL, "cfg", c)
	s, err := New("bus", c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := fmt.Sprintf("%v %+v %#v %s", c, c, c, c.SASL) + logs.String() + fmt.Sprintf("%v %#v", s.tr.SASL, s.tr.SASL)
	c.SASL.Mechanism = "plain"
	out += fmt.Sprintf("%v %+v %#v", c.SASL.Client(), c.SASL.Client(), c.SASL.Client())
	if strings.Contains(out, "hunter2") {
		t.Fatalf("password shown: %s", out)
	}
}
