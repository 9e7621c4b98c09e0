package sophos

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	MaxRemembered int           // (id, updatedAt) pairs kept per tenant (default 10000)
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
// is not in Mem: per case an 8-byte hash of the id and a 4-byte hash of
// updatedAt, oldest first, at most MaxRemembered. Kept in the checkpoint, it
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

// caseMemory is the (id, updatedAt) memory in insertion order.
type caseMemory struct {
	order []uint64
	ver   map[uint64]uint32
}

func versionHash(s string) uint32 { return uint32(idHash(s)) }

func decodeCaseMemory(s string) caseMemory {
	m := caseMemory{ver: map[uint64]uint32{}}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return m
	}
	for len(b) >= 12 {
		m.set(binary.BigEndian.Uint64(b), binary.BigEndian.Uint32(b[8:]))
		b = b[12:]
	}
	return m
}

// set remembers id's version as the newest entry.
func (m *caseMemory) set(id uint64, v uint32) {
	if _, ok := m.ver[id]; ok {
		for i, h := range m.order {
			if h == id {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	}
	m.order = append(m.order, id)
	m.ver[id] = v
}

// trim forgets the oldest entries beyond max and says how many.
func (m *caseMemory) trim(max int) int {
	n := len(m.order) - max
	if n <= 0 {
		return 0
	}
	for _, h := range m.order[:n] {
		delete(m.ver, h)
	}
	m.order = m.order[n:]
	return n
}

func (m *caseMemory) encode() string {
	b := make([]byte, 0, 12*len(m.order))
	for _, h := range m.order {
		b = binary.BigEndian.AppendUint64(b, h)
		b = binary.BigEndian.AppendUint32(b, m.ver[h])
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
		mem.set(id, ver)
		page.Records = append(page.Records, r)
	}
	if n := mem.trim(o.MaxRemembered); n > 0 {
		s.c.log.Warn(fmt.Sprintf("sophos: cases of %s: more than %d cases in the window (sources.cases.max_remembered): the %d oldest were forgotten and will be forwarded once more if they are read again", p.TenantLabel(), o.MaxRemembered, n))
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
