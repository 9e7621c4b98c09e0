package elasticsearch

import (
	"os"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
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
	if len(c.Addresses) != 2 || c.Username != "sophos_writer" || c.Index != "sophos-${stream}-%Y.%m.%d" ||
		c.MaxBytes != 5<<20 || c.Concurrency != 4 || c.Pipeline != "sophos-enrich" || !c.Setup ||
		c.Timeout.D() != 90*time.Second || c.TLS.ServerName != "es.example" {
		t.Fatalf("decoded %+v", c)
	}
	// a typo is refused with a suggestion
	var bad yaml.Node
	_ = yaml.Unmarshal([]byte("adresses: [http://x:9200]\n"), &bad)
	c = DefaultConfig()
	if err := config.DecodeStrict(&bad, &c, "sinks[0]"); err == nil || !strings.Contains(err.Error(), `did you mean "addresses"`) {
		t.Fatalf("typo: %v", err)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Format != "integration" || c.OpType != "create" || c.IDMode != "fingerprint" ||
		c.Index != "logs-sophos_central.${stream}-default" || c.where() != "https://127.0.0.1:9200" {
		t.Fatalf("defaults %+v at %s", c, c.where())
	}
	// other formats: sophos-${stream}, op_type index, the record id
	c = DefaultConfig()
	c.Format = "ecs"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.OpType != "index" || c.IDMode != "id" || c.Index != "sophos-${stream}" {
		t.Fatalf("ecs defaults %+v", c)
	}
	// the namespace names the data streams
	c = DefaultConfig()
	c.Namespace = "prod"
	if err := c.Validate(); err != nil || c.Index != "logs-sophos_central.${stream}-prod" {
		t.Fatalf("namespace prod: %v %s", err, c.Index)
	}
}

func TestIntegrationFormatRules(t *testing.T) {
	for _, tc := range []struct {
		mod  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Index = "sophos-${stream}" }, "index: format integration writes to the integration's data streams"},
		{func(c *Config) { c.OpType = "index" }, "op_type: format integration writes to data streams, which take only op_type create"},
		{func(c *Config) { c.Namespace = "my-ns" }, `namespace: "my-ns" must not contain -`},
		{func(c *Config) { c.Namespace = "Prod" }, "must be lowercase"},
		{func(c *Config) { c.IDMode = "uuid" }, `id_mode: "uuid" is not id or fingerprint`},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
}

func TestValidateNamesKeyAndFix(t *testing.T) {
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Addresses = []string{"es:9200"} }, "addresses[0]: \"es:9200\" is not an http(s) URL"},
		{func(c *Config) { c.Addresses = []string{"http://u:secret@es:9200", "ftp://u:pw2@x"} }, "addresses[1]: \"ftp://x\""},
		{func(c *Config) { c.CloudID = "dep:abc"; c.Addresses = []string{"http://x:9200"} }, "cloud_id: set either addresses or cloud_id"},
		{func(c *Config) { c.Username = "u" }, "password: username and password go together"},
		{func(c *Config) { c.APIKey = "k"; c.Username, c.Password = "u", "p" }, "api_key: use either api_key or username/password"},
		{func(c *Config) { c.Index = "Sophos-${stream}" }, "index: \"Sophos-${stream}\": Elasticsearch index names must be lowercase"},
		{func(c *Config) { c.Index = "sophos-%H" }, "only %Y, %m and %d"},
		{func(c *Config) { c.Index = "sophos-${host}" }, "only ${stream} and ${tenant}"},
		{func(c *Config) { c.Index = "_sophos" }, "must not start with _"},
		{func(c *Config) { c.Index = "a b" }, "must not contain"},
		{func(c *Config) { c.OpType = "upsert" }, "op_type: \"upsert\" is not index or create"},
		{func(c *Config) { c.Format = "xml" }, "format: \"xml\" is not one of raw, ecs"},
		{func(c *Config) { c.MaxBytes = 10 }, "max_bytes: 10 is too small"},
		{func(c *Config) { c.Concurrency = 65 }, "concurrency: 65 is out of range"},
		{func(c *Config) { c.Concurrency, c.Request.Concurrency = 2, 3 }, "concurrency: 2 and request.concurrency 3 disagree"},
		{func(c *Config) { c.Timeout = 0 }, "timeout: must be positive"},
		{func(c *Config) { c.Compression = "zstd" }, "compression: \"zstd\" is not gzip or none"},
		{func(c *Config) { c.CompressionLevel = 10 }, "compression_level: 10 is not a gzip level"},
		{func(c *Config) { c.TLS.CertFile = "x.pem" }, "tls.key_file: cert_file and key_file must be given together"},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
		if err != nil && (strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "pw2")) {
			t.Errorf("credentials in %v", err)
		}
	}
}

