package main

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// TestEverySinkCredentialEchoedIsRedacted: a receiver (and a token
// endpoint) that echoes every request — its Authorization, its custom
// headers and its body — in its error answers, in every form a real one
// may (as sent, base64-decoded, URL-decoded, JSON-escaped, cut short),
// against every sink that holds a secret. Neither the secret nor any 8
// characters of it may reach stdout, stderr, the log file or the state
// dir, from `-once` or `validate -connect` (issue 26: HEC tokens,
// Elasticsearch Basic and API keys, OAuth2 client secrets leaked).
func TestEverySinkCredentialEchoedIsRedacted(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		var forms []string
		for k, vs := range r.Header {
			for _, v := range vs {
				forms = append(forms, k+": "+v)
				if f := strings.Fields(v); len(f) == 2 {
					if dec, err := base64.StdEncoding.DecodeString(f[1]); err == nil {
						forms = append(forms, "decoded "+string(dec))
					}
				}
			}
		}
		if dec, err := url.QueryUnescape(string(body)); err == nil {
			forms = append(forms, "form "+dec)
		}
		forms = append(forms, "body "+string(body), "cut "+string(body[:min(len(body), 40)]))
		msg, _ := json.Marshal(strings.Join(forms, " | "))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":%s,"message":%s,"text":%s,"code":4}`, msg, msg, msg)
	}))
	defer echo.Close()
	// Sentinel takes https only: the same echo over TLS, trusted by ca_file.
	echoTLS := httptest.NewTLSServer(echo.Config.Handler)
	defer echoTLS.Close()
	caFile := filepath.Join(t.TempDir(), "echo-ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: echoTLS.Certificate().Raw}), 0o644)
	secrets := map[string]string{
		"hec":      "hecTokenValue-8f3a91c2d7e64b05",
		"espass":   "esPasswordValue-27c9e1f0a4b8d3",
		"esapikey": "esApiKeyValue-91d2e7c4b0f83a6e",
		"ospass":   "osPasswordValue-5e8b2c7f1d9a04",
		"azure":    "azureClientSecret-c41f7e2a9d0b86",
		"bearer":   "httpBearerToken-0b6d3f8e2a7c19",
		"oauth":    "httpOAuthSecret-e92a4c1b7f0d58",
		"header":   "httpHeaderSecret-3f7a0e9c2b6d41",
		"otlp":     "otlpBearerToken-a8c3e1f6d2b094",
	}
	u := echo.URL
	sinks := map[string]string{
		"splunk_hec":          "  - name: s\n    type: splunk_hec\n    url: " + u + "\n    token: " + secrets["hec"] + "\n",
		"elasticsearch basic": "  - name: s\n    type: elasticsearch\n    addresses: [" + u + "]\n    username: writer\n    password: " + secrets["espass"] + "\n",
		"elasticsearch key":   "  - name: s\n    type: elasticsearch\n    addresses: [" + u + "]\n    api_key: " + secrets["esapikey"] + "\n",
		"opensearch":          "  - name: s\n    type: opensearch\n    addresses: [" + u + "]\n    username: writer\n    password: " + secrets["ospass"] + "\n",
		"sentinel": "  - name: s\n    type: sentinel\n    tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47\n    client_id: 0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n    client_secret: " + secrets["azure"] +
			"\n    endpoint: " + echoTLS.URL + "\n    dcr_immutable_id: dcr-00112233445566778899aabbccddeeff\n    authority_host: " + echoTLS.URL + "\n    tls: {ca_file: " + caFile + "}\n",
		"http bearer": "  - name: s\n    type: http\n    url: " + u + "/in\n    headers: {X-Api-Key: " + secrets["header"] + "}\n    auth: {type: bearer, token: " + secrets["bearer"] + "}\n",
		"http oauth2": "  - name: s\n    type: http\n    url: " + u + "/in\n    auth: {type: oauth2, token_url: " + u + "/token, client_id: cid, client_secret: " + secrets["oauth"] + "}\n",
		"otlp":        "  - name: s\n    type: otlp\n    endpoint: " + u + "\n    auth: {type: bearer, token: " + secrets["otlp"] + "}\n",
	}
	emu := newEmu(t, emulator.Options{Events: 20, Alerts: 2})
	for name, sink := range sinks {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := writeConfig(t, dir, emu, "log_level: VERBOSE\ntxt_file_creation: false\njson_file_creation: false\nsinks:\n"+sink)
			var seen strings.Builder
			for _, args := range [][]string{{"-c", cfg, "-once", "-timeout", "20s"}, {"-c", cfg, "validate", "-connect"}} {
				code, out, errOut := runApp(t, ctxT(t), args...)
				if code == 0 && args[2] == "-once" {
					t.Errorf("-once: exit 0 against a receiver that refuses everything")
				}
				seen.WriteString(out + errOut)
			}
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && p != cfg { // the config holds the secrets, of course
					b, _ := os.ReadFile(p)
					seen.WriteString(string(b))
				}
				return nil
			})
			all := seen.String()
			if !strings.Contains(all, "401") {
				t.Fatalf("the receiver's answer never showed (is the test exercising the echo?):\n%.2000s", all)
			}
			for _, s := range secrets {
				for i := 0; i+8 <= len(s); i++ {
					if strings.Contains(all, s[i:i+8]) {
						t.Fatalf("8 characters of a secret (%q…) reached the output:\n%.3000s", s[i:i+8], all)
					}
				}
				for _, form := range []string{base64.StdEncoding.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte("writer:" + s)), url.QueryEscape(s)} {
					if strings.Contains(all, form) {
						t.Fatalf("an encoded form of a secret reached the output: %s", form)
					}
				}
			}
		})
	}
}
