package splunkhec

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/config"
)

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.URL, c.Token = "https://splunk.example:8088", "abc"
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.URL = "" }, "url: missing"},
		{func(c *Config) { c.URL = "splunk:8088" }, "not an http(s) URL"},
		{func(c *Config) { c.URL = "https://u:p@splunk:8088" }, "must not carry credentials"},
		{func(c *Config) { c.Token = "" }, "token: missing"},
		{func(c *Config) { c.Format = "xml" }, `"xml" is not one of`},
		{func(c *Config) { c.Compression = "zstd" }, "not gzip or none"},
		{func(c *Config) { c.MaxBytes = 10 }, "max_bytes"},
		{func(c *Config) { c.Ack = true; c.AckTimeout = config.Duration(1) }, "ack_timeout"},
	} {
		c := DefaultConfig()
		c.URL, c.Token = "https://splunk.example:8088", "abc"
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error with %q, got %v", tc.want, err)
		}
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	c := DefaultConfig()
	c.URL, c.Token = "https://splunk.example:8088", "5ecret-hec-t0ken"
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "5ecret") {
			t.Fatalf("token printed: %s", s)
		}
	}
}

// TestURLCredentialsNotEchoed: a url with user:password@ that is wrong in
// another way (scheme, host) must not print the password in validate.
func TestURLCredentialsNotEchoed(t *testing.T) {
	for _, u := range []string{"htps://admin:pw5ecret@splunk:8088", "https://admin:pw5ecret@spl unk:8088", "https://admin:pw5ecret@splunk:8088"} {
		c := DefaultConfig()
		c.URL, c.Token = u, "abc"
		err := c.Validate()
		if err == nil || strings.Contains(err.Error(), "pw5ecret") {
			t.Errorf("url %s: want an error without the password, got %v", u, err)
		}
	}
}
