package sophos

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// DetectionsOptions tune the detections stream.
type DetectionsOptions struct {
	Overlap     time.Duration // re-read this much before the last window's end (default 10m)
	MaxWindow   time.Duration // split longer gaps into windows of this size (default 6h)
	Lookback    time.Duration // a tenant without a checkpoint starts this far back (default 24h; Position.Since wins when later)
	PageSize    int           // results page size (default 1000, at most 2000)
	PollTimeout time.Duration // give up on a run not finished after this (default 5m)
	// PollInitial and PollMax bound the backoff between polls of a run
	// (defaults 500ms and 5s).
	PollInitial, PollMax time.Duration
	// MaxSeen bounds the ids kept to drop repeats within the overlap
	// (default 20000; 12 bytes each in the checkpoint).
	MaxSeen int
}

func (o DetectionsOptions) withDefaults() DetectionsOptions {
	if o.Overlap < 0 {
		o.Overlap = 0
	} else if o.Overlap == 0 {
		o.Overlap = 10 * time.Minute
	}
	if o.MaxWindow <= 0 {
		o.MaxWindow = 6 * time.Hour
	}
	if o.Overlap >= o.MaxWindow {
		o.Overlap = o.MaxWindow / 2
	}
	if o.Lookback <= 0 {
		o.Lookback = 24 * time.Hour
	}
	if o.PageSize <= 0 || o.PageSize > 2000 {
		o.PageSize = 1000
	}
	if o.PollTimeout <= 0 {
		o.PollTimeout = 5 * time.Minute
	}
	if o.PollInitial <= 0 {
		o.PollInitial = 500 * time.Millisecond
	}
	if o.PollMax <= 0 {
		o.PollMax = 5 * time.Second
	}
	if o.MaxSeen <= 0 {
		o.MaxSeen = 20000
	}
	return o
}

// detCursor is the detections checkpoint: the windows read completely end at
// Done; a window in progress is [From, To) with its run and the next results
// page; Seen holds the detections already forwarded that a later window's
// overlap will read again (an 8-byte hash of the id and the Unix second of
// sensorGeneratedAt each), so repeats are dropped across restarts too.
type detCursor struct {
	V    int       `json:"v"`
	Done time.Time `json:"done"`
	From time.Time `json:"from,omitzero"`
	To   time.Time `json:"to,omitzero"`
	Run  string    `json:"run,omitempty"`
	Page int       `json:"page,omitempty"`
	Seen string    `json:"seen,omitempty"`
}

const detCursorPrefix = "detections:"

func (c detCursor) encode() string {
	b, _ := json.Marshal(c)
	return detCursorPrefix + string(b)
}

func parseDetCursor(s string) (detCursor, error) {
	var c detCursor
	if !strings.HasPrefix(s, detCursorPrefix) {
		return c, fmt.Errorf("not a detections checkpoint (%.40q): clear it with `state reset TENANT detections`", s)
	}
	if err := json.Unmarshal([]byte(s[len(detCursorPrefix):]), &c); err != nil || c.Done.IsZero() {
		return c, fmt.Errorf("damaged detections checkpoint (%v): clear it with `state reset TENANT detections`", err)
	}
	return c, nil
}

// seenSet is the overlap memory: id hash → Unix second, in insertion order.
type seenSet struct {
	order []uint64
	at    map[uint64]uint32
}

func idHash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func decodeSeen(s string) seenSet {
	ss := seenSet{at: map[uint64]uint32{}}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return ss
	}
	for len(b) >= 12 {
		h, t := binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:])
		if _, dup := ss.at[h]; !dup {
			ss.order = append(ss.order, h)
		}
		ss.at[h] = t
		b = b[12:]
	}
	return ss
}

func (ss *seenSet) add(h uint64, t uint32) {
	if _, ok := ss.at[h]; !ok {
		ss.order = append(ss.order, h)
	}
	ss.at[h] = t
}

// prune keeps the entries at or after min, and at most max (the newest).
func (ss *seenSet) prune(min uint32, max int) {
	kept := ss.order[:0]
	for _, h := range ss.order {
		if ss.at[h] >= min {
			kept = append(kept, h)
		} else {
			delete(ss.at, h)
		}
	}
	ss.order = kept
	if n := len(ss.order) - max; n > 0 {
		for _, h := range ss.order[:n] {
			delete(ss.at, h)
		}
		ss.order = ss.order[n:]
	}
}

