package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// These tests run against the in-repo test server and, with
// ELASTICSEARCH_URL set, against a real cluster; they check results through
// the REST API only.

func writeBatches(t *testing.T, s *Sink, recs []*pipeline.Record, size int) {
	t.Helper()
	for i := 0; i < len(recs); i += size {
		if err := s.Write(context.Background(), recs[i:min(i+size, len(recs))]); err != nil {
			t.Fatalf("write %d..: %v", i, err)
		}
	}
}

func eventID(t *testing.T, src json.RawMessage) string {
	t.Helper()
	var d struct {
		Event struct{ ID string } `json:"event"`
	}
	if err := json.Unmarshal(src, &d); err != nil {
		t.Fatalf("source %s: %v", src, err)
	}
	return d.Event.ID
}

// TestDeliverAndReplay: every record is indexed once under its id as an ECS
// document; replaying a batch with op_type index overwrites (version 2)
// instead of duplicating.
func TestDeliverAndReplay(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		s := tg.sink(t, tg.config("${stream}"))
		recs := makeRecords(t, samples, tg.run, 1200, fixedWhen)
		writeBatches(t, s, recs, 500)
		docs := tg.docs(t, tg.prefix+"*")
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for _, r := range recs {
			h, ok := docs[r.ID]
			if !ok {
				t.Fatalf("record %s missing", r.ID)
			}
			if h.Version != 1 || h.Index != tg.prefix+string(r.Stream) || eventID(t, h.Source) != r.ID {
				t.Fatalf("record %s stored as %s v%d event.id %s", r.ID, h.Index, h.Version, eventID(t, h.Source))
			}
		}
		if err := s.Write(context.Background(), recs[:500]); err != nil {
			t.Fatalf("replay: %v", err)
		}
		docs = tg.docs(t, tg.prefix+"*")
		if len(docs) != len(recs) {
			t.Fatalf("after replay %d documents, want %d", len(docs), len(recs))
		}
		for i, r := range recs {
			want := int64(1)
			if i < 500 {
				want = 2
			}
			if docs[r.ID].Version != want {
				t.Fatalf("record %d version %d, want %d", i, docs[r.ID].Version, want)
			}
		}
	})
}

// TestCreateReplayIsDelivered: with op_type create a replay is refused with
// 409, which the sink counts as delivered; nothing is overwritten.
func TestCreateReplayIsDelivered(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := tg.config("${stream}")
		c.OpType = "create"
		s := tg.sink(t, c)
		recs := makeRecords(t, samples, tg.run, 600, fixedWhen)
		writeBatches(t, s, recs, 300)
		if err := s.Write(context.Background(), recs[100:400]); err != nil {
			t.Fatalf("replay with create: %v (409 must count as delivered)", err)
		}
		docs := tg.docs(t, tg.prefix+"*")
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for _, r := range recs {
			if docs[r.ID].Version != 1 {
				t.Fatalf("%s version %d", r.ID, docs[r.ID].Version)
			}
		}
	})
}

// TestIndexTemplating: ${stream}, ${tenant} and %Y.%m.%d from `when` (UTC).
func TestIndexTemplating(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		s := tg.sink(t, tg.config("${stream}-${tenant}-%Y.%m.%d"))
		// 23:30 in UTC+2 on the 13th is 21:30 UTC: still the 13th; days vary with i
		recs := makeRecords(t, samples, tg.run, 90, func(i int) time.Time {
			return time.Date(2024, 5, 13+i%3, 23, 30, 0, 0, time.FixedZone("x", 2*3600))
		})
		writeBatches(t, s, recs, 90)
		docs := tg.docs(t, tg.prefix+"*")
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for i, r := range recs {
			want := tg.prefix + string(r.Stream) + "-" + r.Tenant + "-2024.05." + []string{"13", "14", "15"}[i%3]
			if got := docs[r.ID].Index; got != want {
				t.Fatalf("record %d in %s, want %s", i, got, want)
			}
		}
	})
}