func TestIndexExpansion(t *testing.T) {
	rec := func(stream pipeline.Stream, tenant, when, created string) *pipeline.Record {
		return &pipeline.Record{Stream: stream, Tenant: tenant, ID: "x", When: when, CreatedAt: created}
	}
	cases := []struct {
		index string
		r     *pipeline.Record
		want  string
	}{
		{"sophos-${stream}", rec(pipeline.Alerts, "t", "", ""), "sophos-alert"},
		{"sophos-${stream}-%Y.%m.%d", rec(pipeline.Events, "t", "2024-01-02T23:30:00.000Z", ""), "sophos-event-2024.01.02"},
		// device time with an offset: the UTC date is the next day
		{"s-%Y%m%d", rec(pipeline.Events, "t", "2024-12-31T23:30:00-02:00", ""), "s-20250101"},
		// no parseable when: created_at
		{"s-%Y.%m", rec(pipeline.Events, "t", "garbage", "2023-07-09T01:00:00Z"), "s-2023.07"},
		// tenant ids are lowercased (index names must be)
		{"s-${tenant}-${stream}", rec(pipeline.Alerts, "AbC-1", "", ""), "s-abc-1-alert"},
		{"fixed", rec(pipeline.Alerts, "t", "", ""), "fixed"},
	}
	for _, tc := range cases {
		ix, err := parseIndex(tc.index)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(ix.append(nil, tc.r)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.index, got, tc.want)
		}
	}
	// neither time parses: today's date
	ix, _ := parseIndex("s-%Y.%m.%d")
	if got, want := string(ix.append(nil, rec(pipeline.Events, "t", "", ""))), "s-"+time.Now().UTC().Format("2006.01.02"); got != want {
		t.Errorf("no time: %s, want %s", got, want)
	}
	for in, want := range map[string]string{
		"sophos-${stream}-%Y.%m.%d":  "sophos-*-*.*.*",
		"sophos-${stream}":           "sophos-*",
		"logs-sophos.${stream}-%Y%m": "logs-sophos.*-*",
		"fixed-index":                "fixed-index",
	} {
		ix, _ := parseIndex(in)
		if got := ix.pattern(); got != want {
			t.Errorf("pattern(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestTemplateBody(t *testing.T) {
	b := string(templateBody("sophos-*", false, featuresFor("8.19.7")))
	for _, want := range []string{`"index_patterns":["sophos-*"]`, `"priority":200`, `"@timestamp":{"type":"date"}`,
		`"ip":{"ignore_malformed":true,"type":"ip"}`, `"match_mapping_type":"string"`, `"date_detection":false`,
		`"total_fields":{"ignore_dynamic_beyond_limit":true,"limit":2000}`, `"path_match":"sophos_central.alert.data.*_at"`} {
		if !strings.Contains(b, want) {
			t.Errorf("template lacks %s: %s", want, b)
		}
	}
	ds := string(templateBody("x", true, featuresFor("8.11.0")))
	if strings.Contains(b, "data_stream") || !strings.Contains(ds, `"data_stream":{}`) {
		t.Error("data_stream only for op_type create")
	}
	if strings.Contains(b, "lifecycle") || !strings.Contains(ds, `"lifecycle":{"enabled":true}`) || strings.Contains(ds, "ignore_dynamic_beyond_limit") {
		t.Errorf("8.11 data stream template: %s", ds)
	}
	old := string(templateBody("x", true, featuresFor("8.10.4")))
	if strings.Contains(old, "lifecycle") {
		t.Errorf("8.10 has no template lifecycle: %s", old)
	}
}

func TestSetupRules(t *testing.T) {
	c := ecsConfig()
	c.Setup, c.Index = true, "${tenant}-${stream}"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no literal prefix") {
		t.Errorf("got %v", err)
	}
	c = DefaultConfig()
	c.Setup = true
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "installs its own templates") {
		t.Errorf("got %v", err)
	}
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"sophos-*", "sophos-event-*", true}, {"sophos-*", "logs-*-*", false}, {"logs-sophos-*", "logs-*-*", true}, {"a-*", "b-*", false}} {
		if got := patternsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("overlap(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}
