// Package elasticsearch is the Elasticsearch sink: it indexes records as
// documents through the _bulk API with the go-elasticsearch v8 client
// (transport, auth, TLS, product check), building the NDJSON bodies itself
// so that only the items a bulk response marks as failed are retried.
//
// Each document's _id is the record's stable id, so a replay overwrites
// (op_type index) or is refused with 409 (op_type create, data streams),
// never duplicated. Per-item outcomes: 2xx and 409-on-create are delivered;
// 429 and 5xx are returned for retry in a *pipeline.BatchError; other 4xx
// (mapping errors) are returned as pipeline.Permanent with the cluster's
// reason, so the pipeline dead-letters them. A failed request as a whole
// (429, 5xx, network) fails the batch with a plain error.
package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sophos-connect/sophos-connect/internal/useragent"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes records to Elasticsearch. Write is called by one goroutine at
// a time (the pipeline's sink worker); it may run several bulk requests of
// one batch concurrently.
type Sink struct {
	name   string
	cfg    Config
	log    *slog.Logger
	client esapi.Transport // the v8 client, or another product's (Backend)
	close  func(ctx context.Context) error
	// product is "" for Elasticsearch, else the distribution GET / must
	// report (Backend.Distribution).
	product string
	index   indexName
	create  bool
	where   string

	lim              *httpout.Limiter // every request of the client passes it
	httpout.Requests                  // the limiter's metrics
	workersMu        sync.Mutex
	idle             []*worker // workers not in a Write, each with its encoder
	// lastBytes is the bulk body bytes of the last Write (benchmarks, which
	// write one batch at a time)
	lastBytes atomic.Int64

	lastPrivLog atomic.Int64 // unix ns of the last per-item 403 ERROR
}

// Backend is another product's client for the same REST API: the opensearch
// sink runs this sink's bulk, classification and templates on the
// opensearch-go client.
type Backend struct {
	// Transport performs the requests (addresses, auth, TLS, retries).
	Transport esapi.Transport
	// Close releases its connections.
	Close func() error
	// Distribution is what GET / must report as version.distribution,
	// e.g. "opensearch".
	Distribution string
	// Limiter is the one Transport's requests pass (LimitedTransport).
	Limiter *httpout.Limiter
}

// NewOn builds the sink on another product's client; c is validated as
// for New (cloud_id and api_key do not apply).
func NewOn(name string, c Config, log *slog.Logger, b Backend) (*Sink, error) {
	s, err := buildSink(name, c, log)
	if err != nil {
		return nil, err
	}
	s.client, s.product = b.Transport, b.Distribution
	if b.Limiter != nil {
		s.lim, s.Requests.Limiter = b.Limiter, b.Limiter
	}
	s.close = func(context.Context) error { return b.Close() }
	return s, nil
}

// New builds the sink and its client; it does not contact the cluster
// (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	s, err := buildSink(name, c, log)
	if err != nil {
		return nil, err
	}
	tr, err := HTTPTransport(c)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink %q: %w", name, err)
	}
	addrs := c.Addresses
	if len(addrs) == 0 && c.CloudID == "" {
		addrs = c.addresses()
	}
	ec := es.Config{
		Addresses: addrs,
		CloudID:   c.CloudID,
		Username:  c.Username,
		Password:  c.Password.Value(),
		APIKey:    c.APIKey.Value(),
		Transport: useragent.Transport(s.lim.Transport(tr)),
		// The pipeline owns retries with backoff. The client only fails
		// over to the next node (network errors, 502/503/504), once per node.
		DisableRetry:  len(addrs) <= 1,
		MaxRetries:    max(len(addrs)-1, 1),
		RetryOnStatus: []int{502, 503, 504},
	}
	client, err := es.NewClient(ec)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink %q: %w", name, err)
	}
	s.client = client
	s.close = func(ctx context.Context) error {
		if err := client.Close(ctx); err != nil && !errors.Is(err, es.ErrAlreadyClosed) {
			return err
		}
		return nil
	}
	return s, nil
}

// HTTPTransport is the HTTP transport a sink for c uses: its TLS settings,
// an idle connection for each request that may be in flight, and the
// response timeout. Wrap it with LimitedTransport.
func HTTPTransport(c Config) (*http.Transport, error) {
	tlsConf, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = httpout.MaxConcurrency
	tr.ResponseHeaderTimeout = c.Timeout.D()
	return tr, nil
}

// buildSink builds everything but the client.
func buildSink(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("elasticsearch sink %q: %w", name, err)
	}
	ix, _ := parseIndex(c.Index)
	lim := httpout.NewLimiter(c.RequestConcurrency())
	s := &Sink{
		name:     name,
		cfg:      c,
		log:      log,
		lim:      lim,
		Requests: httpout.Requests{Limiter: lim, Sink: name},
		index:    ix,
		create:   c.OpType == "create",
		where:    c.where(),
	}
	w, err := s.getWorker()
	if err != nil {
		return nil, fmt.Errorf("elasticsearch sink %q: format: %w", name, err)
	}
	s.putWorker(w)
	if s.create && c.Format != "ecs" && c.Format != "integration" {
		s.log.Warn("elasticsearch: op_type create (data streams) needs an @timestamp field, which only formats ecs and integration write", "format", c.Format)
	}
	return s, nil
}

// LimitedTransport is tr behind the limiter of a sink for c: what NewOn's
// Backend.Transport is built on, with Backend.Limiter the limiter.
func LimitedTransport(c Config, tr http.RoundTripper) (http.RoundTripper, *httpout.Limiter) {
	lim := httpout.NewLimiter(c.RequestConcurrency())
	return lim.Transport(tr), lim
}

// getWorker takes an idle worker, or makes one (with its encoder) when
// every worker is busy with a part of a batch: the parts of all the
// batches in Write at once. Give it back with putWorker.
func (s *Sink) getWorker() (*worker, error) {
	s.workersMu.Lock()
	if n := len(s.idle); n > 0 {
		w := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.workersMu.Unlock()
		return w, nil
	}
	s.workersMu.Unlock()
	c := s.cfg
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, Logger: s.log,
		ECSExtras: c.ECSExtras, PreserveOriginalEvent: c.PreserveOriginalEvent,
		PreserveDuplicateCustomFields: c.PreserveDuplicateCustomFields, Namespace: c.Namespace, OCSF: c.OCSF})
	if err != nil {
		return nil, err
	}
	return &worker{enc: enc}, nil
}

func (s *Sink) putWorker(w *worker) {
	s.workersMu.Lock()
	s.idle = append(s.idle, w)
	s.workersMu.Unlock()
}

// Close releases the client's connections.
func (s *Sink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.close(ctx)
}

var _ pipeline.Sink = (*Sink)(nil)
