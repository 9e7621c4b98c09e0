package elasticsearch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// bulkFilter keeps only what the classification reads: the per-item
// status and error, not the _index, _id, _version, _shards... of every item.
var bulkFilter = []string{"errors", "items.*.status", "items.*.error.type", "items.*.error.reason",
	"items.*.error.caused_by.type", "items.*.error.caused_by.reason"}

var respPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// outcome is what one request did: a failure of the whole request, or the
// per-record failures (Index: position in the worker's recIdx).
type outcome struct {
	whole  error
	status int // the whole request's HTTP status when it failed with one
	items  []pipeline.ItemError
}

// send runs one _bulk request and classifies its outcome.
func (s *Sink) send(ctx context.Context, rq request) outcome {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout.D())
	defer cancel()
	// a fresh map each time: esapi adopts it as the request's header,
	// which the transport then mutates (Authorization)
	hdr := http.Header{"Content-Type": {"application/x-ndjson"}}
	level := s.cfg.gzipLevel()
	if level > 0 {
		hdr.Set("Content-Encoding", "gzip")
	}
	zbuf := httpout.GetBuffer()
	defer httpout.PutBuffer(zbuf)
	res, err := esapi.BulkRequest{
		Body:       bytes.NewReader(httpout.CompressLevel(zbuf, rq.body, level)),
		Pipeline:   s.cfg.Pipeline,
		FilterPath: bulkFilter,
		Header:     hdr,
	}.Do(ctx, s.client)
	if err != nil {
		return outcome{whole: s.transportError("bulk request", err)}
	}
	defer res.Body.Close()
	buf := respPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer respPool.Put(buf)
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return outcome{whole: fmt.Errorf("elasticsearch %s: reading bulk response: %w", s.where, err)}
	}
	if res.StatusCode != http.StatusOK {
		return outcome{whole: s.statusError("bulk request", res.StatusCode, buf.Bytes(), len(rq.body)), status: res.StatusCode}
	}
	items, err := s.classify(buf.Bytes(), rq)
	if err != nil {
		return outcome{whole: err}
	}
	return outcome{items: items}
}

// classify reads a 200 bulk response. When "errors" is false (it comes
// first) every item was delivered and the items are not read at all.
func (s *Sink) classify(body []byte, rq request) ([]pipeline.ItemError, error) {
	var errs, items []byte
	perr := rawjson.EachMember(body, func(k, v []byte) bool {
		switch {
		case rawjson.KeyEquals(k, "errors"):
			errs = v
			return string(v) != "false"
		case rawjson.KeyEquals(k, "items"):
			items = v
		}
		return true
	})
	if string(errs) == "false" {
		return nil, nil
	}
	if perr != nil || errs == nil || items == nil {
		return nil, fmt.Errorf("elasticsearch %s: unexpected bulk response (%.200s)", s.where, body)
	}
	var out []pipeline.ItemError
	n := 0
	want := rq.hi - rq.lo
	err := rawjson.EachElement(items, func(el []byte) bool {
		if n >= want {
			n++
			return false
		}
		var res []byte
		_ = rawjson.EachMember(el, func(_, v []byte) bool { res = v; return false })
		if e := s.itemError(res); e != nil {
			out = append(out, pipeline.ItemError{Index: rq.lo + n, Err: e})
		}
		n++
		return true
	})
	if err != nil || n != want {
		return nil, fmt.Errorf("elasticsearch %s: bulk response has %d items for %d documents", s.where, n, want)
	}
	return out, nil
}

