package encoding

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// integrationEncoder writes what Elastic Agent's httpjson input of the
// sophos_central integration sends to Elasticsearch, for the integration's
// ingest pipeline (in the cluster) to build its document:
//
//	{"@timestamp": when (else created_at, else now), "message": <the item as
//	 a JSON string>, "data_stream": {"type": "logs", "dataset":
//	 "sophos_central.<alert|event>", "namespace": <namespace>}, "event":
//	 {"dataset": …}, "input": {"type": "httpjson"}, "tags": [the
//	 preserve_* options' tags, "forwarded", "sophos_central-<alert|event>"]}
//
// message is the item as httpjson re-encodes it (Go's encoding/json of the
// decoded item: keys sorted, numbers as float64), written from the tape
// without decoding (TestIntegrationMessageIsGoJSON holds it to
// encoding/json), so event.original is the same text an Agent stores. The pipeline replaces @timestamp
// with `when` when that parses.
type integrationEncoder struct {
	opts Options
	ns   string
	t    tape
	msg  []byte
	keys []goKey // appendGoJSON's member lists, one stretch per open object
	str  []byte

	orders [64]keyOrder // objects' member orders (sortKeys), by orderSlot
	orig   []goKey

	fp     Fingerprinter
	parsed parsedItem // the item AppendFingerprint parsed into t
}

// parsedItem names the record whose item a tape holds, so that Append
// after AppendFingerprint does not parse it again.
type parsedItem struct {
	r   *pipeline.Record
	raw []byte
}

// is reports whether the tape holds r's item: the same record with the
// same Raw slice.
func (p parsedItem) is(r *pipeline.Record) bool {
	return p.r == r && len(p.raw) == len(r.Raw) && unsafe.SliceData(p.raw) == unsafe.SliceData(r.Raw)
}

// fingerprint is AppendFingerprint for an encoder with tape t and
// parsed item p.
func fingerprint(fp *Fingerprinter, t *tape, p *parsedItem, dst []byte, r *pipeline.Record) ([]byte, bool) {
	*p = parsedItem{}
	if !r.Stream.SIEM() {
		return fp.Append(dst, r.Raw) // Append does not use the tape
	}
	if !t.parseItem(r.Raw) {
		return dst, false
	}
	*p = parsedItem{r, r.Raw}
	return fp.appendTape(dst, t)
}

// AppendFingerprint implements FingerprintEncoder.
func (e *integrationEncoder) AppendFingerprint(dst []byte, r *pipeline.Record) ([]byte, bool) {
	return fingerprint(&e.fp, &e.t, &e.parsed, dst, r)
}

// goKey is an object member for sorting: its decoded name and key node.
type goKey struct {
	name string
	k    int32
}

// keyOrder is an object's member names in item order (copied: text,
// ends) and the order sortGoKeys puts them in (perm: sorted position ->
// item position).
type keyOrder struct {
	text []byte
	ends []int32
	perm []int16
}

// matches reports whether keys have, in order, o's names.
func (o *keyOrder) matches(keys []goKey) bool {
	if len(o.ends) != len(keys) {
		return false
	}
	var start int32
	for i, k := range keys {
		if string(o.text[start:o.ends[i]]) != k.name {
			return false
		}
		start = o.ends[i]
	}
	return true
}

// sortKeys sorts an object's members as sortGoKeys does. API items of a
// kind have the same members in the same order, so the order of a list
// of names is remembered (64 places, a list's length and end names pick
// its place; a new list takes it over) and reused when an object has, in
// order, the same names (TestGoKeyOrderCache).
func (e *integrationEncoder) sortKeys(keys []goKey) {
	if len(keys) < 2 {
		return
	}
	e.orig = append(e.orig[:0], keys...)
	// one place per list: its length and first and last names pick it
	first, last := keys[0].name, keys[len(keys)-1].name
	h := uint(len(keys))*31 + uint(len(first))*7 + uint(len(last))
	if first != "" {
		h += uint(first[0])*131 + uint(first[len(first)-1])*17
	}
	if last != "" {
		h += uint(last[0])*1031 + uint(last[len(last)-1])*5
	}
	o := &e.orders[h%uint(len(e.orders))]
	if o.matches(keys) {
		for j, p := range o.perm {
			keys[j] = e.orig[p]
		}
		return
	}
	sortGoKeys(keys)
	if len(keys) > 1<<15 {
		return
	}
	o.text, o.ends, o.perm = o.text[:0], o.ends[:0], o.perm[:0]
	for _, k := range e.orig {
		o.text = append(o.text, k.name...)
		o.ends = append(o.ends, int32(len(o.text)))
	}
	// the sorted members' item positions: key nodes grow in item order
	for _, k := range keys {
		lo, hi := 0, len(e.orig)
		for lo < hi {
			m := (lo + hi) / 2
			if e.orig[m].k < k.k {
				lo = m + 1
			} else {
				hi = m
			}
		}
		o.perm = append(o.perm, int16(lo))
	}
}

