package pipeline

import "strings"

// Template is a string with ${stream} and ${tenant} placeholders expanded
// per record (Kafka topics, Elasticsearch indices, file paths). ${stream} is
// the record's datastream value ("alert" or "event").
type Template struct {
	parts []tmplPart
	fixed bool
}

type tmplPart struct {
	lit string
	v   byte // 0 literal, 's' stream, 't' tenant
}

// ParseTemplate splits s at its placeholders. Anything else, including other
// ${...} text, is kept literally.
func ParseTemplate(s string) Template {
	var t Template
	t.fixed = true
	for s != "" {
		i := strings.Index(s, "${")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "${stream}"):
			t.parts = append(t.parts, tmplPart{lit: s[:i]}, tmplPart{v: 's'})
			s = rest[len("${stream}"):]
			t.fixed = false
		case strings.HasPrefix(rest, "${tenant}"):
			t.parts = append(t.parts, tmplPart{lit: s[:i]}, tmplPart{v: 't'})
			s = rest[len("${tenant}"):]
			t.fixed = false
		default:
			t.parts = append(t.parts, tmplPart{lit: s[:i+2]})
			s = rest[2:]
		}
	}
	return t
}

// Fixed reports whether the template has no placeholder.
func (t Template) Fixed() bool { return t.fixed }

// Append appends the expansion for r to dst.
func (t Template) Append(dst []byte, r *Record) []byte {
	for _, p := range t.parts {
		switch p.v {
		case 's':
			dst = append(dst, r.Stream...)
		case 't':
			dst = append(dst, r.Tenant...)
		default:
			dst = append(dst, p.lit...)
		}
	}
	return dst
}

// Expand returns the expansion for r as a string.
func (t Template) Expand(r *Record) string { return string(t.Append(nil, r)) }
