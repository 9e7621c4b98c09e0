package elasticsearch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestUserAgent: requests to the cluster name the collector
// ("sophos-connect/<version>"), not the Go client library.
func TestUserAgent(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.UserAgent())
		mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/" {
			w.Write([]byte(`{"cluster_name":"c","version":{"number":"8.15.0","build_flavor":"default"},"tagline":"You Know, for Search"}`))
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := ecsConfig()
	c.Addresses = []string{srv.URL}
	_ = newSink(t, c).Start(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if len(agents) == 0 {
		t.Fatal("no request reached the server")
	}
	for _, ua := range agents {
		if !strings.HasPrefix(ua, "sophos-connect/") {
			t.Fatalf("User-Agent %q, want sophos-connect/<version>", ua)
		}
	}
}