func newIntegrationEncoder(opts Options) *integrationEncoder {
	ns := opts.Namespace
	if ns == "" {
		ns = "default"
	}
	return &integrationEncoder{opts: opts, ns: ns}
}

func (e *integrationEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		// The integration has no pipeline for detections and cases: send
		// the finished ECS document into this collector's own data stream.
		return appendXDRECS(dst, r, e.opts, e.ns)
	}
	parsed := e.parsed.is(r)
	e.parsed = parsedItem{}
	if !parsed && !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("integration: record %q: %w", r.ID, itemError(r.Raw))
	}
	stream := "event"
	if r.Stream == pipeline.Alerts {
		stream = "alert"
	}
	ts := r.WhenTime()
	if ts.IsZero() {
		ts = time.Now()
	}
	dst = append(dst, `{"@timestamp":`...)
	dst = appendISOMillis(dst, ts.UnixMilli())
	dst = append(dst, `,"message":"`...)
	mark := len(dst)
	var ok bool
	if dst, ok = e.goJSON(dst, 0, true); ok {
		dst = append(dst, '"')
	} else {
		// a number beyond float64 (httpjson could not decode the page at
		// all): send the item as received
		var b bytes.Buffer
		_ = json.Compact(&b, r.Raw)
		dst = appendJSONString(dst[:mark-1], plainText(b.Bytes()))
	}
	dst = append(dst, `,"data_stream":{"type":"logs","dataset":"sophos_central.`...)
	dst = append(dst, stream...)
	dst = append(dst, `","namespace":`...)
	dst = appendJSONString(dst, plainText([]byte(e.ns)))
	dst = append(dst, `},"event":{"dataset":"sophos_central.`...)
	dst = append(dst, stream...)
	dst = append(dst, `"},"input":{"type":"httpjson"},"tags":[`...)
	if e.opts.PreserveOriginalEvent {
		dst = append(dst, `"preserve_original_event",`...)
	}
	if e.opts.PreserveDuplicateCustomFields {
		dst = append(dst, `"preserve_duplicate_custom_fields",`...)
	}
	dst = append(dst, `"forwarded","sophos_central-`...)
	dst = append(dst, stream...)
	return append(dst, `"]}`...), nil
}

// appendGoJSON writes value n as Go's encoding/json writes it after
// decoding it into an interface{} (what httpjson does with each item):
// object keys sorted bytewise, a repeated key's last value, numbers as
// float64, strings with Go's escapes (HTML-safe). ok is false for a number
// a float64 cannot hold.
func (e *integrationEncoder) appendGoJSON(dst []byte, n int32) ([]byte, bool) {
	return e.goJSON(dst, n, false)
}

