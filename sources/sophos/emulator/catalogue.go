package emulator

import "time"

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
