// Package outtest is test support for the HTTP sinks: synthetic records and
// a run of the real pipeline (Sophos emulator → SIEM source → runner → the
// sink) that reports what was delivered, dead-lettered and committed.
package outtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
	"github.com/sophos-connect/sophos-connect/sources/sophos/sophostest"
)

// Tenant is the tenant id of Records.
const Tenant = "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8"

// Records mints n records with ids <run>-0000000…, events and (every third)
// alerts, each about 600 bytes of API JSON.
func Records(t testing.TB, run string, n int) []*pipeline.Record {
	t.Helper()
	out := make([]*pipeline.Record, n)
	base := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)
	for i := range out {
		id := fmt.Sprintf("%s-%07d", run, i)
		when := base.Add(time.Duration(i) * 1234 * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		var raw string
		stream := pipeline.Events
		if i%3 == 2 {
			stream = pipeline.Alerts
			raw = fmt.Sprintf(`{"id":%q,"allowedActions":["acknowledge"],"category":"malware","customer_id":%q,"severity":"high","created_at":%q,"data":{"endpoint_id":"e1f0c2a4-0b7d-4d2e-9a55-%012d","endpoint_type":"computer","source_info":{"ip":"10.1.2.%d"}},"description":"Malware detected: 'Troj/Agent-ABC' at 'C:\\Users\\alice\\Downloads\\invoice.exe'","event_service_event_id":%q,"location":"WS-%04d","type":"Event::Endpoint::Threat::Detected","when":%q,"source":"CORP\\alice","threat":"Troj/Agent-ABC"}`,
				id, Tenant, when, i, i%250, id, i%97, when)
		} else {
			raw = fmt.Sprintf(`{"id":%q,"customer_id":%q,"severity":"medium","created_at":%q,"source_info":{"ip":"10.1.2.%d"},"endpoint_type":"computer","endpoint_id":"e1f0c2a4-0b7d-4d2e-9a55-%012d","origin":"SAV","type":"Event::Endpoint::Threat::CleanedUp","location":"WS-%04d","source":"CORP\\bob","group":"MALWARE","name":"Threat 'EICAR-AV-Test' in 'C:\\Temp\\eicar.com' has been cleaned up","when":%q,"threat":"EICAR-AV-Test"}`,
				id, Tenant, when, i%250, i, i%97, when)
		}
		r, err := pipeline.NewRecord(stream, Tenant, []byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &r
	}
	return out
}

// Run is the outcome of a pipeline run.
type Run struct {
	Want        []string // ids the emulator served
	Stats       pipeline.Stats
	DeadLetters []pipeline.DeadLetterEntry
	Committed   bool // the partition's checkpoint was committed
}

// RunPipeline serves `events` events of one tenant from the emulator and
// runs the pipeline once into sink (already started) with short retries.
// during, when set, runs while the pipeline is delivering; it may change the
// receiver's faults and must return.
func RunPipeline(t *testing.T, sink pipeline.Sink, events int, timeout time.Duration, during func()) Run {
	t.Helper()
	emu, _, src := sophostest.Start(t, emulator.Options{Seed: 11, Events: events, Alerts: -1}, pipeline.Events)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	parts, err := src.Partitions(ctx)
	if err != nil || len(parts) != 1 {
		t.Fatalf("partitions: %v %v", parts, err)
	}
	want := emu.AllIDs(parts[0].Tenant, "event")
	state := t.TempDir()
	cps, err := pipeline.OpenCheckpoints(state)
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := pipeline.OpenDeadLetter(state)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	type result struct {
		st  pipeline.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := pipeline.Run(ctx, pipeline.Options{
			Source: src, Checkpoints: cps, DeadLetter: dlq, Once: true, Since: time.Now().Add(-23 * time.Hour),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Sinks: []pipeline.SinkSpec{{Name: "out", Type: "http", Sink: sink,
				Batch: pipeline.BatchPolicy{MaxEvents: 500},
				Retry: pipeline.RetryPolicy{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond}}},
		})
		done <- result{st, err}
	}()
	if during != nil {
		during()
	}
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("the run did not finish in time")
	}
	if r.err != nil {
		t.Fatalf("Run: %v", r.err)
	}
	out := Run{Want: want, Stats: r.st}
	if cp, ok := cps.Get(parts[0].Key()); ok && cp.Cursor != "" {
		out.Committed = true
	}
	if err := pipeline.ReadDeadLetters(dlq.Path(), func(e pipeline.DeadLetterEntry) error {
		out.DeadLetters = append(out.DeadLetters, e)
		return nil
	}); err != nil && out.Stats.DeadLettered > 0 {
		t.Fatal(err)
	}
	return out
}

