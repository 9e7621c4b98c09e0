package opensearch

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
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

// TestConfigFromYAML decodes every key strictly and validates them.
func TestConfigFromYAML(t *testing.T) {
	b, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := decode(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Addresses) != 2 || c.Username != "sophos_writer" || c.Index != "sophos-${stream}-%Y.%m.%d" || c.OpType != "create" ||
		c.MaxBytes != 5<<20 || c.Concurrency != 4 || c.Pipeline != "sophos-enrich" || !c.Setup ||
		c.Timeout.D() != 90*time.Second || c.TLS.ServerName != "os.example" {
		t.Fatalf("decoded %+v", c)
	}
	// Elasticsearch-only keys are unknown here.
	if _, err := decode(t, "cloud_id: x:y\n"); err == nil || !strings.Contains(err.Error(), "cloud_id") {
		t.Fatalf("cloud_id accepted: %v", err)
	}
}

// TestConfigDefaults: the defaults are valid and are the elasticsearch
// sink's.
func TestConfigDefaults(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Index != "sophos-${stream}" || c.OpType != "index" || c.Format != "ecs" || c.MaxBytes != 10<<20 ||
		c.Concurrency != 0 || c.Request.Concurrency != httpout.Adaptive || c.Timeout.D() != 60*time.Second || c.addresses()[0] != "http://127.0.0.1:9200" {
		t.Fatalf("defaults %+v", c)
	}
}

// TestConfigInvalid names each bad key and the fix.
func TestConfigInvalid(t *testing.T) {
	for src, want := range map[string]string{
		"addresses: [os.example:9200]\n": `"os.example:9200" is not an http(s) URL`,
		"username: u\n":                  "username and password go together",
		"op_type: upsert\n":              `"upsert" is not index or create`,
		"index: 'a-%H'\n":                "only %Y, %m and %d are expanded",
		"concurrency: 65\n":              "use 1 to 64",
		"max_bytes: 10\n":                "use at least 1KiB",
		"format: xml\n":                  `"xml" is not one of`,
		"tls: {ca_file: /nonexistent}\n": "tls",
		"pipeline: 'two words'\n":        "not an ingest pipeline id",
		"timeout: 0s\n":                  "must be positive",
	} {
		c, err := decode(t, src)
		if err != nil {
			t.Fatalf("%s: decode: %v", src, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Validate = %v, want %q", strings.TrimSpace(src), err, want)
		}
	}
	// request.concurrency is checked as it is decoded, naming the key once
	_, err := decode(t, "request: {concurrency: 0}\n")
	if err == nil || !strings.Contains(err.Error(), `sinks[0].request.concurrency: "0" is not adaptive or a number from 1 to 64`) {
		t.Errorf("request.concurrency 0: %v", err)
	}
}
