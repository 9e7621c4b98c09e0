package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sophos-connect/sophos-connect/pipeline"
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
		// An API key limited to writing lacks the monitor privilege: the
		// cluster answered and accepted the credentials, which is what
		// this check is for; writing may still work.
		s.log.Warn("elasticsearch: GET / forbidden (403): the credentials lack the monitor cluster privilege, so the version is not checked; writing goes on",
			"at", s.where, "reason", strings.Join(nonEmpty(errorReason(body)), ": "))
		return s.checks(ctx)
	case http.StatusBadRequest:
		if bytes.Contains(body, []byte("HTTP request to an HTTPS server")) {
			return fmt.Errorf("elasticsearch %s expects TLS (it answered: %.120s): use https:// in addresses", s.where, bytes.TrimSpace(body))
		}
		return s.statusError("health check GET /", res.StatusCode, body, 0)
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
	if err := s.checks(ctx); err != nil {
		return err
	}
	if s.cfg.Setup {
		return s.setup(ctx, version)
	}
	return nil
}

// checks are the start-up checks after GET /: the integration's templates
// (format integration) and op_type index against data streams.
func (s *Sink) checks(ctx context.Context) error {
	if s.cfg.Format == "integration" {
		s.checkIntegration(ctx)
	}
	if !s.create {
		return s.checkNotDataStream(ctx)
	}
	return nil
}

// checkIntegration warns when the sophos_central integration's index
// template is missing: the documents are still valid, but stay raw
// messages in a generic logs data stream until it is installed.
func (s *Sink) checkIntegration(ctx context.Context) {
	const tmpl = "logs-sophos_central.event"
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: tmpl}.Do(ctx, s.client)
	if err != nil {
		s.log.Warn("elasticsearch: could not check for the sophos_central integration", "error", err)
		return
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		s.log.Info("elasticsearch: the sophos_central integration is installed", "template", tmpl)
	case http.StatusNotFound:
		s.log.Warn("elasticsearch: the sophos_central integration is not installed (no index template " + tmpl + "): " +
			"install its assets in Kibana (Management → Integrations → Sophos Central → Settings → Install Sophos Central assets), " +
			"or use format: ecs. Documents are written anyway, as raw messages, until it is installed")
	default:
		s.log.Warn("elasticsearch: could not check for the sophos_central integration (needs the manage_index_templates or monitor privilege)",
			"template", tmpl, "status", res.StatusCode)
	}
}

