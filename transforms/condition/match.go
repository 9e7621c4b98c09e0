package condition

import (
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

func (n *node) match(r *pipeline.Record) bool {
	switch n.kind {
	case kAnd:
		for _, k := range n.kids {
			if !k.match(r) {
				return false
			}
		}
		return true
	case kOr:
		for _, k := range n.kids {
			if k.match(r) {
				return true
			}
		}
		return false
	case kNot:
		return !n.kids[0].match(r)
	}
	if n.op.ordering() {
		rank := SeverityRank(r.Severity)
		if rank == 0 {
			return false // unknown severity: no ordering holds
		}
		switch n.op {
		case opLt:
			return rank < n.sev
		case opLe:
			return rank <= n.sev
		case opGt:
			return rank > n.sev
		default:
			return rank >= n.sev
		}
	}
	if n.field == fRaw {
		return n.matchRaw(r.Raw)
	}
	return n.test(fieldValue(r, n.field))
}

func fieldValue(r *pipeline.Record, f fieldID) string {
	switch f {
	case fStream:
		return string(r.Stream)
	case fTenant:
		return r.Tenant
	case fID:
		return r.ID
	case fType:
		return r.Type
	case fSeverity:
		return r.Severity
	case fName:
		return r.Name
	case fGroup:
		return r.Group
	case fHost:
		return r.Host
	case fUser:
		return r.User
	case fEndpointID:
		return r.EndpointID
	case fEndpointType:
		return r.EndpointType
	}
	return ""
}

// matchRaw reads the value at n.path in place. Strings without escapes are
// compared on the raw bytes; null and absent read as "".
func (n *node) matchRaw(raw []byte) bool {
	v := rawjson.Get(raw, n.path...)
	if len(v) >= 2 && v[0] == '"' {
		inner := v[1 : len(v)-1]
		for _, c := range inner {
			if c == '\\' {
				return n.testEscaped(v)
			}
		}
		return n.test(bytesView(inner))
	}
	if v == nil || string(v) == "null" {
		return n.test("")
	}
	return n.test(bytesView(v))
}

var unquoteBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (n *node) testEscaped(v []byte) bool {
	bp := unquoteBufs.Get().(*[]byte)
	s, err := rawjson.Unquote((*bp)[:0], v)
	ok := err == nil && n.test(bytesView(s))
	*bp = s[:0]
	unquoteBufs.Put(bp)
	return ok
}

// bytesView returns b as a string without copying. The string must not be
// kept past the call that reads it (b belongs to the record or a pool).
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func (n *node) test(s string) bool {
	switch n.op {
	case opEq:
		return s == n.val
	case opNe:
		return s != n.val
	case opIn:
		if n.set != nil {
			_, ok := n.set[s]
			return ok
		}
		for _, v := range n.vals {
			if s == v {
				return true
			}
		}
		return false
	case opMatches:
		return Glob(n.val, s)
	case opPrefix:
		return strings.HasPrefix(s, n.val)
	case opContains:
		return strings.Contains(s, n.val)
	case opRegex:
		return n.re.MatchString(s)
	}
	return false
}

// Glob reports whether s matches pattern: * matches any run of characters
// (including : and /), ? exactly one character, \ makes the next character
// literal; everything else matches itself, case-sensitively. It runs in
// O(len(pattern)·len(s)) at worst and does not allocate.
func Glob(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, w := utf8.DecodeRuneInString(s[sx:])
					px++
					sx += w
					continue
				}
			default:
				if c == '\\' && px+1 < len(pattern) {
					if sx < len(s) && s[sx] == pattern[px+1] {
						px += 2
						sx++
						continue
					}
				} else if sx < len(s) && s[sx] == c {
					px++
					sx++
					continue
				}
			}
		}
		// Mismatch: let the last * swallow one more character and retry.
		if starPx >= 0 && starSx < len(s) {
			_, w := utf8.DecodeRuneInString(s[starSx:])
			starSx += w
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}