// TestSetupIndexTemplate: setup installs the ECS index template; the
// indices it creates map source.ip as ip and @timestamp as date.
func TestSetupIndexTemplate(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := tg.config("${stream}-%Y.%m")
		c.Setup = true
		s := tg.sink(t, c)
		code, b := tg.call(t, "GET", "/_index_template/"+s.templateName(), "")
		if code != 200 || !strings.Contains(string(b), `"index_patterns":["`+tg.prefix+`*`) || !strings.Contains(string(b), `"source"`) {
			t.Fatalf("template: %d %s", code, b)
		}
		if strings.Contains(string(b), `"data_stream"`) {
			t.Fatalf("op_type index installed a data stream template: %s", b)
		}
		writeBatches(t, s, makeRecords(t, samples, tg.run, 24, fixedWhen), 24)
		for field, typ := range map[string]string{"source.ip": "ip", "@timestamp": "date", "event.severity": "long", "host.name": "keyword"} {
			code, b := tg.call(t, "GET", "/"+tg.prefix+"event-2024.05/_mapping/field/"+field, "")
			if code != 200 || !strings.Contains(string(b), `"type":"`+typ+`"`) {
				t.Errorf("%s: %d %s, want type %s", field, code, b, typ)
			}
		}
	})
}

// TestSetupDataStream: with op_type create, setup installs a data stream
// template; documents land in data streams and a replay is delivered (409).
func TestSetupDataStream(t *testing.T) {
	samples := loadSamples(t)
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := tg.config("${stream}")
		c.Setup, c.OpType = true, "create"
		s := tg.sink(t, c)
		code, b := tg.call(t, "GET", "/_index_template/"+s.templateName(), "")
		if code != 200 || !strings.Contains(string(b), `"data_stream":{`) {
			t.Fatalf("template: %d %s", code, b)
		}
		recs := makeRecords(t, samples, tg.run, 300, fixedWhen)
		writeBatches(t, s, recs, 300)
		writeBatches(t, s, recs[:150], 150)
		code, b = tg.call(t, "GET", "/_data_stream/"+tg.prefix+"*", "")
		if code != 200 || !strings.Contains(string(b), `"name":"`+tg.prefix+`alert"`) || !strings.Contains(string(b), `"name":"`+tg.prefix+`event"`) {
			t.Fatalf("data streams: %d %s", code, b)
		}
		docs := tg.docs(t, tg.prefix+"*")
		if len(docs) != len(recs) {
			t.Fatalf("%d documents, want %d", len(docs), len(recs))
		}
		for _, h := range docs {
			if !strings.HasPrefix(h.Index, ".ds-"+tg.prefix) || h.Version != 1 {
				t.Fatalf("document %s in %s v%d", h.ID, h.Index, h.Version)
			}
		}
	})
}

// TestMappingErrorIsPermanent: a document whose field type conflicts with
// the mapping comes back Permanent with Elasticsearch's reason (so the
// pipeline dead-letters it); the rest of the batch is delivered.
func TestMappingErrorIsPermanent(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg *target) {
		c := tg.config("${stream}")
		c.Format = "raw"
		s := tg.sink(t, c)
		rec := func(id, extra string) *pipeline.Record {
			r, err := pipeline.NewRecord(pipeline.Events, "t1", []byte(`{"id":"`+tg.run+id+`","when":"2024-05-14T08:00:00.000Z",`+extra+`}`))
			if err != nil {
				t.Fatal(err)
			}
			return &r
		}
		if err := s.Write(context.Background(), []*pipeline.Record{rec("a", `"count":1`)}); err != nil {
			t.Fatal(err)
		}
		batch := []*pipeline.Record{rec("b", `"count":2`), rec("c", `"count":"not a number"`), rec("d", `"count":3`)}
		err := s.Write(context.Background(), batch)
		var be *pipeline.BatchError
		if !errors.As(err, &be) || len(be.Items) != 1 || be.Items[0].Index != 1 {
			t.Fatalf("want a BatchError for item 1, got %v", err)
		}
		ie := be.Items[0].Err
		if !pipeline.IsPermanent(ie) || !strings.Contains(ie.Error(), "parsing_exception") ||
			!strings.Contains(ie.Error(), "failed to parse field [count] of type [long]") {
			t.Fatalf("item error %v (permanent %v)", ie, pipeline.IsPermanent(ie))
		}
		docs := tg.docs(t, tg.prefix+"*")
		if len(docs) != 3 {
			t.Fatalf("%d documents, want 3", len(docs))
		}
		if _, ok := docs[tg.run+"c"]; ok {
			t.Fatal("the rejected document was stored")
		}
	})
}
