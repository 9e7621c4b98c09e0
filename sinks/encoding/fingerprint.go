package encoding

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Fingerprinter computes the _id Elastic's sophos_central integration gives
// an item: its pipelines' fingerprint processor over created_at, id and
// when (both streams; the processor sorts the field names). This is
// Elasticsearch's FingerprintProcessor with its defaults (SHA-1, no salt):
// for each field present and not null, in sorted order, the hash takes a
// 0 byte and the value's bytes — a string's UTF-8, an Integer's 4 or a
// Long's 8 little-endian bytes, a Double's 8 (IEEE bits, little endian),
// true 1 and false 2; an object's entries sorted by key, each as 0, key,
// then its value; a list's elements in order — and the result is the
// digest in standard base64. A copy indexed by Elastic Agent and one from
// sophos-connect then have the same _id.
type Fingerprinter struct {
	t    tape
	h    hash.Hash
	tmp  []byte
	keys []int32
}

// IntegrationIDFields are the fields the integration's fingerprint reads,
// sorted as the processor sorts them.
var IntegrationIDFields = []string{"created_at", "id", "when"}

// Append appends the _id for item raw; ok is false when the item is not a
// JSON object or none of the fields is set (the pipeline then sets no _id)
// or a value has no byte form in Elasticsearch (an integer beyond 64 bits).
func (f *Fingerprinter) Append(dst, raw []byte) ([]byte, bool) {
	if !f.t.parseItem(raw) {
		return dst, false
	}
	if f.h == nil {
		f.h = sha1.New()
	}
	f.h.Reset()
	any := false
	for _, name := range IntegrationIDFields {
		var v int32
		for k, end := f.t.itemMembers(); k < end; k = f.t.nodes[k+1].next {
			if f.t.keyIs(k, name) {
				v = k + 1
			}
		}
		if v == 0 || f.t.kind(v) == 'n' {
			continue
		}
		if !f.hashValue(v) {
			return dst, false
		}
		any = true
	}
	if !any {
		return dst, false
	}
	var sum [sha1.Size]byte
	return base64.StdEncoding.AppendEncode(dst, f.h.Sum(sum[:0])), true
}

var delimiter = []byte{0}

// hashValue feeds value n as the processor's traversal does.
func (f *Fingerprinter) hashValue(n int32) bool {
	t := &f.t
	switch t.kind(n) {
	case '"':
		f.h.Write(delimiter)
		f.tmp = t.appendStrText(f.tmp[:0], n)
		f.h.Write(f.tmp)
	case 't':
		f.h.Write([]byte{0, 1})
	case 'f':
		f.h.Write([]byte{0, 2})
	case 'n':
		f.h.Write(delimiter) // toBytes(null) is empty
	case '[':
		for v, end := n+1, t.nodes[n].next; v < end; v = t.nodes[v].next {
			if !f.hashValue(v) {
				return false
			}
		}
	case '{':
		start := len(f.keys)
		for k, end := n+1, t.nodes[n].next; k < end; k = t.nodes[k+1].next {
			f.keys = append(f.keys, k)
		}
		keys := f.keys[start:]
		sort.SliceStable(keys, func(i, j int) bool { return f.keyText(keys[i]) < f.keyText(keys[j]) })
		for _, k := range keys {
			f.h.Write(delimiter)
			f.h.Write([]byte(f.keyText(k)))
			if !f.hashValue(k + 1) {
				f.keys = f.keys[:start]
				return false
			}
		}
		f.keys = f.keys[:start]
	default: // number
		f.h.Write(delimiter)
		return f.hashNumber(t.text(n))
	}
	return true
}

// keyText is a key's decoded text (Java's String order compares UTF-16
// units; for the ASCII keys of API items that is byte order).
func (f *Fingerprinter) keyText(k int32) string {
	if f.t.nodes[k].flags == 0 {
		return f.t.keyName(k)
	}
	return string(f.t.appendStrText(nil, k))
}

// hashNumber writes a JSON number as the parsed Java value: Integer, Long
// or Double.
func (f *Fingerprinter) hashNumber(text []byte) bool {
	s := string(text)
	var b [8]byte
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false // BigInteger: the processor cannot hash it
		}
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			binary.LittleEndian.PutUint32(b[:4], uint32(int32(i)))
			f.h.Write(b[:4])
			return true
		}
		binary.LittleEndian.PutUint64(b[:], uint64(i))
		f.h.Write(b[:])
		return true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
	f.h.Write(b[:])
	return true
}
