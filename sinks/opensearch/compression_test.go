package opensearch

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestBulkCompression: _bulk bodies go gzip'd by default (Content-Encoding:
// gzip), and the node — the real OpenSearch as well as the test server —
// indexes every document of them; compression: none sends them as they
// are. A proxy in front of the node records each _bulk request's encoding.
func TestBulkCompression(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		for _, tc := range []struct{ compression, want string }{{"", "gzip"}, {"none", ""}} {
			name := tc.compression
			if name == "" {
				name = "default"
			}
			t.Run(name, func(t *testing.T) {
				var mu sync.Mutex
				encodings := map[string]int{}
				up, _ := url.Parse(tg.url)
				proxy := httputil.NewSingleHostReverseProxy(up)
				front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/_bulk") {
						mu.Lock()
						encodings[r.Header.Get("Content-Encoding")]++
						mu.Unlock()
					}
					proxy.ServeHTTP(w, r)
				}))
				defer front.Close()
				via := tg
				via.url = front.URL
				c := via.config(name + "-${stream}")
				if tc.compression != "" {
					c.Compression = tc.compression
				}
				s := via.sink(t, c)
				recs := records(t, tg.run+name, 600)
				writeBatches(t, s, recs, 300)
				docs := tg.docs(t)
				n := 0
				for _, r := range recs {
					if h, ok := docs[r.ID]; ok && h.Version == 1 && h.Index == tg.prefix+name+"-"+string(r.Stream) {
						n++
					}
				}
				if n != len(recs) {
					t.Fatalf("%d of %d documents indexed", n, len(recs))
				}
				mu.Lock()
				defer mu.Unlock()
				if len(encodings) != 1 || encodings[tc.want] == 0 {
					t.Fatalf("_bulk requests by Content-Encoding %v, want all %q", encodings, tc.want)
				}
			})
		}
	})
}
