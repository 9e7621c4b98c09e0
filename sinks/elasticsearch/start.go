package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// Start checks the cluster (GET /: reachable, credentials accepted, the
// X-Elastic-Product header the client requires) and, with setup: true,
// installs the index or data stream template.
func (s *Sink) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout.D())
	defer cancel()
	res, err := esapi.InfoRequest{}.Do(ctx, s.client)
	if err != nil {
		return s.startError(err)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("elasticsearch %s: reading GET /: %w", s.where, err)
	}
	switch res.StatusCode {
	case http.StatusOK:
	case http.StatusForbidden:
		return fmt.Errorf("elasticsearch %s: GET / forbidden (403): the user needs the monitor cluster privilege (and index, auto_configure on %q): %s",
			s.where, s.index.pattern(), strings.Join(nonEmpty(errorReason(body)), ": "))
	default:
		return s.statusError("health check GET /", res.StatusCode, body, 0)
	}
	version := rawjson.String(rawjson.Get(body, "version", "number"))
	if s.product != "" {
		// Another product's client does no product check: do it here.
		if d := rawjson.String(rawjson.Get(body, "version", "distribution")); d != s.product {
			return fmt.Errorf("%s %s: GET / reports distribution %q (version %s), not %s: check addresses (for Elasticsearch use sink type elasticsearch)",
				s.product, s.where, d, version, s.product)
		}
		s.log.Info(s.product+": connected", "cluster", rawjson.String(rawjson.Get(body, "cluster_name")),
			"version", version, "at", s.where, "index", s.cfg.Index, "op_type", s.cfg.OpType)
	} else {
		s.log.Info("elasticsearch: connected", "cluster", rawjson.String(rawjson.Get(body, "cluster_name")),
			"version", version, "at", s.where, "index", s.cfg.Index, "op_type", s.cfg.OpType)
	}
	if major, _, _ := strings.Cut(version, "."); s.product == "" && major != "" && atoi(major) < 8 {
		s.log.Warn("elasticsearch: this sink is built for Elasticsearch 8.x", "version", version)
	}
	if s.cfg.Setup {
		return s.setup(ctx)
	}
	return nil
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// startError explains a failed health check.
func (s *Sink) startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "not Elasticsearch"):
		return s.transportError("health check", err)
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "deadline exceeded") ||
		strings.Contains(msg, "network is unreachable"):
		return fmt.Errorf("elasticsearch %s is unreachable (%v): check addresses (or cloud_id) and that the cluster is up and listening", s.where, err)
	}
	return s.transportError("health check GET /", err)
}

// setup installs the template: an index template for op_type index, a data
// stream template for op_type create, with the ECS mappings.
func (s *Sink) setup(ctx context.Context) error {
	name := s.templateName()
	body := templateBody(s.index.pattern(), s.create)
	res, err := esapi.IndicesPutIndexTemplateRequest{Name: name, Body: bytes.NewReader(body)}.Do(ctx, s.client)
	if err != nil {
		return s.transportError("installing index template "+name, err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		err := s.statusError("installing index template "+name, res.StatusCode, rb, len(body))
		return fmt.Errorf("%w (setup: true needs the manage_index_templates cluster privilege; or install it yourself and set setup: false)", err)
	}
	kind := "index template"
	if s.create {
		kind = "data stream template"
	}
	s.log.Info("elasticsearch: installed "+kind, "template", name, "pattern", s.index.pattern())
	return nil
}

// templateName is "sophos-connect-<sink name>", in the characters
// Elasticsearch allows.
func (s *Sink) templateName() string {
	var b strings.Builder
	b.WriteString("sophos-connect-")
	for _, c := range strings.ToLower(s.name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
