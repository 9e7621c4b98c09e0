package opensearch

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/opensearch-project/opensearch-go/v4"

	"github.com/sophos-connect/sophos-connect/internal/useragent"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch"
)

// New builds the sink: the elasticsearch sink on an opensearch-go client.
// It does not contact the cluster; Start checks that GET / reports
// distribution "opensearch" (and installs the template with setup: true).
func New(name string, c Config, log *slog.Logger) (*elasticsearch.Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("opensearch sink %q: %w", name, err)
	}
	ec := c.es()
	tr, err := elasticsearch.HTTPTransport(ec)
	if err != nil {
		return nil, fmt.Errorf("opensearch sink %q: %w", name, err)
	}
	addrs := c.addresses()
	limited, lim := elasticsearch.LimitedTransport(ec, tr)
	client, err := opensearch.NewClient(opensearch.Config{
		Addresses: addrs,
		Username:  c.Username,
		Password:  c.Password.Value(),
		Transport: useragent.Transport(limited),
		// The pipeline owns retries with backoff; the client only fails
		// over to the next node (network errors, 502/503/504), once per node.
		DisableRetry:  len(addrs) <= 1,
		MaxRetries:    max(len(addrs)-1, 1),
		RetryOnStatus: []int{502, 503, 504},
		// No background requests of its own.
		HealthCheckMaxRetries: -1,
	})
	if err != nil {
		return nil, fmt.Errorf("opensearch sink %q: %w", name, err)
	}
	return elasticsearch.NewOn(name, ec, log, elasticsearch.Backend{
		Transport:    streamer{client},
		Close:        client.Close,
		Distribution: "opensearch",
		Limiter:      lim,
	})
}

// streamer performs requests through opensearch-go's transport (node
// selection, auth, failover), leaving the response body to the caller as
// the elasticsearch sink expects.
type streamer struct{ c *opensearch.Client }

func (s streamer) Perform(r *http.Request) (*http.Response, error) { return s.c.Stream(r) }
