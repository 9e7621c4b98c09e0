package encoding

import (
	"bytes"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// official replays what the official Sophos SIEM script (v2.1.0) does to an
// item before printing it (reference §10): it models the script's Python
// dict — insertion order, a key set again keeping its position, a deleted
// key set again going to the end — over the raw item without decoding it
// into a map. Values stay raw JSON slices of the item; strings the script
// computes (datastream, dhost, regex groups) and every key live, decoded, in
// the arena.
type official struct {
	t     tape // the item being encoded
	p     py
	arena []byte
	ents  []entry // the record dict
	flat  []entry // CEF: the flattened dict
	// entsSeen and flatSeen have the signature bit of every key ever put in
	// ents and flat: set appends a key whose bit is clear without a scan.
	entsSeen, flatSeen sigFilter
	keepDhost          bool
	warn               *warner // the script's stderr warnings
	idx                sigIndex
}

// entry is one dict item. The key is arena[ka:kb]. The value is node n of
// the item's tape or, when n is 0 (the item itself, never a member's
// value), the Python str arena[va:vb].
type entry struct {
	ka, kb int32
	va, vb int32
	n      int32
	dead   bool
	sig    uint64 // keySig of the key, set by set and setIndexed
}

func newOfficial(o Options) *official {
	x := &official{keepDhost: o.KeepDhost, warn: newWarner(o.Logger)}
	x.p.t = &x.t
	return x
}

// kind is the first byte of the value's JSON text, 0 for an arena str.
func (o *official) kind(e *entry) byte {
	if e.n == 0 {
		return 0
	}
	return o.t.nodes[e.n].kind
}

func (o *official) key(e *entry) []byte { return o.arena[e.ka:e.kb] }

// str returns the value as Python str text; ok is false for non-strings.
func (o *official) str(e *entry) (text, bool) {
	if e.n == 0 {
		return plainText(o.arena[e.va:e.vb]), true
	}
	if o.t.nodes[e.n].kind == '"' {
		return jsonText(o.t.text(e.n)), true
	}
	return text{}, false
}

// appendRepr appends repr(value).
func (o *official) appendRepr(dst []byte, e *entry) []byte {
	if e.n == 0 {
		return appendRepr(dst, plainText(o.arena[e.va:e.vb]))
	}
	return o.p.repr(dst, e.n)
}

// appendStrVal appends str(value).
func (o *official) appendStrVal(dst []byte, e *entry) []byte {
	if e.n == 0 {
		return append(dst, o.arena[e.va:e.vb]...)
	}
	return o.p.str(dst, e.n)
}

// appendJSONVal appends json.dumps(value, ensure_ascii=False).
func (o *official) appendJSONVal(dst []byte, e *entry) []byte {
	if e.n == 0 {
		return appendJSONString(dst, plainText(o.arena[e.va:e.vb]))
	}
	return o.p.json(dst, e.n)
}

// addText appends s to the arena and returns its range.
func (o *official) addText(s string) (int32, int32) {
	a := int32(len(o.arena))
	o.arena = append(o.arena, s...)
	return a, int32(len(o.arena))
}

// find returns the index of the live entry with key k (signature h), or -1.
func (o *official) find(list []entry, k []byte, h uint64) int {
	for i := range list {
		e := &list[i]
		if e.sig == h && !e.dead && bytes.Equal(o.arena[e.ka:e.kb], k) {
			return i
		}
	}
	return -1
}

// findName is find for a name: every entry carries its key's signature,
// so most entries are passed over on one compare.
func (o *official) findName(list []entry, k string) int {
	h := keySig(stringBytes(k))
	for i := range list {
		e := &list[i]
		if e.sig == h && !e.dead && string(o.arena[e.ka:e.kb]) == k {
			return i
		}
	}
	return -1
}

// set is d[key] = value: in place when key is present, appended otherwise.
// v carries the value (raw or va/vb); its key fields are ignored. seen is
// list's filter (entsSeen or flatSeen).
func (o *official) set(list []entry, seen *sigFilter, ka, kb int32, v entry) []entry {
	h := keySig(o.arena[ka:kb])
	if seen.fresh(h) {
		return pushEntry(list, ka, kb, h, &v)
	}
	return o.setSig(list, ka, kb, h, v)
}

// setSig is set for a key whose signature h is known and already marked
// in the list's filter.
func (o *official) setSig(list []entry, ka, kb int32, h uint64, v entry) []entry {
	k := o.arena[ka:kb]
	if i := o.find(list, k, h); i >= 0 {
		list[i].n, list[i].va, list[i].vb = v.n, v.va, v.vb
		return list
	}
	return pushEntry(list, ka, kb, h, &v)
}

// pushEntry appends a live entry with key arena[ka:kb] (signature h) and
// v's value. It fills the zeroed slot field by field: copying a whole
// entry just built with narrow stores stalls store forwarding.
func pushEntry(list []entry, ka, kb int32, h uint64, v *entry) []entry {
	list = append(list, entry{})
	e := &list[len(list)-1]
	e.ka, e.kb, e.sig = ka, kb, h
	e.n, e.va, e.vb = v.n, v.va, v.vb
	return list
}

// load builds the record dict: the item's members in order (a repeated key
// keeps its first position and last value, as json.loads does), then the
// client's "datastream", then remove_null_values drops top-level nulls.
func (o *official) load(r *pipeline.Record) error {
	return o.loadRaw(r.Raw, string(r.Stream))
}

// loadRaw is load for an item; datastream "" leaves the item as it is (the
// script's unit tests call its formatters without the API client).
func (o *official) loadRaw(raw []byte, datastream string) error {
	o.arena = o.arena[:0]
	o.ents = o.ents[:0]
	o.flat = o.flat[:0]
	o.entsSeen, o.flatSeen = sigFilter{}, sigFilter{}
	o.idx.reset()
	t := &o.t
	if !t.parseItem(raw) {
		return itemError(raw)
	}
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		ka := int32(len(o.arena))
		o.arena = t.appendStrText(o.arena, k)
		o.ents = o.setIndexed(o.ents, &o.entsSeen, ka, int32(len(o.arena)), entry{n: k + 1})
	}
	if datastream != "" {
		ka, kb := o.addText("datastream")
		va, vb := o.addText(datastream)
		o.ents = o.set(o.ents, &o.entsSeen, ka, kb, entry{va: va, vb: vb})
	}
	for i := range o.ents {
		if e := &o.ents[i]; o.kind(e) == 'n' {
			e.dead = true
		}
	}
	return nil
}

