package encoding

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"time"
	"unsafe"
)

// ecsWriter writes nested JSON objects, tracking whether a comma is due.
type ecsWriter struct {
	dst  []byte
	more bool // the current object already has a member
	t    *tape
}

// key starts a member of the current object; k is the quoted name and the
// colon, `"name":`, so that it is one copy.
func (w *ecsWriter) key(k string) {
	if w.more {
		w.dst = append(w.dst, ',')
	}
	w.more = true
	w.dst = append(w.dst, k...)
}

// open starts a member object (k "" opens the document itself).
func (w *ecsWriter) open(k string) {
	if k != "" {
		w.key(k)
	}
	w.dst = append(w.dst, '{')
	w.more = false
}

func (w *ecsWriter) close() {
	w.dst = append(w.dst, '}')
	w.more = true
}

// str writes text v as a JSON string.
func (w *ecsWriter) str(k, v string) {
	w.key(k)
	// The bytes are only read: no copy of v is needed.
	w.dst = appendJSONString(w.dst, plainText(unsafe.Slice(unsafe.StringData(v), len(v))))
}

// literal writes v, already JSON.
func (w *ecsWriter) literal(k, v string) {
	w.key(k)
	w.dst = append(w.dst, v...)
}

// rawString writes the raw JSON string v, if it is one.
func (w *ecsWriter) rawString(k string, v []byte) {
	if !isString(v) {
		return
	}
	w.key(k)
	w.dst = appendCompactString(w.dst, v)
}

// node writes string node n of the item, if n is one.
func (w *ecsWriter) node(k string, n int32) {
	if !w.t.isStr(n) {
		return
	}
	w.key(k)
	w.dst = w.t.appendJSONStr(w.dst, n)
}

// text writes decoded text v, if not nil.
func (w *ecsWriter) text(k string, v []byte) {
	if v == nil {
		return
	}
	w.key(k)
	w.dst = appendJSONString(w.dst, plainText(v))
}

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// appendCompactString copies a raw JSON string, re-encoding it when it
// holds escapes that appendJSONString would rewrite or invalid UTF-8
// (invalid UTF-8 and lone surrogates become U+FFFD, so the output is
// always valid UTF-8 JSON).
func appendCompactString(dst, v []byte) []byte {
	inner := v[1 : len(v)-1]
	if jsonVerbatimText(inner) {
		return append(dst, v...)
	}
	return appendJSONString(dst, jsonText(v))
}

// validIP returns v when it is a JSON string holding a plain IPv4 or IPv6
// address (an Elasticsearch ip field rejects anything else, zones too).
func validIP(v []byte) []byte {
	if !isString(v) || len(v) < 4 || !plainASCII(v[1:len(v)-1]) {
		return nil
	}
	s := v[1 : len(v)-1]
	a, err := netip.ParseAddr(unsafe.String(&s[0], len(s)))
	if err != nil || a.Zone() != "" {
		return nil
	}
	return v
}

// intValue reads a non-negative integer given as a JSON number or as a
// string of ASCII digits (Sophos sends ports and pids as strings).
func intValue(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	if v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func portNumber(v []byte) (int, bool) {
	n, ok := intValue(v)
	return n, ok && n <= 65535
}

// validDate reports whether v is a JSON string holding an RFC 3339 time.
func validDate(v []byte) bool {
	if !isString(v) || len(v) < 3 || !plainASCII(v[1:len(v)-1]) {
		return false
	}
	s := v[1 : len(v)-1]
	_, err := time.Parse(time.RFC3339Nano, unsafe.String(&s[0], len(s)))
	return err == nil
}

// appendISOMillis writes epoch milliseconds (years 1 to 9999, as
// epochNumber allows) as an ISO-8601 UTC string: what
// AppendFormat(dst, "2006-01-02T15:04:05.000Z") writes, without the layout
// interpretation.
func appendISOMillis(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	f := t.Nanosecond() / 1e6
	return append(dst, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-', byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10), 'Z', '"')
}

// epochNumber reads a JSON integer in the range of years 1..9999 at the
// given scale (1 for ms, 1000 for s), returning milliseconds.
func epochNumber(v []byte, scale int64) (int64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) || len(v) > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(unsafe.String(&v[0], len(v)), 10, 64)
	if err != nil {
		return 0, false
	}
	const lo, hi = -62135596800000, 253402300799999
	if n < lo/scale || n > hi/scale {
		return 0, false
	}
	return n * scale, true
}

// appendRest writes the item's members that have no ECS home, with the
// changes described on ecsEncoder.
func (e *ecsEncoder) appendRest(w *ecsWriter, alert bool, f *ecsFields) {
	p := &e.p
	t := &e.t
	start := p.dictMembers(0)
	for i := start; i < len(p.stack); i++ {
		m := p.stack[i]
		k := t.keyName(m.key)
		val := t.text(m.val)
		moved := false
		switch k {
		case "id", "customer_id", "user_id", "appSha256":
			moved = isString(val) && (k != "user_id" || !alert) && (k != "appSha256" || !alert)
		case "when":
			moved = f.when != 0
		case "created_at":
			moved = f.createdAt != 0
		case "name":
			moved = !alert && isString(val)
		case "type", "description":
			moved = alert && isString(val)
		}
		if moved {
			continue
		}
		if w.more {
			w.dst = append(w.dst, ',')
		}
		w.more = true
		w.dst = t.appendJSONStr(w.dst, m.key)
		w.dst = append(w.dst, ':')
		switch {
		case alert && k == "threat" && isString(val):
			w.dst = append(w.dst, `{"value":`...)
			w.dst = t.appendJSONStr(w.dst, m.val)
			w.dst = append(w.dst, '}')
		case k == "data" && val[0] == '{':
			w.dst = e.appendData(w.dst, m.val)
		default:
			w.dst = p.compact(w.dst, m.val)
		}
	}
	p.pop(start)
}

// appendData writes an alert's data object with dates and ids normalized.
func (e *ecsEncoder) appendData(dst []byte, data int32) []byte {
	p := &e.p
	t := &e.t
	start := p.dictMembers(data)
	dst = append(dst, '{')
	for i := start; i < len(p.stack); i++ {
		if i > start {
			dst = append(dst, ',')
		}
		m := p.stack[i]
		k := t.keyName(m.key)
		dst = t.appendJSONStr(dst, m.key)
		dst = append(dst, ':')
		switch {
		case len(k) > 3 && k[len(k)-3:] == "_at":
			if ms, ok := epochNumber(t.text(m.val), 1); ok {
				dst = appendISOMillis(dst, ms)
				continue
			}
		case k == "event_service_id" || k == "user_match_uuid":
			if d, ok := t.bsonUUID(m.val); ok {
				dst = d.appendTo(dst)
				continue
			}
		case k == "threat_id" || k == "user_match_id":
			switch t.kind(m.val) {
			case '"':
				dst = append(dst, `{"id":`...)
				dst = t.appendJSONStr(dst, m.val)
				dst = append(dst, '}')
				continue
			case '{':
				dst = e.appendObjectID(dst, m.val)
				continue
			}
		}
		dst = p.compact(dst, m.val)
	}
	p.pop(start)
	return append(dst, '}')
}

// uuid16 is a decoded 16-byte UUID.
type uuid16 [16]byte

func (u uuid16) appendTo(dst []byte) []byte {
	dst = append(dst, '"')
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, lowerHex[b>>4], lowerHex[b&0xf])
	}
	return append(dst, '"')
}

