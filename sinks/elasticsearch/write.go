package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// minPart is the fewest records worth a part of their own: smaller batches
// go out as one request.
const minPart = 200

// worker encodes a contiguous part of a batch and sends it, as one or more
// _bulk requests of at most max_bytes, one request at a time. A batch is
// cut into as many parts as the limiter offers (Limiter.Parts), so encoding
// one part overlaps with sending another, and the limiter keeps the
// requests in flight to its limit. A worker serves one part at a time:
// batches written at once (pipeline.ConcurrentSink) each take their own
// from the sink's idle workers.
type worker struct {
	enc    encoding.Encoder
	body   []byte // NDJSON of the part, reused across batches
	ends   []int  // end offset in body of each encoded record
	recIdx []int  // batch index of each encoded record
	name   []byte // index name scratch
	id     []byte // _id scratch
	fp     encoding.Fingerprinter
}

// maxIDBytes is Elasticsearch's limit: a longer _id fails the whole bulk
// request (400), so such a record is refused before sending.
const maxIDBytes = 512

// request is one _bulk request: encoded records lo..hi of a worker.
type request struct {
	lo, hi int // positions in recIdx/ends
	body   []byte
}

// partResult is what a worker did with its part.
type partResult struct {
	failed    []pipeline.ItemError // batch indexes
	wholeOnly bool                 // every record failed with its whole request
	whole     error                // the first whole-request failure
	bytes     int
}

// Write indexes the batch: nil when every record was delivered, a
// *pipeline.BatchError naming the failed records, or a plain error when
// nothing was delivered and everything may be retried.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	// past the limiter's room the batch waits here, before it is encoded
	if err := s.lim.AdmitBatch(ctx); err != nil {
		return err
	}
	defer s.lim.DoneBatch()
	// as many parts as the limiter offers, none under minPart documents
	// or (by the items' size) httpout.MinRequestBytes: more, smaller
	// requests cost more CPU at both ends than their overlap gains
	raw := 0
	for _, r := range batch {
		raw += len(r.Raw)
	}
	parts := min(s.lim.Parts(), max(1, len(batch)/minPart), max(1, raw/httpout.MinRequestBytes))
	s.lim.NoteParts(parts)
	workers := make([]*worker, 0, parts)
	defer func() {
		for _, w := range workers {
			s.putWorker(w)
		}
	}()
	for range parts {
		w, err := s.getWorker()
		if err != nil {
			return fmt.Errorf("elasticsearch: format %s: %w", s.cfg.Format, err)
		}
		workers = append(workers, w)
	}
	res := make([]partResult, parts)
	if parts == 1 {
		res[0] = workers[0].run(ctx, s, batch, 0)
	} else {
		var wg sync.WaitGroup
		per := (len(batch) + parts - 1) / parts
		for p := range parts {
			lo, hi := min(p*per, len(batch)), min((p+1)*per, len(batch))
			wg.Go(func() { res[p] = workers[p].run(ctx, s, batch[lo:hi], lo) })
		}
		wg.Wait()
	}
	var be pipeline.BatchError
	allWhole := true
	var whole error
	bodyBytes := 0
	for _, r := range res {
		be.Items = append(be.Items, r.failed...)
		allWhole = allWhole && r.wholeOnly
		if whole == nil {
			whole = r.whole
		}
		bodyBytes += r.bytes
	}
	s.lastBytes.Store(int64(bodyBytes))
	if allWhole && whole != nil {
		// Nothing was delivered: let the pipeline retry the whole batch.
		return whole
	}
	sort.SliceStable(be.Items, func(i, j int) bool { return be.Items[i].Index < be.Items[j].Index })
	if n := len(be.Items); n > 0 {
		s.log.Debug("elasticsearch: partial bulk failure", "failed", n, "batch", len(batch), "first", be.Items[0].Err)
	}
	return be.ErrOrNil()
}

// run encodes part (whose first record is batch[base]) and sends it.
func (w *worker) run(ctx context.Context, s *Sink, part []*pipeline.Record, base int) partResult {
	var r partResult
	w.encode(s, part, base, &r)
	reqs := w.split(int(s.cfg.MaxBytes))
	r.bytes = len(w.body)
	r.wholeOnly = len(r.failed) == 0 && len(reqs) > 0
	for _, rq := range reqs {
		w.sendSplitting(ctx, s, rq, &r)
	}
	return r
}

