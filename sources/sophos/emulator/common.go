package emulator

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Common API alerts (reference §5). The alerts are the SIEM alerts of the
// tenant (one id space); acknowledged ones leave the lists.

const (
	commonDefaultSize = 50
	commonMaxSize     = 1000
)

// alertQuery is the filter set of GET /common/v1/alerts and POST /search.
type alertQuery struct {
	From        string   `json:"from"`
	To          string   `json:"to"`
	Sort        []string `json:"sort"`
	Product     []string `json:"product"`
	Category    []string `json:"category"`
	Severity    []string `json:"severity"`
	GroupKey    string   `json:"groupKey"`
	IDs         []string `json:"ids"`
	Fields      []string `json:"fields"`
	PageSize    *int     `json:"pageSize"`
	PageFromKey string   `json:"pageFromKey"`
	PageTotal   bool     `json:"pageTotal"`
}

func csv(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) handleCommonList(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	aq := alertQuery{From: q.Get("from"), To: q.Get("to"), Sort: csv(q.Get("sort")), Product: csv(q.Get("product")),
		Category: csv(q.Get("category")), Severity: csv(q.Get("severity")), GroupKey: q.Get("groupKey"),
		IDs: csv(q.Get("ids")), Fields: csv(q.Get("fields")), PageFromKey: q.Get("pageFromKey"),
		PageTotal: strings.EqualFold(q.Get("pageTotal"), "true")}
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(w, 400, "pageSize must be an integer")
			return
		}
		aq.PageSize = &n
	}
	s.serveAlerts(w, c.t, aq)
}

func (s *Server) handleCommonSearch(w http.ResponseWriter, r *http.Request, c *call) {
	var aq alertQuery
	if !s.readJSON(w, r, &aq, true) {
		return
	}
	s.serveAlerts(w, c.t, aq)
}

