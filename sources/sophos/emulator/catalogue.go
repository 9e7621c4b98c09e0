package emulator

import (
	"encoding/json"
	"time"
)

// CatalogueItem is one item of the emulator's catalogue: its type and the
// API item (a JSON object) exactly as the SIEM endpoint would serve it.
type CatalogueItem struct {
	Type string
	Item []byte
}

// Catalogue returns, for stream "alert" or "event", every type the
// emulator generates on that stream, each type perTypes times (drawn with
// different endpoints, platforms and details), in catalogue order. Formats
// test against it so that a type the emulator learns is a type every
// encoder must map. It needs no server: the items are rendered from a
// tenant built with seed, as the SIEM endpoints render them.
func Catalogue(stream string, perType int, seed int64) []CatalogueItem {
	switch stream {
	case "detection", "detections":
		return xdrCatalogue(false, perType, seed)
	case "case", "cases":
		return xdrCatalogue(true, perType, seed)
	}
	st, ok := parseStreamName(stream)
	if !ok || perType <= 0 {
		return nil
	}
	o := Options{Seed: seed}
	if err := o.setDefaults(); err != nil {
		return nil
	}
	s := &Server{opts: o}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	t := newTenant(s, 0, now)
	want := 0
	for _, et := range evTypes {
		if et.alertW > 0 || (st == sEvents && et.eventW > 0) {
			want++
		}
	}
	index := map[string]int{}
	for i, et := range evTypes {
		index[et.typ] = i
	}
	found := make([][]CatalogueItem, len(evTypes))
	done := 0
	// Every type has a weight of at least 1 in 69, so 100,000 draws cover
	// each many times over.
	for i := uint64(0); i < 100_000 && done < want; i++ {
		var it item
		it.key = hash4(t.key, 0xCA7A, 0, i)
		it.alert = st == sAlerts || i%2 == 1 // events: plain ones and alert twins
		it.ms = now - int64(i%3600)*1000
		it.hi, it.lo = uuidOf(it.key)
		in := t.incident(it.key, it.alert)
		k := index[in.et.typ]
		if len(found[k]) >= perType {
			continue
		}
		var b []byte
		if st == sAlerts {
			b = t.appendAlert(nil, it)
		} else {
			b = t.appendEvent(nil, it)
		}
		found[k] = append(found[k], CatalogueItem{Type: in.et.typ, Item: b})
		if len(found[k]) == perType {
			done++
		}
	}
	var out []CatalogueItem
	for _, f := range found {
		out = append(out, f...)
	}
	return out
}

// CatalogueTypes lists the types the emulator generates on stream "alert"
// or "event", in catalogue order.
func CatalogueTypes(stream string) []string {
	switch stream {
	case "detection", "detections":
		var out []string
		for _, r := range detectionRules {
			out = append(out, r.rule)
		}
		return out
	case "case", "cases":
		return append([]string(nil), caseStatuses...)
	}
	st, ok := parseStreamName(stream)
	if !ok {
		return nil
	}
	var out []string
	for _, et := range evTypes {
		if et.alertW > 0 || (st == sEvents && et.eventW > 0) {
			out = append(out, et.typ)
		}
	}
	return out
}

// xdrCatalogue is Catalogue for the detections stream (one "type" per
// detection rule) and the cases stream (one per status; MDR-managed and
// self-managed, with and without severity and assignee, half of them with
// their detections attached as the cases source does).
func xdrCatalogue(cases bool, perType int, seed int64) []CatalogueItem {
	if perType <= 0 {
		return nil
	}
	o := Options{Seed: seed, XDR: XDR{Kinds: []string{KindMDR}}}
	if err := o.setDefaults(); err != nil {
		return nil
	}
	s := &Server{opts: o}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	t := newTenant(s, 0, now)
	r := newRnd(hash4(t.key, 0xCA7B, 0, 0))
	var out []CatalogueItem
	if !cases {
		found := map[string]int{}
		for i := 0; i < 10_000 && len(out) < perType*len(detectionRules); i++ {
			d := t.newDetection(&r, now-int64(i)*1000, now-int64(i)*1000)
			if found[d.DetectionRule] >= perType {
				continue
			}
			found[d.DetectionRule]++
			b, err := json.Marshal(d)
			if err != nil {
				return nil
			}
			out = append(out, CatalogueItem{Type: d.DetectionRule, Item: b})
		}
		return out
	}
	for i := range 12 {
		t.x.detections = append(t.x.detections, t.newDetection(&r, now-int64(i)*60_000, now-int64(i)*60_000))
	}
	for i := range perType {
		for j, status := range caseStatuses {
			if i%2 == 1 {
				t.srv.opts.XDR.Kinds = []string{KindXDR} // self-managed
			} else {
				t.srv.opts.XDR.Kinds = []string{KindMDR}
			}
			c := t.newCase(&r, now-int64(i*5+j)*3_600_000)
			for c.Status != status {
				c.changeStatus(c.updatedMs + 60_000)
			}
			b, err := json.Marshal(c)
			if err != nil {
				return nil
			}
			if (i+j)%2 == 0 && len(c.detections) > 0 {
				// Attached as sources/sophos does: "detections": [...] last.
				dets := make([]*detection, 0, len(c.detections))
				for _, k := range c.detections {
					dets = append(dets, t.x.detections[k])
				}
				db, err := json.Marshal(dets)
				if err != nil {
					return nil
				}
				b = append(append(append(b[:len(b)-1], `,"detections":`...), db...), '}')
			}
			out = append(out, CatalogueItem{Type: status, Item: b})
		}
	}
	return out
}
