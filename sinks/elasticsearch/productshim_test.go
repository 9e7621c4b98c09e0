package elasticsearch

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"
)

// No Elasticsearch 8 node can be assembled from Maven Central, so CI runs
// OpenSearch 2.19 (test/services/search.sh) as the real cluster. The v8 client
// refuses any server without the X-Elastic-Product: Elasticsearch header
// (OpenSearch does not send it), so the tests reach such a node through this
// reverse proxy, which adds the header and changes nothing else. Everything
// else the sink sends and reads (bulk, templates, data streams, errors) is
// the real node's.

// productShim returns the URL to test u through: u itself for Elasticsearch,
// a header-adding proxy (closed with the test) for OpenSearch.
func productShim(t *testing.T, u string, client *http.Client) string {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Get(u + "/")
	if err != nil {
		t.Fatalf("GET %s/: %v", u, err)
	}
	var info struct {
		Version struct{ Distribution, Number string }
	}
	_ = json.NewDecoder(res.Body).Decode(&info)
	res.Body.Close()
	if info.Version.Distribution != "opensearch" || res.Header.Get("X-Elastic-Product") != "" {
		return u
	}
	target, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	if client.Transport != nil {
		proxy.Transport = client.Transport
	}
	proxy.ModifyResponse = func(r *http.Response) error {
		r.Header.Set("X-Elastic-Product", "Elasticsearch")
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	t.Logf("%s is OpenSearch %s: testing through a proxy that adds X-Elastic-Product", u, info.Version.Number)
	return srv.URL
}