// goJSON is appendGoJSON; with quoted, the text is written as the content
// of a JSON string (what appendJSONString would make of it, in one pass:
// TestQuotedGoJSONMatchesAppendJSONString).
func (e *integrationEncoder) goJSON(dst []byte, n int32, quoted bool) ([]byte, bool) {
	t := &e.t
	nd := &t.nodes[n]
	switch nd.kind {
	case '"':
		var s []byte
		s, e.str = t.strOf(e.str, n)
		return appendGoStr(dst, s, quoted), true
	case '{':
		start := len(e.keys)
		for k, end := n+1, nd.next; k < end; k = t.nodes[k+1].next {
			e.keys = append(e.keys, goKey{e.keyText(k), k})
		}
		keys := e.keys[start:]
		e.sortKeys(keys)
		dst = append(dst, '{')
		first := true
		for i, k := range keys {
			if i+1 < len(keys) && keys[i+1].name == k.name {
				continue // a later duplicate wins
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendGoStr(dst, unsafeBytes(k.name), quoted)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = e.goJSON(dst, k.k+1, quoted); !ok {
				e.keys = e.keys[:start]
				return dst, false
			}
		}
		e.keys = e.keys[:start]
		return append(dst, '}'), true
	case '[':
		dst = append(dst, '[')
		for v, end := n+1, nd.next; v < end; v = t.nodes[v].next {
			if v != n+1 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = e.goJSON(dst, v, quoted); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case '0':
		if txt := t.text(n); shortInt(txt) {
			// an integer of at most 15 digits is a float64 exactly, and
			// encoding/json writes it back digit for digit ("-0" too)
			return append(dst, txt...), true
		}
		f, err := strconv.ParseFloat(unsafeString(t.text(n)), 64)
		if err != nil {
			return dst, false
		}
		return appendGoFloat(dst, f), true
	}
	return append(dst, t.text(n)...), true // true, false, null
}

// shortInt reports whether JSON number b is an integer (an optional minus
// and digits) of 1 to 15 digits.
func shortInt(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 15 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// keyText is key node k's decoded text (Go's map key).
func (e *integrationEncoder) keyText(k int32) string {
	if e.t.nodes[k].flags == 0 {
		return e.t.keyName(k)
	}
	return string(e.t.appendStrText(nil, k))
}

// sortGoKeys sorts an object's members bytewise by name, keeping the
// item's order among equal names: an insertion sort, as objects are small
// (slices.SortStableFunc with a comparison closure cost more than the rest
// of the message).
func sortGoKeys(keys []goKey) {
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for j > 0 && keys[j-1].name > k.name {
			keys[j] = keys[j-1]
			j--
		}
		keys[j] = k
	}
}

// appendGoFloat is encoding/json's float64 format.
func appendGoFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// goPlain marks the bytes encoding/json writes as they are: printable
// ASCII and DEL but " \ < > &.
var goPlain = func() (p [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		p[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return p
}()

// goPlainEnd returns the index of the first byte at or after i that is
// not goPlain, len(s) when none is: eight bytes a step (specialBits'
// tricks, exact for the lowest byte marked).
func goPlainEnd(s []byte, i int) int {
	for i+8 <= len(s) {
		w := binary.LittleEndian.Uint64(s[i:])
		lt, gt, amp := w^(lsb*'<'), w^(lsb*'>'), w^(lsb*'&')
		if m := specialBits(w) | ((lt-lsb)&^lt|(gt-lsb)&^gt|(amp-lsb)&^amp|w)&msb; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) && goPlain[s[i]] {
		i++
	}
	return i
}

// appendGoString is encoding/json's string form with HTML escaping: \"
// \\ \b \f \n \r \t, \u00XX for other controls and < > &, \u2028 \u2029,
// U+FFFD for invalid UTF-8.
func appendGoString(dst, s []byte) []byte { return appendGoStr(dst, s, false) }

// appendGoStr is appendGoString; with quoted, its text is written as the
// content of a JSON string (each " and \ of it escaped).
func appendGoStr(dst, s []byte, quoted bool) []byte {
	const hex = "0123456789abcdef"
	bs, quote := `\`, `"`
	if quoted {
		bs, quote = `\\`, `\"`
	}
	dst = append(dst, quote...)
	for i := 0; i < len(s); {
		j := goPlainEnd(s, i) // a run that needs no escape
		dst = append(dst, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, bs...)
			switch c {
			case '"':
				dst = append(dst, quote...)
			case '\\':
				dst = append(dst, bs...)
			case '\n':
				dst = append(dst, 'n')
			case '\r':
				dst = append(dst, 'r')
			case '\t':
				dst = append(dst, 't')
			case '\b':
				dst = append(dst, 'b')
			case '\f':
				dst = append(dst, 'f')
			default: // other controls, < > &
				dst = append(dst, 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, bs...)
			dst = append(dst, "ufffd"...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, bs...)
			dst = append(dst, 'u', '2', '0', '2', hex[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, quote...)
}
