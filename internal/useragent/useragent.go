// Package useragent is the User-Agent every HTTP request of the collector
// carries, "sophos-connect/<version>", so a receiver's or proxy's logs show
// who is calling (Go's default is "Go-http-client/1.1", which names nobody).
package useragent

import (
	"net/http"
	"strings"
	"sync/atomic"
)

var version atomic.Value // string

// SetVersion records the binary's version (main calls it at start).
func SetVersion(v string) { version.Store(v) }

// String is "sophos-connect/<version>" ("sophos-connect/dev" before SetVersion).
func String() string {
	v, _ := version.Load().(string)
	if v == "" {
		v = "dev"
	}
	return "sophos-connect/" + v
}

// Transport wraps rt so every request carries the User-Agent. It replaces
// Go's and a client library's default (the Elasticsearch and OpenSearch
// clients') — the receiver should see the collector, not the library — but
// keeps one the operator set (an http sink's headers).
func Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return transport{rt}
}

type transport struct{ rt http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if cur := r.Header.Get("User-Agent"); cur == "" || libraryDefault(cur) {
		// A RoundTripper must not change the caller's request: copy it.
		r2 := new(http.Request)
		*r2 = *r
		r2.Header = r.Header.Clone()
		if r2.Header == nil {
			r2.Header = http.Header{}
		}
		r2.Header.Set("User-Agent", String())
		r = r2
	}
	return t.rt.RoundTrip(r)
}

// CloseIdleConnections passes through to the wrapped transport.
func (t transport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func libraryDefault(ua string) bool {
	for _, p := range []string{"Go-http-client/", "go-elasticsearch/", "opensearch-go/", "elasticsearch-go/"} {
		if strings.HasPrefix(ua, p) {
			return true
		}
	}
	return false
}
