package otlp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/otlp/otlptest"
)

// TestProtoMatchesMessage: the hand-appended protobuf request decodes to
// exactly the LogsData message the JSON encoding marshals: several tenants
// (interleaved, and none), records without a time, a severity or the
// common fields, resource attributes, and the scratch buffers reused across
// requests of different shapes.
func TestProtoMatchesMessage(t *testing.T) {
	recs := outtest.Records(t, "proto", 40)
	for i, raw := range []string{
		`{"id":"no-when","type":"Event::X"}`,
		`{"id":"bare"}`,
		`{"id":"crit","severity":"critical","when":"1969-12-31T23:59:59Z","name":"é ü 日本"}`,
	} {
		r, err := pipeline.NewRecord(pipeline.Events, []string{"", "tenant-b", "tenant-c"}[i], []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, &r)
	}
	for i := 0; i < len(recs); i += 7 {
		recs[i].Tenant = "tenant-b" // interleaved with the first tenant
	}
	c := DefaultConfig()
	c.ResourceAttributes = map[string]string{"deployment.environment": "prod", "empty": ""}
	b := newBuilder(c)
	enc, err := encoding.New("raw", encoding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var e httpout.Encoded
	if be := e.Encode(recs, "raw", enc.Append); be.ErrOrNil() != nil {
		t.Fatal(be.ErrOrNil())
	}
	now := time.Unix(1_700_000_000, 123)
	var sc protoScratch
	var buf []byte
	for _, sp := range []httpout.Span{{Lo: 0, Hi: e.Len()}, {Lo: 3, Hi: 4}, {Lo: 40, Hi: e.Len()}, {Lo: 0, Hi: 20}} {
		buf = b.appendProto(buf[:0], &sc, recs, &e, sp, now)
		var got logspb.LogsData
		if err := proto.Unmarshal(buf, &got); err != nil {
			t.Fatal(err)
		}
		want := b.request(recs, &e, sp, now)
		if !proto.Equal(&got, want) {
			t.Fatalf("span %v: the appended request differs from the message:\ngot  %v\nwant %v", sp, &got, want)
		}
		// and byte for byte: what proto.Marshal writes for the message
		if m, err := (proto.MarshalOptions{Deterministic: true}).Marshal(want); err != nil || !bytes.Equal(buf, m) {
			t.Fatalf("span %v: %d bytes appended, proto.Marshal writes %d other bytes (%v)", sp, len(buf), len(m), err)
		}
		if n := len(got.ResourceLogs); n == 0 {
			t.Fatalf("span %v: no resources", sp)
		}
	}
}

// TestNotUTF8FailsAlone: a record whose body is not UTF-8 (which OTLP's
// string body must be; the pipeline repairs items, but not every encoder's
// output is checked) is dead-lettered alone; the others are delivered
// once, in both encodings.
func TestNotUTF8FailsAlone(t *testing.T) {
	for _, enc := range []string{"proto", "json"} {
		srv := testServer(t, otlptest.Options{})
		c := testConfig(srv.URL)
		c.Encoding = enc
		s := started(t, c)
		recs := outtest.Records(t, "utf8-"+enc, 10)
		// NewRecord repairs bad UTF-8; an encoder's output might not be
		bad := *recs[0]
		bad.ID, bad.Raw, bad.RawChecked = "bad-"+enc, []byte(`{"id":"bad-`+enc+`","name":"caf`+"\xe9"+`"}`), true
		recs = append(recs[:4], append([]*pipeline.Record{&bad}, recs[4:]...)...)
		err := s.Write(t.Context(), recs)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 4 || !pipeline.IsPermanent(be.Items[0].Err) ||
			!strings.Contains(be.Items[0].Err.Error(), "not valid UTF-8") {
			t.Fatalf("%s: %v", enc, err)
		}
		if ids := srv.IDs(); len(ids) != 10 || ids["bad-"+enc] != 0 {
			t.Fatalf("%s: delivered %v", enc, ids)
		}
	}
}
