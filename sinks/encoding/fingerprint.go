package encoding

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"math"
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
	t    tape  // Append's parse
	cur  *tape // the item being hashed (nil: t)
	h    hash.Hash
	tmp  []byte // string text and number bytes; the digest
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
	return f.appendTape(dst, &f.t)
}

// appendTape is Append for an item already parsed into t (an encoder's
// tape: the item is parsed once for the _id and the document). It does
// not allocate once its scratch has grown.
func (f *Fingerprinter) appendTape(dst []byte, t *tape) ([]byte, bool) {
	f.cur = t
	if f.h == nil {
		f.h = sha1.New()
	}
	f.h.Reset()
	// the last member of each name, in IntegrationIDFields' order
	var vals [3]int32
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		for i, name := range IntegrationIDFields {
			if t.keyIs(k, name) {
				vals[i] = k + 1
			}
		}
	}
	any := false
	for _, v := range vals {
		if v == 0 || t.kind(v) == 'n' {
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
	f.tmp = f.h.Sum(f.tmp[:0])
	return base64.StdEncoding.AppendEncode(dst, f.tmp), true
}

// The bytes hashValue writes for a delimiter, true and false (package
// variables: a literal passed to hash.Hash.Write would be allocated).
var delimiter, hashTrue, hashFalse = []byte{0}, []byte{0, 1}, []byte{0, 2}

// hashValue feeds value n as the processor's traversal does.
func (f *Fingerprinter) hashValue(n int32) bool {
	t := f.tape()
	switch t.kind(n) {
	case '"':
		f.h.Write(delimiter)
		f.tmp = t.appendStrText(f.tmp[:0], n)
		f.h.Write(f.tmp)
	case 't':
		f.h.Write(hashTrue)
	case 'f':
		f.h.Write(hashFalse)
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
		// stable insertion sort by decoded name (objects are small)
		for i := 1; i < len(keys); i++ {
			for j := i; j > 0 && f.keyText(keys[j-1]) > f.keyText(keys[j]); j-- {
				keys[j-1], keys[j] = keys[j], keys[j-1]
			}
		}
		for _, k := range keys {
			f.h.Write(delimiter)
			f.tmp = append(f.tmp[:0], f.keyText(k)...)
			f.h.Write(f.tmp)
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

// tape is the item being hashed.
func (f *Fingerprinter) tape() *tape {
	if f.cur != nil {
		return f.cur
	}
	return &f.t
}

// keyText is a key's decoded text (Java's String order compares UTF-16
// units; for the ASCII keys of API items that is byte order).
func (f *Fingerprinter) keyText(k int32) string {
	t := f.tape()
	if t.nodes[k].flags == 0 {
		return t.keyName(k)
	}
	return string(t.appendStrText(nil, k))
}

// hashNumber writes a JSON number as the parsed Java value: Integer, Long
// or Double.
func (f *Fingerprinter) hashNumber(text []byte) bool {
	s := unsafeString(text) // the tape's bytes, not changed while hashing
	if !strings.ContainsAny(s, ".eE") {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return false // BigInteger: the processor cannot hash it
		}
		if i >= math.MinInt32 && i <= math.MaxInt32 {
			f.tmp = binary.LittleEndian.AppendUint32(f.tmp[:0], uint32(int32(i)))
		} else {
			f.tmp = binary.LittleEndian.AppendUint64(f.tmp[:0], uint64(i))
		}
		f.h.Write(f.tmp)
		return true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	f.tmp = binary.LittleEndian.AppendUint64(f.tmp[:0], math.Float64bits(v))
	f.h.Write(f.tmp)
	return true
}