// ExactlyOnce checks that the ids in got (times received, retries deduped by
// the caller or not) are exactly want minus the rejected ones: every id
// present, none unknown. It returns how many arrived more than once.
func ExactlyOnce(t *testing.T, want []string, got map[string]int, rejected map[string]bool) (repeats int) {
	t.Helper()
	for _, id := range want {
		n := got[id]
		switch {
		case rejected[id] && n > 0:
			t.Fatalf("rejected record %s arrived (%d times)", id, n)
		case !rejected[id] && n == 0:
			t.Fatalf("record %s never arrived", id)
		case n > 1:
			repeats++
		}
	}
	wantSet := map[string]bool{}
	for _, id := range want {
		wantSet[id] = true
	}
	for id := range got {
		if !wantSet[id] {
			t.Fatalf("unknown record %q arrived", id)
		}
	}
	return repeats
}

var textID = regexp.MustCompile(`(?:^|[ |;\]])(?:id|externalId|event_id)="?([^ |;"]+)|\[EventID: ([^\]]+)\]`)

// RecordID finds a record's id in what a receiver got: a JSON object's
// "id" or ECS event.id (also inside a JSON string), or the id in a cef, keyvalue or txt line.
func RecordID(rec []byte) string {
	var obj struct {
		ID    string `json:"id"`
		Event struct {
			ID string `json:"id"`
		} `json:"event"` // ecs: event.id
	}
	if json.Unmarshal(rec, &obj) == nil && (obj.ID != "" || obj.Event.ID != "") {
		return obj.ID + obj.Event.ID
	}
	var str string
	if json.Unmarshal(rec, &str) == nil {
		rec = []byte(str)
		if json.Unmarshal(rec, &obj) == nil && obj.ID != "" {
			return obj.ID
		}
	}
	if m := textID.FindSubmatch(rec); m != nil {
		return string(m[1]) + string(m[2])
	}
	return ""
}

// NextFault takes one scripted refusal for a test server: 503 while *busy
// lasts, then 429 while *throttle lasts, else 0. The caller holds its lock.
func NextFault(busy, throttle *int) int {
	switch {
	case *busy > 0:
		*busy--
		return 503
	case *throttle > 0:
		*throttle--
		return 429
	}
	return 0
}

// NextFaultAfter is NextFault once *skip more requests were answered
// normally: the refusal lands on a request in the middle of a batch.
func NextFaultAfter(skip, busy, throttle *int) int {
	if *skip > 0 && (*busy > 0 || *throttle > 0) {
		*skip--
		return 0
	}
	return NextFault(busy, throttle)
}

// MiddleFault checks a sink's Write when the receiver fails one request of
// a batch as a whole while others of it are in flight (the caller set the
// receiver to fail, e.g., the 6th request it gets: which records that is
// depends on the order the concurrent requests arrive in): the Write's BatchError names
// exactly the records of that request — contiguous, retryable, none of
// them received — and every other record was received once; writing the
// failed records again, as the pipeline does, delivers them, so every
// record arrives exactly once. maxInFlight is the sink's limiter's
// observed maximum: at least 2, or the batch was not sent concurrently.
func MiddleFault(t *testing.T, write func(context.Context, []*pipeline.Record) error, recs []*pipeline.Record, received func() map[string]int, maxInFlight func() int) {
	t.Helper()
	err := write(context.Background(), recs)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Items) == 0 || len(be.Items) >= len(recs)/2 {
		t.Fatalf("want a BatchError naming one request's records, got %v", err)
	}
	failed := make([]*pipeline.Record, 0, len(be.Items))
	failedID := map[string]bool{}
	for i, it := range be.Items {
		if pipeline.IsPermanent(it.Err) {
			t.Fatalf("record %d: a failed request must be retried, not rejected: %v", it.Index, it.Err)
		}
		if i > 0 && it.Index != be.Items[i-1].Index+1 {
			t.Fatalf("failed records %d then %d: not one request's contiguous records", be.Items[i-1].Index, it.Index)
		}
		failed = append(failed, recs[it.Index])
		failedID[recs[it.Index].ID] = true
	}
	got := received()
	for _, r := range recs {
		if n := got[r.ID]; failedID[r.ID] && n != 0 || !failedID[r.ID] && n != 1 {
			t.Fatalf("record %s received %d times after the first write (failed: %v)", r.ID, n, failedID[r.ID])
		}
	}
	if n := maxInFlight(); n < 2 {
		t.Fatalf("at most %d request in flight: the batch was not sent concurrently", n)
	}
	if err := write(context.Background(), failed); err != nil {
		t.Fatalf("writing the %d failed records again: %v", len(failed), err)
	}
	if repeats := ExactlyOnce(t, IDs(recs), received(), nil); repeats != 0 {
		t.Fatalf("%d records arrived twice", repeats)
	}
	t.Logf("%d records, %d in the failed request, up to %d requests in flight", len(recs), len(failed), maxInFlight())
}