// bsonUUID decodes {"type":3|4,"data":"<base64 of 16 bytes>"}. Subtype 3 is
// the Java driver's legacy layout: each 8-byte half reversed.
func (t *tape) bsonUUID(v int32) (uuid16, bool) {
	var u uuid16
	if t.kind(v) != '{' {
		return u, false
	}
	typ, ok := intValue(t.valueText(t.lastMember(v, "type")))
	d := t.valueText(t.lastMember(v, "data"))
	if !ok || (typ != 3 && typ != 4) || !isString(d) || !plainASCII(d[1:len(d)-1]) {
		return u, false
	}
	var buf [24]byte
	n, err := base64.StdEncoding.Decode(buf[:], d[1:len(d)-1])
	if err != nil || n != 16 {
		return u, false
	}
	copy(u[:], buf[:16])
	if typ == 3 {
		for i := 0; i < 4; i++ {
			u[i], u[7-i] = u[7-i], u[i]
			u[8+i], u[15-i] = u[15-i], u[8+i]
		}
	}
	return u, true
}

// appendObjectID writes a decomposed ObjectId object: its members, times as
// ISO dates, plus "id" rebuilt as 24 hex digits when it has all parts and
// no "id" of its own.
func (e *ecsEncoder) appendObjectID(dst []byte, obj int32) []byte {
	p := &e.p
	t := &e.t
	start := p.dictMembers(obj)
	dst = append(dst, '{')
	var ts, machine, process, counter int64
	parts, hasID := 0, false
	for i := start; i < len(p.stack); i++ {
		if i > start {
			dst = append(dst, ',')
		}
		m := p.stack[i]
		k := t.keyName(m.key)
		val := t.text(m.val)
		dst = t.appendJSONStr(dst, m.key)
		dst = append(dst, ':')
		n, isInt := intValue(val)
		if val[0] == '"' {
			isInt = false
		}
		switch k {
		case "timestamp":
			if isInt {
				ts = int64(n)
				parts++
			}
		case "machineIdentifier":
			if isInt {
				machine = int64(n)
				parts++
			}
		case "processIdentifier":
			if isInt {
				process = int64(n)
				parts++
			}
		case "counter":
			if isInt {
				counter = int64(n)
				parts++
			}
		case "id":
			hasID = true
		}
		scale := int64(0)
		switch k {
		case "time", "date":
			scale = 1
		case "timestamp", "timeSecond":
			scale = 1000
		}
		if scale != 0 {
			if ms, ok := epochNumber(val, scale); ok {
				dst = appendISOMillis(dst, ms)
				continue
			}
		}
		dst = p.compact(dst, m.val)
	}
	p.pop(start)
	if parts == 4 && !hasID && ts < 1<<32 && machine < 1<<24 && process < 1<<16 && counter < 1<<24 {
		dst = append(dst, `,"id":"`...) // parts == 4 implies a member before
		for _, x := range [...]struct{ v, bytes int64 }{{ts, 4}, {machine, 3}, {process, 2}, {counter, 3}} {
			for b := x.bytes - 1; b >= 0; b-- {
				c := byte(x.v >> (8 * b))
				dst = append(dst, lowerHex[c>>4], lowerHex[c&0xf])
			}
		}
		dst = append(dst, '"')
	}
	return append(dst, '}')
}