// itemError classifies one item's result: nil when delivered.
func (s *Sink) itemError(res []byte) error {
	status, _ := strconv.Atoi(string(rawjson.Get(res, "status")))
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusConflict && s.create:
		return nil // op_type create: the document is already there (a replay)
	}
	typ := rawjson.String(rawjson.Get(res, "error", "type"))
	reason := rawjson.String(rawjson.Get(res, "error", "reason"))
	msg := fmt.Sprintf("elasticsearch item %d %s: %s", status, typ, reason)
	if cr := rawjson.String(rawjson.Get(res, "error", "caused_by", "reason")); cr != "" {
		msg += " (caused by " + rawjson.String(rawjson.Get(res, "error", "caused_by", "type")) + ": " + cr + ")"
	}
	err := errors.New(msg)
	if status == http.StatusTooManyRequests || status >= 500 || status == http.StatusConflict || status == 0 {
		return err // retry: overload, a failing node, or a concurrent write
	}
	if status == http.StatusForbidden && (typ == "security_exception" || typ == "cluster_block_exception") {
		// The cluster's configuration, not the document: retried (held back)
		// until an operator fixes it, and said loudly.
		s.privilegeError(typ, reason)
		return err
	}
	return pipeline.Permanent(err) // mapping and other document errors: dead-letter
}

// privilegeError logs, at most once a minute, an ERROR naming what to fix
// for a per-item 403.
func (s *Sink) privilegeError(typ, reason string) {
	now := time.Now().UnixNano()
	last := s.lastPrivLog.Load()
	if now-last < int64(time.Minute) || !s.lastPrivLog.CompareAndSwap(last, now) {
		return
	}
	fix := fmt.Sprintf("grant the user the index privileges create_doc (or index) and auto_configure (or create_index) on %q", s.index.pattern())
	if typ == "cluster_block_exception" {
		fix = `the index has a write block: free disk space if it is the flood-stage block (read_only_allow_delete), or remove it with PUT <index>/_settings {"index.blocks.write": false}`
	}
	s.log.Error("elasticsearch: documents refused (403), holding them back and retrying: "+fix, "error", typ, "reason", reason)
}

// statusError explains a non-200 answer to a whole request.
func (s *Sink) statusError(what string, status int, body []byte, size int) error {
	typ, reason := errorReason(body)
	detail := ""
	if typ != "" || reason != "" {
		detail = ": " + strings.TrimPrefix(typ+": "+reason, ": ")
	}
	switch status {
	case http.StatusUnauthorized:
		return pipeline.AuthFailure(fmt.Errorf("elasticsearch %s refused the credentials (401)%s: check username/password or api_key", s.where, detail))
	case http.StatusForbidden:
		return pipeline.AuthFailure(fmt.Errorf("elasticsearch %s: %s forbidden (403)%s: the user needs the index (or create_doc) and auto_configure privileges on %q", s.where, what, detail, s.index.pattern()))
	case http.StatusRequestEntityTooLarge:
		return fmt.Errorf("elasticsearch %s: %s of %d bytes too large (413): lower max_bytes below the cluster's http.max_content_length", s.where, what, size)
	}
	return fmt.Errorf("elasticsearch %s: %s failed with %d %s%s", s.where, what, status, http.StatusText(status), detail)
}

// errorReason extracts error.type and error.reason from an error body
// (error may also be a plain string).
func errorReason(body []byte) (typ, reason string) {
	e := rawjson.Get(body, "error")
	if len(e) > 0 && e[0] == '"' {
		return "", rawjson.String(e)
	}
	typ = rawjson.String(rawjson.Get(e, "type"))
	reason = rawjson.String(rawjson.Get(e, "reason"))
	if typ == "" && reason == "" && len(body) > 0 && !rawjson.Valid(body) {
		reason = fmt.Sprintf("%.200s", bytes.TrimSpace(body))
	}
	return typ, reason
}

// transportError explains a request that got no HTTP answer, or one the
// client refused (the product check).
func (s *Sink) transportError(what string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "not Elasticsearch"):
		return fmt.Errorf("elasticsearch %s: the server is not Elasticsearch (no X-Elastic-Product: Elasticsearch header): check addresses, and that a proxy in front of the cluster passes that header through", s.where)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("elasticsearch %s: %s timed out after %s: raise timeout or lower max_bytes: %w", s.where, what, s.cfg.Timeout, err)
	case strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return fmt.Errorf("elasticsearch %s: TLS failed: %w: set tls.ca_file to the cluster's CA (tls.server_name if the certificate names another host)", s.where, err)
	}
	return fmt.Errorf("elasticsearch %s: %s failed: %w", s.where, what, err)
}
