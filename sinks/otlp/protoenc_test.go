package otlp

import (
	"testing"
	"time"

	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
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
		if n := len(got.ResourceLogs); n == 0 {
			t.Fatalf("span %v: no resources", sp)
		}
	}
}