// sendSplitting sends rq. A whole-request 413 (the body is over the
// cluster's or a proxy's limit) or 400 (one bad document fails the whole
// request) is not retried as it is: the request is split in halves, each
// sent the same way, down to the one document that causes it, which is
// refused (dead-lettered) while the others are delivered.
func (w *worker) sendSplitting(ctx context.Context, s *Sink, rq request, r *partResult) {
	o := s.send(ctx, rq)
	if o.whole != nil && (o.status == 413 || o.status == 400) {
		if rq.hi-rq.lo > 1 {
			mid := (rq.lo + rq.hi) / 2
			s.log.Debug("elasticsearch: splitting a refused bulk request", "status", o.status, "documents", rq.hi-rq.lo)
			w.sendSplitting(ctx, s, w.sub(rq.lo, mid), r)
			w.sendSplitting(ctx, s, w.sub(mid, rq.hi), r)
			return
		}
		r.wholeOnly = false
		r.failed = append(r.failed, pipeline.ItemError{Index: w.recIdx[rq.lo], Err: pipeline.Permanent(o.whole)})
		return
	}
	if o.whole != nil {
		if r.whole == nil {
			r.whole = o.whole
		}
		for p := rq.lo; p < rq.hi; p++ {
			r.failed = append(r.failed, pipeline.ItemError{Index: w.recIdx[p], Err: o.whole})
		}
		return
	}
	r.wholeOnly = false
	for _, it := range o.items {
		r.failed = append(r.failed, pipeline.ItemError{Index: w.recIdx[it.Index], Err: it.Err})
	}
}

// sub is the request of encoded records lo..hi.
func (w *worker) sub(lo, hi int) request {
	start := 0
	if lo > 0 {
		start = w.ends[lo-1]
	}
	return request{lo: lo, hi: hi, body: w.body[start:w.ends[hi-1]]}
}

// encode writes the action and source lines of every record into w.body.
// Records that do not encode are Permanent failures.
func (w *worker) encode(s *Sink, part []*pipeline.Record, base int, r *partResult) {
	w.body, w.ends, w.recIdx = w.body[:0], w.ends[:0], w.recIdx[:0]
	action := `{"index":{"_index":`
	if s.create {
		action = `{"create":{"_index":`
	}
	fail := func(i int, err error) {
		r.failed = append(r.failed, pipeline.ItemError{Index: base + i, Err: pipeline.Permanent(err)})
	}
	for i, rec := range part {
		w.id = append(w.id[:0], rec.ID...)
		if s.cfg.IDMode == "fingerprint" {
			var id []byte
			var ok bool
			if fe, isFE := w.enc.(encoding.FingerprintEncoder); isFE {
				id, ok = fe.AppendFingerprint(w.id[:0], rec) // the item parsed once for both
			} else {
				id, ok = w.fp.Append(w.id[:0], rec.Raw)
			}
			if ok {
				w.id = id
			}
		}
		if len(w.id) == 0 {
			fail(i, fmt.Errorf("elasticsearch: record has no id"))
			continue
		}
		if len(w.id) > maxIDBytes {
			fail(i, fmt.Errorf("elasticsearch: _id of %d bytes is over Elasticsearch's limit of %d (the whole bulk request would fail): use id_mode fingerprint", len(w.id), maxIDBytes))
			continue
		}
		start := len(w.body)
		w.body = append(w.body, action...)
		w.name = s.index.append(w.name[:0], rec)
		w.body = appendJSONBytes(w.body, w.name)
		w.body = append(w.body, `,"_id":`...)
		w.body = appendJSONBytes(w.body, w.id)
		w.body = append(w.body, "}}\n"...)
		docStart := len(w.body)
		var err error
		w.body, err = w.enc.Append(w.body, rec)
		if err != nil {
			w.body = w.body[:start]
			fail(i, fmt.Errorf("elasticsearch: encoding %s: %w", s.cfg.Format, err))
			continue
		}
		if bytes.IndexByte(w.body[docStart:], '\n') >= 0 {
			// NDJSON: a document must be one line; a newline can only be
			// insignificant space here (inside strings it is escaped).
			var cb bytes.Buffer
			if err := json.Compact(&cb, w.body[docStart:]); err != nil {
				w.body = w.body[:start]
				fail(i, fmt.Errorf("elasticsearch: %s output is not JSON: %w", s.cfg.Format, err))
				continue
			}
			w.body = append(w.body[:docStart], cb.Bytes()...)
		}
		w.body = append(w.body, '\n')
		w.ends = append(w.ends, len(w.body))
		w.recIdx = append(w.recIdx, base+i)
	}
}

// split cuts the encoded records into requests of at most limit bytes (a
// single larger record goes alone).
func (w *worker) split(limit int) []request {
	var reqs []request
	lo, start := 0, 0
	for p := range w.ends {
		if w.ends[p]-start > limit && p > lo {
			reqs = append(reqs, request{lo: lo, hi: p, body: w.body[start:w.ends[p-1]]})
			lo, start = p, w.ends[p-1]
		}
	}
	if lo < len(w.ends) {
		reqs = append(reqs, request{lo: lo, hi: len(w.ends), body: w.body[start:w.ends[len(w.ends)-1]]})
	}
	return reqs
}

// appendJSONBytes appends b as a JSON string.
func appendJSONBytes(dst, b []byte) []byte {
	for _, c := range b {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return rawjson.AppendString(dst, string(b))
		}
	}
	dst = append(dst, '"')
	dst = append(dst, b...)
	return append(dst, '"')
}
