package sophos

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// CasesOptions tune the cases stream.
type CasesOptions struct {
	Window        time.Duration // createdAfter = now − Window (default 30 days)
	PageSize      int           // first page size asked for, lowered on a 400 (default 50)
	Detections    bool          // attach each forwarded case's detections
	MaxRemembered int           // (id, updatedAt) pairs kept per tenant (default 10000; 16 bytes each in the checkpoint)
}

func (o CasesOptions) withDefaults() CasesOptions {
	if o.Window <= 0 {
		o.Window = 30 * 24 * time.Hour
	}
	if o.PageSize <= 0 {
		o.PageSize = 50
	}
	if o.MaxRemembered <= 0 {
		o.MaxRemembered = 10000
	}
	return o
}

// caseCursor is the cases checkpoint. The API has no updatedAfter, so every
// sweep re-reads the window page by page (Key is the pageFromKey of the next
// page, "" between sweeps) and forwards a case only when its (id, updatedAt)
// is not in Mem: per case an 8-byte hash of the id, a 4-byte hash of
// updatedAt and its createdAt, at most MaxRemembered. Kept in the checkpoint, it
// moves only with delivered pages (never ahead of them) and is apart from
// any dedupe stage's table, so busy events cannot evict it.
type caseCursor struct {
	V     int       `json:"v"`
	Key   string    `json:"key,omitempty"`
	After time.Time `json:"after,omitzero"`
	Size  int       `json:"size,omitempty"` // the page size the API accepted
	Mem   string    `json:"mem,omitempty"`
}

const caseCursorPrefix = "cases:"

func (c caseCursor) encode() string {
	b, _ := json.Marshal(c)
	return caseCursorPrefix + string(b)
}

func parseCaseCursor(s string) (caseCursor, error) {
	var c caseCursor
	if !strings.HasPrefix(s, caseCursorPrefix) {
		return c, fmt.Errorf("not a cases checkpoint (%.40q): clear it with `state reset TENANT cases`", s)
	}
	if err := json.Unmarshal([]byte(s[len(caseCursorPrefix):]), &c); err != nil {
		return c, fmt.Errorf("damaged cases checkpoint (%v): clear it with `state reset TENANT cases`", err)
	}
	return c, nil
}

// caseMemory is the (id, updatedAt) memory: per case the hash of its
// updatedAt and its createdAt (Unix seconds). Over budget, the oldest-created
// cases are forgotten first: they leave the createdAfter window soonest, and
// a sweep that re-reads more cases than the budget then re-sends only the
// excess, never the whole window (which forgetting by insertion order would).
type caseMemory struct {
	ver     map[uint64]uint32
	created map[uint64]uint32
}

func versionHash(s string) uint32 { return uint32(idHash(s)) }

func decodeCaseMemory(s string) caseMemory {
	m := caseMemory{ver: map[uint64]uint32{}, created: map[uint64]uint32{}}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return m
	}
	for len(b) >= 16 {
		id := binary.BigEndian.Uint64(b)
		m.ver[id], m.created[id] = binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])
		b = b[16:]
	}
	return m
}

func (m *caseMemory) set(id uint64, v, created uint32) { m.ver[id], m.created[id] = v, created }

// ids is the remembered case hashes, oldest-created first.
func (m *caseMemory) ids() []uint64 {
	out := make([]uint64, 0, len(m.ver))
	for id := range m.ver {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := m.created[out[i]], m.created[out[j]]; a != b {
			return a < b
		}
		return out[i] < out[j]
	})
	return out
}

// trim forgets the oldest-created entries beyond max and says how many.
func (m *caseMemory) trim(max int) int {
	n := len(m.ver) - max
	if n <= 0 {
		return 0
	}
	for _, id := range m.ids()[:n] {
		delete(m.ver, id)
		delete(m.created, id)
	}
	return n
}