func (ss *seenSet) encode() string {
	b := make([]byte, 0, 12*len(ss.order))
	for _, h := range ss.order {
		b = binary.BigEndian.AppendUint64(b, h)
		b = binary.BigEndian.AppendUint32(b, ss.at[h])
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// fetchDetections pulls the next results page of the tenant's detections:
// it issues the window's query when none is in progress, polls the run with
// a bounded backoff, re-issues a run that failed or expired, and drops the
// detections the overlap reads again.
func (s *Source) fetchDetections(ctx context.Context, t Tenant, p pipeline.Partition, pos pipeline.Position) (*pipeline.Page, error) {
	o := s.opt.Detections
	now := s.c.cfg.Now()
	var st detCursor
	if pos.Cursor != "" {
		var err error
		if st, err = parseDetCursor(pos.Cursor); err != nil {
			return nil, err
		}
	} else {
		start := now.Add(-o.Lookback)
		if !pos.Since.IsZero() && pos.Since.After(start) {
			start = pos.Since
		}
		st = detCursor{V: 1, Done: start.UTC()}
	}
	seen := decodeSeen(st.Seen)
	if st.Run == "" {
		// A new window: overlap back from what was read, at most MaxWindow long.
		st.From = st.Done.Add(-o.Overlap)
		st.To = now.UTC()
		if st.To.Sub(st.From) > o.MaxWindow {
			st.To = st.From.Add(o.MaxWindow)
		}
		st.Page = 1
	}
	var (
		res *xdrPage
		err error
	)
	for attempt := 1; ; attempt++ {
		if st.Run == "" {
			run, err := s.runDetectionQuery(ctx, t, p, st.From, st.To)
			if err != nil {
				return nil, err
			}
			st.Run, st.Page = run, 1
		}
		res, err = s.c.detectionResults(ctx, t, st.Run, st.Page, o.PageSize)
		var ae *APIError
		if err != nil && attempt < 3 && errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusGone || ae.Status == http.StatusBadRequest) {
			// The run expired (a restart, a long pause) or failed under us:
			// issue the same window again and read it from its first page;
			// what was forwarded already is in Seen.
			s.c.log.Info(fmt.Sprintf("(detections of %s: run %s is gone (%d), issuing the window %s – %s again)", p.TenantLabel(), st.Run, ae.Status,
				st.From.Format(time.RFC3339), st.To.Format(time.RFC3339)))
			st.Run = ""
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	page := &pipeline.Page{Partition: p, Rejected: res.Rejected, Bytes: res.Bytes}
	page.Records = res.Records[:0:0]
	for _, r := range res.Records {
		h := idHash(r.ID)
		if _, dup := seen.at[h]; dup {
			continue // read again by the overlap (or a re-issued run)
		}
		at := st.To
		if w := r.WhenTime(); !w.IsZero() {
			at = w
		}
		seen.add(h, uint32(at.Unix()))
		page.Records = append(page.Records, r)
	}
	if !res.Pages.lastPage(st.Page, len(res.Records)+len(res.Rejected)) {
		st.Page++
		page.HasMore = true
	} else {
		// The window is read: the next one starts Overlap before its end.
		st.Done, st.Run, st.Page = st.To, "", 0
		st.From, st.To = time.Time{}, time.Time{}
		seen.prune(uint32(st.Done.Add(-o.Overlap).Unix()), o.MaxSeen)
		page.HasMore = now.Sub(st.Done) >= time.Minute // a split window: more to read now
	}
	st.Seen = seen.encode()
	page.Cursor = st.encode()
	return page, nil
}

// runDetectionQuery POSTs the window and polls the run until it has a
// result: a failed run is issued again (three tries), a run still pending
// after PollTimeout is an error (the next pass issues it again). A 403/404
// on the POST means the tenant has no detections API: NotLicensedError.
func (s *Source) runDetectionQuery(ctx context.Context, t Tenant, p pipeline.Partition, from, to time.Time) (string, error) {
	o := s.opt.Detections
	for try := 1; try <= 3; try++ {
		run, err := s.c.StartDetectionQuery(ctx, t, from, to)
		if status, ok := unlicensedStatus(err); ok {
			return "", s.notLicensed(p, status)
		}
		if err != nil {
			return "", err
		}
		deadline := time.Now().Add(o.PollTimeout)
		wait := o.PollInitial
		for run.Result == "" || run.Result == RunNotAvailable {
			if time.Now().After(deadline) {
				return "", fmt.Errorf("sophos: detections query run %s for %s did not finish within %s (poll_timeout): the window is issued again next pass", run.ID, p.TenantLabel(), o.PollTimeout)
			}
			if err := sleepCtx(ctx, wait); err != nil {
				return "", err
			}
			wait = min(2*wait, o.PollMax)
			if run, err = s.c.DetectionRunStatus(ctx, t, run.ID); err != nil {
				return "", err
			}
		}
		switch {
		case run.Result == RunSucceeded && !run.Expired(s.c.cfg.Now()):
			return run.ID, nil
		case run.Result == RunSucceeded:
			s.c.log.Warn(fmt.Sprintf("sophos: detections query run %s for %s expired before it was read: issuing it again", run.ID, p.TenantLabel()))
		case run.Result == RunFailed:
			s.c.log.Warn(fmt.Sprintf("sophos: detections query run %s for %s failed (try %d of 3): issuing it again", run.ID, p.TenantLabel(), try))
		default:
			s.c.log.Warn(fmt.Sprintf("sophos: detections query run %s for %s: unexpected result %q (try %d of 3): issuing it again", run.ID, p.TenantLabel(), run.Result, try))
		}
	}
	return "", &retryableError{fmt.Errorf("sophos: detections query for %s failed three times: the window is issued again next pass", p.TenantLabel())}
}

// retryableError is a source failure worth another try later.
type retryableError struct{ error }

func (e *retryableError) Unwrap() error   { return e.error }
func (e *retryableError) Retryable() bool { return true }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