// renameOf is the script's CEF_MAPPING minus its identity entries (name
// and severity map to themselves and are skipped by update_cef_keys).
func renameOf(k []byte) (string, bool) {
	switch string(k) {
	case "device_event_class_id":
		return "type", true
	case "source":
		return "suser", true
	case "when":
		return "end", true
	case "user_id":
		return "duid", true
	case "created_at":
		return "rt", true
	case "full_file_path":
		return "filePath", true
	case "location":
		return "dhost", true
	}
	return "", false
}

// updateCEFKeys is the script's update_cef_keys: walking a snapshot of the
// dict in order, each mapped key is set under its new name (moving to the
// end unless the new name exists) and deleted; location's value gets the
// FQDN cleanup first.
func (o *official) updateCEFKeys(list []entry, seen *sigFilter) []entry {
	n := len(list)
	for i := 0; i < n; i++ {
		if list[i].dead {
			continue
		}
		to, ok := renameOf(o.key(&list[i]))
		if !ok {
			continue
		}
		v := list[i]
		if to == "dhost" && !o.keepDhost {
			if t, ok := o.str(&v); ok {
				v.n = 0
				v.va, v.vb = o.fqdn(t)
			}
			// A non-string location would crash the script; it is kept.
		}
		ka, kb := o.addText(to)
		list = o.set(list, seen, ka, kb, v)
		list[i].dead = true
	}
	return list
}

// fqdn returns the arena range of the dhost value for location text t: the
// text itself when it is a valid FQDN, else its conversion (§10.3).
func (o *official) fqdn(t text) (int32, int32) {
	a := int32(len(o.arena))
	o.arena = appendStr(o.arena, t)
	b := int32(len(o.arena))
	if validFQDN(o.arena[a:b]) {
		return a, b
	}
	o.arena = appendConvertFQDN(o.arena, o.arena[a:b])
	return b, int32(len(o.arena))
}