// checkNotDataStream refuses op_type index where an index name resolves to
// a data stream (an existing one, or a data stream template such as the
// built-in logs-*-*): every document would be refused.
func (s *Sink) checkNotDataStream(ctx context.Context) error {
	res, err := esapi.IndicesGetIndexTemplateRequest{}.Do(ctx, s.client)
	if err != nil {
		return nil // the writes will say what is wrong
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil // no privilege to look: the writes will tell
	}
	var out struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				IndexPatterns []string        `json:"index_patterns"`
				Priority      int             `json:"priority"`
				DataStream    json.RawMessage `json:"data_stream"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&out); err != nil {
		return nil
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, st := range []pipeline.Stream{pipeline.Alerts, pipeline.Events} {
		name := string(s.index.append(nil, &pipeline.Record{Stream: st, Tenant: "tenant", When: now}))
		if !strings.Contains(s.cfg.Index, "${tenant}") {
			if r, err := (esapi.IndicesGetDataStreamRequest{Name: []string{name}}).Do(ctx, s.client); err == nil {
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					return fmt.Errorf("elasticsearch %s: %q is a data stream, which takes only op_type create: set op_type: create, or another index", s.where, name)
				}
			}
		}
		best, prio, ds := "", -1, false
		for _, t := range out.IndexTemplates {
			for _, p := range t.IndexTemplate.IndexPatterns {
				if globMatch(p, name) && t.IndexTemplate.Priority > prio {
					best, prio, ds = t.Name, t.IndexTemplate.Priority, len(t.IndexTemplate.DataStream) > 0 && string(t.IndexTemplate.DataStream) != "null"
				}
			}
		}
		if ds {
			return fmt.Errorf("elasticsearch %s: index %q is a data stream (index template %s, priority %d), which takes only op_type create: set op_type: create, or an index name no data stream template matches", s.where, name, best, prio)
		}
	}
	return nil
}

// globMatch matches an index pattern with * wildcards.
func globMatch(pattern, name string) bool {
	for {
		i := strings.IndexByte(pattern, '*')
		if i < 0 {
			return pattern == name
		}
		if !strings.HasPrefix(name, pattern[:i]) {
			return false
		}
		name, pattern = name[i:], pattern[i+1:]
		if pattern == "" {
			return true
		}
		for j := 0; j <= len(name); j++ {
			if globMatch(pattern, name[j:]) {
				return true
			}
		}
		return false
	}
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
	case strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset"):
		return fmt.Errorf("elasticsearch %s closed the connection (%v): if it is Elasticsearch 8 with TLS on (the default), use https:// in addresses", s.where, err)
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("elasticsearch %s answers plain HTTP (%v): use http:// in addresses, or enable TLS on the cluster", s.where, err)
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "deadline exceeded") ||
		strings.Contains(msg, "network is unreachable"):
		return fmt.Errorf("elasticsearch %s is unreachable (%v): check addresses (or cloud_id) and that the cluster is up and listening", s.where, err)
	}
	return s.transportError("health check GET /", err)
}

// setup installs the template: an index template for op_type index, a data
// stream template for op_type create, with the ECS mappings.
func (s *Sink) setup(ctx context.Context, version string) error {
	name := s.templateName()
	f := featuresFor(version)
	if s.create && !f.lifecycle {
		s.log.Warn("elasticsearch: this cluster has no data stream lifecycle (before 8.11): the data streams never roll over; attach an ILM policy to template "+name, "version", version)
	}
	if err := s.checkOverlap(ctx, name); err != nil {
		return err
	}
	body := templateBody(s.index.pattern(), s.create, f)
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

// checkOverlap refuses to install a template whose patterns overlap
// another template's of the same priority: Elasticsearch refuses that with
// a 400 that does not say which; this does.
func (s *Sink) checkOverlap(ctx context.Context, name string) error {
	res, err := esapi.IndicesGetIndexTemplateRequest{}.Do(ctx, s.client)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil
	}
	var out struct {
		IndexTemplates []struct {
			Name          string `json:"name"`
			IndexTemplate struct {
				IndexPatterns []string `json:"index_patterns"`
				Priority      int      `json:"priority"`
			} `json:"index_template"`
		} `json:"index_templates"`
	}
	if json.NewDecoder(io.LimitReader(res.Body, 64<<20)).Decode(&out) != nil {
		return nil
	}
	mine := s.index.pattern()
	for _, t := range out.IndexTemplates {
		if t.Name == name || t.IndexTemplate.Priority != templatePriority {
			continue
		}
		for _, p := range t.IndexTemplate.IndexPatterns {
			if patternsOverlap(mine, p) {
				return fmt.Errorf("elasticsearch %s: index template %s (pattern %s) has the same priority %d as the one setup installs for %s and overlapping patterns, which Elasticsearch refuses: change index, delete or re-prioritize %s, or set setup: false",
					s.where, t.Name, p, templatePriority, mine, t.Name)
			}
		}
	}
	return nil
}

// patternsOverlap reports whether some name could match both patterns
// (checked on each pattern with its wildcards filled in).
func patternsOverlap(a, b string) bool {
	fill := func(p string) string { return strings.ReplaceAll(p, "*", "x") }
	return globMatch(a, fill(b)) || globMatch(b, fill(a)) || globMatch(a, strings.ReplaceAll(b, "*", "")) || globMatch(b, strings.ReplaceAll(a, "*", ""))
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
