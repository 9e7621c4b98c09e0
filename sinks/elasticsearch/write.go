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
)

// request is one _bulk request: records lo..hi of the encoded ones.
type request struct {
	lo, hi int // positions in recIdx/ends
	body   []byte
}

// outcome is what one request did: a failure of the whole request, or the
// per-record failures (positions in recIdx).
type outcome struct {
	whole error
	items []pipeline.ItemError
}

// Write indexes the batch: nil when every record was delivered, a
// *pipeline.BatchError naming the failed records, or a plain error when
// nothing was delivered and everything may be retried.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	var be pipeline.BatchError
	s.encode(batch, &be)
	reqs := s.split()
	if len(reqs) == 0 {
		return be.ErrOrNil()
	}

	outs := make([]outcome, len(reqs))
	if len(reqs) == 1 || s.cfg.Concurrency == 1 {
		for i := range reqs {
			outs[i] = s.send(ctx, reqs[i])
		}
	} else {
		sem := make(chan struct{}, s.cfg.Concurrency)
		var wg sync.WaitGroup
		for i := range reqs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				outs[i] = s.send(ctx, reqs[i])
			})
		}
		wg.Wait()
	}

	allWhole := len(be.Items) == 0
	var firstWhole error
	for i, o := range outs {
		if o.whole == nil {
			allWhole = false
			for _, it := range o.items {
				be.Add(s.recIdx[it.Index], it.Err)
			}
			continue
		}
		if firstWhole == nil {
			firstWhole = o.whole
		}
		for p := reqs[i].lo; p < reqs[i].hi; p++ {
			be.Add(s.recIdx[p], o.whole)
		}
	}
	if allWhole && firstWhole != nil {
		// Nothing was delivered: let the pipeline retry the whole batch.
		return firstWhole
	}
	sort.SliceStable(be.Items, func(i, j int) bool { return be.Items[i].Index < be.Items[j].Index })
	if n := len(be.Items); n > 0 {
		s.log.Debug("elasticsearch: partial bulk failure", "failed", n, "batch", len(batch), "first", be.Items[0].Err)
	}
	return be.ErrOrNil()
}

// encode writes the action and source lines of every record into s.body.
// Records that do not encode are Permanent failures in be.
func (s *Sink) encode(batch []*pipeline.Record, be *pipeline.BatchError) {
	s.body, s.ends, s.recIdx = s.body[:0], s.ends[:0], s.recIdx[:0]
	action := []byte(`{"index":{"_index":`)
	if s.create {
		action = []byte(`{"create":{"_index":`)
	}
	for i, r := range batch {
		start := len(s.body)
		s.body = append(s.body, action...)
		s.body = s.appendIndex(s.body, r)
		s.body = append(s.body, `,"_id":`...)
		s.body = rawjson.AppendString(s.body, r.ID)
		s.body = append(s.body, "}}\n"...)
		if r.ID == "" {
			s.body = s.body[:start]
			be.Add(i, pipeline.Permanent(fmt.Errorf("elasticsearch: record has no id")))
			continue
		}
		docStart := len(s.body)
		var err error
		s.body, err = s.enc.Append(s.body, r)
		if err != nil {
			s.body = s.body[:start]
			be.Add(i, pipeline.Permanent(fmt.Errorf("elasticsearch: encoding %s: %w", s.cfg.Format, err)))
			continue
		}
		if bytes.IndexByte(s.body[docStart:], '\n') >= 0 {
			// NDJSON: a document must be one line; newlines can only be
			// insignificant space here (inside strings they are escaped).
			var cb bytes.Buffer
			if err := json.Compact(&cb, s.body[docStart:]); err != nil {
				s.body = s.body[:start]
				be.Add(i, pipeline.Permanent(fmt.Errorf("elasticsearch: %s output is not JSON: %w", s.cfg.Format, err)))
				continue
			}
			s.body = append(s.body[:docStart], cb.Bytes()...)
		}
		s.body = append(s.body, '\n')
		s.ends = append(s.ends, len(s.body))
		s.recIdx = append(s.recIdx, i)
	}
}

// appendIndex appends the record's index as a JSON string.
func (s *Sink) appendIndex(dst []byte, r *pipeline.Record) []byte {
	s.doc = s.index.append(s.doc[:0], r)
	return appendJSONBytes(dst, s.doc)
}

// split cuts the encoded records into requests of at most max_bytes (a
// single larger record goes alone).
func (s *Sink) split() []request {
	var reqs []request
	limit := int(s.cfg.MaxBytes)
	lo, start := 0, 0
	for p := range s.ends {
		if s.ends[p]-start > limit && p > lo {
			reqs = append(reqs, request{lo: lo, hi: p, body: s.body[start:s.ends[p-1]]})
			lo, start = p, s.ends[p-1]
		}
	}
	if lo < len(s.ends) {
		reqs = append(reqs, request{lo: lo, hi: len(s.ends), body: s.body[start:s.ends[len(s.ends)-1]]})
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