// IDs returns the records' ids.
func IDs(recs []*pipeline.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// LimitMetric is the value of the sophos_connect_sink_request_concurrency_limit
// gauge c exports for sink (registered as the collector registers a sink
// that is a prometheus.Collector); the test fails when there is none.
func LimitMetric(t testing.TB, c prometheus.Collector, sink string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "sophos_connect_sink_request_concurrency_limit" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "sink" && l.GetValue() == sink {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no sophos_connect_sink_request_concurrency_limit for sink %s in %v", sink, mfs)
	return 0
}

// ConcurrentWrites writes recs as `writes` batches all at once, as the
// pipeline's worker does for a pipeline.ConcurrentSink (run it with -race):
// the sink must take at least 2 (ConcurrentBatches; those past its room
// wait in the sink, AdmitBatch), every Write
// must succeed, and every record must arrive exactly once — two Writes
// sharing a buffer would send one batch's records twice and lose the
// other's. maxInFlight is the sink's limiter's observed maximum: at most
// limit (one limiter bounds the requests of all the batches together) and
// at least 2.
func ConcurrentWrites(t *testing.T, sink pipeline.Sink, recs []*pipeline.Record, writes int, received func() map[string]int, maxInFlight func() int, limit int) {
	t.Helper()
	if n := pipeline.ConcurrentBatches(sink); n < 2 {
		t.Fatalf("the sink takes %d batch at once, want at least 2", n)
	}
	per := (len(recs) + writes - 1) / writes
	start := make(chan struct{})
	errs := make([]error, writes)
	var wg sync.WaitGroup
	for w := range writes {
		batch := recs[min(w*per, len(recs)):min((w+1)*per, len(recs))]
		wg.Go(func() {
			<-start
			errs[w] = sink.Write(context.Background(), batch)
		})
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("write %d of %d at once: %v", w+1, writes, err)
		}
	}
	if repeats := ExactlyOnce(t, IDs(recs), received(), nil); repeats != 0 {
		t.Fatalf("%d records arrived more than once", repeats)
	}
	if n := maxInFlight(); n > limit || n < 2 {
		t.Fatalf("%d requests in flight at most, want 2 to %d", n, limit)
	}
}

// CountObjects counts the JSON objects that open at nesting depth depth of
// b (0: a stream of concatenated objects, as HEC's batches; 1: the rows of
// an array), jumping over strings: a benchmark's receiver counts records
// without decoding them.
func CountObjects(b []byte, depth int) int {
	n, d := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = closingQuote(b, i)
		case '{':
			if d == depth {
				n++
			}
			d++
		case '[':
			d++
		case '}', ']':
			d--
		}
	}
	return n
}

// closingQuote is the index of the quote that ends the string opening at
// b[open] (len(b) when it does not end): the next quote preceded by an
// even run of backslashes.
func closingQuote(b []byte, open int) int {
	for i := open + 1; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		k := i
		for k > open+1 && b[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i
		}
		i++
	}
}

// Counted is what CountBody found in a request's body.
type Counted struct {
	Objects int  // the objects at the depth asked for
	Size    int  // the body's bytes (gunzipped)
	Opens   byte // the first byte that is not white space ('[': an array); 0 for none
}

// CountBody reads a request's body as Body does and counts its objects at
// depth (CountObjects): a benchmark's receiver in one call.
func CountBody(r *http.Request, depth int) (Counted, error) {
	var c Counted
	err := Body(r, func(b []byte) {
		c.Size = len(b)
		if t := bytes.TrimSpace(b); len(t) > 0 {
			c.Opens = t[0]
		}
		c.Objects = CountObjects(b, depth)
	})
	return c, err
}
