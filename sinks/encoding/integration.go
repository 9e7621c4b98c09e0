package encoding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// integrationEncoder writes what Elastic Agent's httpjson input of the
// sophos_central integration sends to Elasticsearch, for the integration's
// ingest pipeline (in the cluster) to build its document:
//
//	{"@timestamp": when (else created_at, else now), "message": <the item as
//	 a JSON string>, "data_stream": {"type": "logs", "dataset":
//	 "sophos_central.<alert|event>", "namespace": <namespace>}, "event":
//	 {"dataset": …}, "input": {"type": "httpjson"}, "tags": [the
//	 preserve_* options' tags, "forwarded", "sophos_central-<alert|event>"]}
//
// message is the item as httpjson re-encodes it (Go's encoding/json of the
// decoded item: keys sorted, numbers as float64), so event.original is
// the same text an Agent would store. The pipeline replaces @timestamp
// with `when` when that parses.
type integrationEncoder struct {
	opts Options
	ns   string
	t    tape
	msg  bytes.Buffer
}

func newIntegrationEncoder(opts Options) *integrationEncoder {
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	return &integrationEncoder{opts: opts, ns: ns}
}

func (e *integrationEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("integration: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.msg.Reset()
	var item any
	if json.Unmarshal(r.Raw, &item) != nil || json.NewEncoder(&e.msg).Encode(item) != nil {
		// a number beyond float64 (httpjson could not decode the page at
		// all): send the item as received
		e.msg.Reset()
		_ = json.Compact(&e.msg, r.Raw)
	}
	msg := bytes.TrimSuffix(e.msg.Bytes(), []byte("\n"))

	stream := "event"
	if r.Stream == pipeline.Alerts {
		stream = "alert"
	}
	ts := r.WhenTime()
	if ts.IsZero() {
		ts = time.Now()
	}
	dst = append(dst, `{"@timestamp":`...)
	dst = appendISOMillis(dst, ts.UnixMilli())
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, plainText(msg))
	dst = append(dst, `,"data_stream":{"type":"logs","dataset":"sophos_central.`...)
	dst = append(dst, stream...)
	dst = append(dst, `","namespace":`...)
	dst = appendJSONString(dst, plainText([]byte(e.ns)))
	dst = append(dst, `},"event":{"dataset":"sophos_central.`...)
	dst = append(dst, stream...)
	dst = append(dst, `"},"input":{"type":"httpjson"},"tags":[`...)
	if e.opts.PreserveOriginalEvent {
		dst = append(dst, `"preserve_original_event",`...)
	}
	if e.opts.PreserveDuplicateCustomFields {
		dst = append(dst, `"preserve_duplicate_custom_fields",`...)
	}
	dst = append(dst, `"forwarded","sophos_central-`...)
	dst = append(dst, stream...)
	return append(dst, `"]}`...), nil
}