func parseISO(v string) (int64, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// alertView is what a Common alert is filtered and sorted on.
type alertView struct {
	it item
	in incident
}

func (s *Server) serveAlerts(w http.ResponseWriter, t *tenant, aq alertQuery) {
	size := commonDefaultSize
	if aq.PageSize != nil {
		size = *aq.PageSize
	}
	if size < 1 || size > commonMaxSize {
		s.writeError(w, 400, "pageSize must be between 1 and 1000")
		return
	}
	var from, to int64 = 0, 1<<62 - 1
	var ok bool
	if aq.From != "" {
		if from, ok = parseISO(aq.From); !ok {
			s.writeError(w, 400, "from must be an ISO 8601 date-time")
			return
		}
	}
	if aq.To != "" {
		if to, ok = parseISO(aq.To); !ok {
			s.writeError(w, 400, "to must be an ISO 8601 date-time")
			return
		}
	}
	desc := false
	for _, so := range aq.Sort {
		f, dir, _ := strings.Cut(so, ":")
		if f != "raisedAt" || (dir != "" && dir != "asc" && dir != "desc") {
			s.writeError(w, 400, "sort supports raisedAt:asc and raisedAt:desc")
			return
		}
		desc = dir == "desc"
	}
	set := func(v []string) map[string]bool {
		if len(v) == 0 {
			return nil
		}
		m := map[string]bool{}
		for _, x := range v {
			m[strings.ToLower(x)] = true
		}
		return m
	}
	prod, cat, sev, ids := set(aq.Product), set(aq.Category), set(aq.Severity), set(aq.IDs)

	t.mu.RLock()
	var list []alertView
	it := t.iterAfter(sAlerts, pos{-1 << 62, maxU64, maxU64})
	for {
		x, ok := it.next()
		if !ok {
			break
		}
		if x.ms < from || x.ms >= to || t.acks[[2]uint64{x.hi, x.lo}] {
			continue
		}
		in := t.incident(x.key, true)
		if prod != nil && !prod[strings.ToLower(alertProduct(&in))] ||
			cat != nil && !cat[strings.ToLower(in.et.category)] ||
			sev != nil && !sev[in.sev] ||
			ids != nil && !ids[uuidString(x.hi, x.lo)] ||
			aq.GroupKey != "" && aq.GroupKey != in.groupKey() {
			continue
		}
		list = append(list, alertView{it: x, in: in})
	}
	t.mu.RUnlock()
	if desc {
		sort.SliceStable(list, func(i, j int) bool { return list[j].it.less(list[i].it) })
	}
	start := 0
	if aq.PageFromKey != "" {
		p, err := decodePageKey(aq.PageFromKey)
		if err != nil {
			s.writeError(w, 400, "Invalid pageFromKey")
			return
		}
		start = sort.Search(len(list), func(i int) bool {
			if desc {
				return p.after(list[i].it)
			}
			return list[i].it.after(p)
		})
	}
	end := min(start+size, len(list))
	items := make([]obj, 0, end-start)
	for _, v := range list[start:end] {
		items = append(items, s.commonAlert(t, v.it, &v.in, aq.Fields))
	}
	pages := obj{}
	if aq.PageFromKey != "" {
		pages = append(pages, kv{"fromKey", aq.PageFromKey})
	}
	if end < len(list) {
		pages = append(pages, kv{"nextKey", encodePageKey(list[end-1].it.pos())})
	}
	pages = append(pages, kv{"size", size})
	if aq.PageTotal {
		pages = append(pages, kv{"total", (len(list) + size - 1) / size}, kv{"items", len(list)})
	}
	pages = append(pages, kv{"maxSize", commonMaxSize})
	s.writeJSON(w, 200, obj{{"items", items}, {"pages", pages}})
}

// after reports whether the position p sorts after item it (desc paging).
func (p pos) after(it item) bool { return it.less(item{ms: p.ms, hi: p.hi, lo: p.lo}) }

func encodePageKey(p pos) string {
	b := appendInt(nil, p.ms)
	b = append(b, '|')
	b = appendUUID(b, p.hi, p.lo)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageKey(k string) (pos, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(k, "="))
	if err != nil {
		return pos{}, err
	}
	ms, id, ok := strings.Cut(string(raw), "|")
	n, err := strconv.ParseInt(ms, 10, 64)
	hi, lo, ok2 := parseUUID(id)
	if !ok || err != nil || !ok2 {
		return pos{}, errCursor
	}
	return pos{n, hi, lo}, nil
}

func alertProduct(in *incident) string {
	if in.ep.kind == "server" {
		return "server"
	}
	return "endpoint"
}

// commonAlert renders a Common API alert (optionally only some fields).
func (s *Server) commonAlert(t *tenant, it item, in *incident, fields []string) obj {
	desc := string(unescapeJSON(in.appendText(nil, in.whenMs(it.ms))))
	o := obj{
		{"id", uuidString(it.hi, it.lo)},
		{"allowedActions", in.et.actions},
		{"category", in.et.category},
		{"description", desc},
		{"groupKey", in.groupKey()},
		{"managedAgent", obj{{"id", in.ep.id}, {"type", in.ep.kind}}},
	}
	if in.ep.personID != "" {
		o = append(o, kv{"person", obj{{"id", in.ep.personID}}})
	}
	o = append(o,
		kv{"product", alertProduct(in)},
		kv{"raisedAt", isoString(it.ms)},
		kv{"severity", in.sev},
		kv{"tenant", obj{{"id", t.id}, {"name", t.name}}},
		kv{"type", in.et.typ},
	)
	if len(fields) == 0 {
		return o
	}
	keep := map[string]bool{"id": true}
	for _, f := range fields {
		keep[f] = true
	}
	out := o[:0:0]
	for _, m := range o {
		if keep[m.k] {
			out = append(out, m)
		}
	}
	return out
}

// findAlert looks an alert up by id (any stream position, acknowledged or not).
func (t *tenant) findAlert(id string) (item, bool) {
	hi, lo, ok := parseUUID(id)
	if !ok {
		return item{}, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.alertByID == nil {
		t.alertByID = map[[2]uint64]item{}
		it := t.iterAfter(sAlerts, pos{-1 << 62, maxU64, maxU64})
		for {
			x, ok := it.next()
			if !ok {
				break
			}
			t.alertByID[[2]uint64{x.hi, x.lo}] = x
		}
	}
	x, ok := t.alertByID[[2]uint64{hi, lo}]
	return x, ok
}

func (s *Server) handleCommonGet(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	x, ok := t.findAlert(r.PathValue("id"))
	t.mu.RLock()
	acked := ok && t.acks[[2]uint64{x.hi, x.lo}]
	t.mu.RUnlock()
	if !ok || acked {
		s.writeError(w, http.StatusNotFound, "Alert not found")
		return
	}
	in := t.incident(x.key, true)
	s.writeJSON(w, 200, s.commonAlert(t, x, &in, csv(r.URL.Query().Get("fields"))))
}

func (s *Server) handleCommonAction(w http.ResponseWriter, r *http.Request, c *call) {
	t := c.t
	var body struct {
		Action  string `json:"action"`
		Message string `json:"message"`
	}
	if !s.readJSON(w, r, &body, false) {
		return
	}
	if body.Action == "" {
		s.writeError(w, http.StatusBadRequest, "action is required")
		return
	}
	x, ok := t.findAlert(r.PathValue("id"))
	t.mu.RLock()
	acked := ok && t.acks[[2]uint64{x.hi, x.lo}]
	t.mu.RUnlock()
	if !ok || acked {
		s.writeError(w, http.StatusNotFound, "Alert not found")
		return
	}
	in := t.incident(x.key, true)
	allowed := false
	for _, a := range in.et.actions {
		allowed = allowed || a == body.Action
	}
	if !allowed {
		s.writeError(w, http.StatusBadRequest, "Action "+strconv.Quote(body.Action)+" is not allowed for this alert (allowedActions: "+strings.Join(in.et.actions, ", ")+")")
		return
	}
	now := s.nowMs()
	status, completed, result := "started", any(nil), ""
	if body.Action == "acknowledge" {
		t.mu.Lock()
		t.acks[[2]uint64{x.hi, x.lo}] = true
		t.mu.Unlock()
		status, completed, result = "completed", isoString(now), "success"
	}
	_, req := s.reqIDs()
	s.writeJSON(w, http.StatusCreated, obj{
		{"id", req}, {"alertId", uuidString(x.hi, x.lo)}, {"action", body.Action}, {"status", status},
		{"requestedAt", isoString(now)}, {"startedAt", isoString(now)}, {"completedAt", completed}, {"result", result},
	})
}