func (m *caseMemory) encode() string {
	ids := m.ids()
	b := make([]byte, 0, 16*len(ids))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, id)
		b = binary.BigEndian.AppendUint32(b, m.ver[id])
		b = binary.BigEndian.AppendUint32(b, m.created[id])
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// fetchCases pulls the next page of the tenant's cases sweep.
func (s *Source) fetchCases(ctx context.Context, t Tenant, p pipeline.Partition, pos pipeline.Position) (*pipeline.Page, error) {
	o := s.opt.Cases
	st := caseCursor{V: 1}
	if pos.Cursor != "" {
		var err error
		if st, err = parseCaseCursor(pos.Cursor); err != nil {
			return nil, err
		}
	}
	if st.Key == "" || st.After.IsZero() {
		st.Key, st.After = "", s.c.cfg.Now().Add(-o.Window).UTC().Truncate(time.Second)
		s.sweepStarted(p.Key())
	}
	if st.Size <= 0 {
		st.Size = o.PageSize
	}
	var res *xdrPage
	for {
		var err error
		res, err = s.c.casesPage(ctx, t, st.After, st.Size, st.Key)
		if status, ok := unlicensedStatus(err); ok && st.Key == "" {
			return nil, s.notLicensed(p, status)
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest && st.Size > 1 {
			// The page-size cap is not documented (200 is refused, 50 works):
			// halve it and remember what worked in the checkpoint.
			lower := max(1, st.Size/2)
			s.c.log.Warn(fmt.Sprintf("sophos: cases of %s: pageSize %d refused (400), trying %d", p.TenantLabel(), st.Size, lower))
			st.Size = lower
			continue
		}
		if err != nil {
			return nil, err
		}
		break
	}
	mem := decodeCaseMemory(st.Mem)
	page := &pipeline.Page{Partition: p, Rejected: res.Rejected, Bytes: res.Bytes}
	page.Records = res.Records[:0:0]
	for _, r := range res.Records {
		id, ver := idHash(r.ID), versionHash(rawjson.String(rawjson.Get(r.Raw, "updatedAt")))
		if v, ok := mem.ver[id]; ok && v == ver {
			continue // this (id, updatedAt) was forwarded already
		}
		if o.Detections {
			var err error
			if r, err = s.withCaseDetections(ctx, t, r); err != nil {
				return nil, err
			}
		}
		created := uint32(0)
		if c := r.CreatedTime(); !c.IsZero() {
			created = uint32(c.Unix())
		}
		mem.set(id, ver, created)
		page.Records = append(page.Records, r)
	}
	if n := mem.trim(o.MaxRemembered); n > 0 && s.warnOnce("budget/"+p.Key()) {
		s.c.log.Warn(fmt.Sprintf("sophos: cases of %s: more than %d cases in the window (sources.cases.max_remembered): the oldest are forgotten, and re-sent each time a sweep reads them again — raise max_remembered or shorten sources.cases.window", p.TenantLabel(), o.MaxRemembered))
	}
	st.Mem = mem.encode()
	next := res.Pages.NextKey
	if next != "" && next != st.Key && len(res.Records)+len(res.Rejected) > 0 {
		st.Key = next
		page.HasMore = true
	} else {
		if next != "" && next == st.Key {
			s.c.log.Warn(fmt.Sprintf("sophos: cases of %s: the API returned the pageFromKey just sent as nextKey: ending the sweep here", p.TenantLabel()))
		}
		st.Key, st.After = "", time.Time{}
		// A sweep resumed from an earlier run's checkpoint did not re-read
		// the pages before its key: sweep once more from the first page, so
		// every pass (a -once run too) sees every case's latest version.
		page.HasMore = !s.sweptHere(p.Key())
	}
	page.Cursor = st.encode()
	if len(page.Records) > 0 {
		s.sawCases(t.ID)
	}
	return page, nil
}

// withCaseDetections returns r with its detections appended to the raw case
// as "detections": [...] (unless the case already has that key).
func (s *Source) withCaseDetections(ctx context.Context, t Tenant, r pipeline.Record) (pipeline.Record, error) {
	if rawjson.Get(r.Raw, "detections") != nil {
		return r, nil
	}
	dets, err := s.c.caseDetections(ctx, t, r.ID)
	if err != nil {
		return r, fmt.Errorf("case %s detections: %w", r.ID, err)
	}
	end := len(r.Raw) - 1 // the closing '}'
	for end > 0 && r.Raw[end] != '}' {
		end--
	}
	raw := make([]byte, 0, len(r.Raw)+64)
	raw = append(raw, r.Raw[:end]...)
	if rawjson.SkipSpace(r.Raw, 1) != end { // a non-empty object
		raw = append(raw, ',')
	}
	raw = append(raw, `"detections":[`...)
	for i, d := range dets {
		if i > 0 {
			raw = append(raw, ',')
		}
		raw = append(raw, d...)
	}
	raw = append(raw, "]}"...)
	nr, err := pipeline.NewRecord(r.Stream, r.Tenant, raw)
	if err != nil {
		return r, fmt.Errorf("case %s with its detections: %w", r.ID, err)
	}
	return nr, nil
}
