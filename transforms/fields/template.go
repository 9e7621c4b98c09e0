package fields

import (
	"fmt"
	"os"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// template is a string value with per-record placeholders; ${env:NAME} is
// already resolved into the literal parts.
type template struct {
	parts []tpart
	fixed []byte // the JSON string when there is no per-record part
}

type tpart struct {
	lit string
	v   byte // 0 literal, 's' stream, 't' tenant
}

// parseTemplate reads ${stream}, ${tenant}, ${env:NAME} and $${ (a literal
// ${). lookup resolves environment variables; nil only checks the syntax.
func parseTemplate(s string, lookup func(string) (string, bool)) (*template, error) {
	t := &template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String()})
			lit.Reset()
		}
	}
	for s != "" {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			lit.WriteString("${")
			s = s[3:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed ${ in %q", s)
			}
			name := s[2:end]
			s = s[end+1:]
			switch {
			case name == "stream":
				flush()
				t.parts = append(t.parts, tpart{v: 's'})
			case name == "tenant":
				flush()
				t.parts = append(t.parts, tpart{v: 't'})
			case strings.HasPrefix(name, "env:") && len(name) > 4:
				if lookup != nil {
					v, ok := lookup(name[4:])
					if !ok {
						return nil, fmt.Errorf("environment variable %s is not set (used as ${%s})", name[4:], name)
					}
					lit.WriteString(v)
				}
			default:
				return nil, fmt.Errorf("unknown placeholder ${%s}: use ${stream}, ${tenant} or ${env:NAME} ($${ for a literal ${)", name)
			}
		default:
			lit.WriteByte('$')
			s = s[1:]
		}
	}
	flush()
	if !t.perRecord() {
		t.fixed = rawjson.AppendString(nil, t.expandLit())
	}
	return t, nil
}

func (t *template) perRecord() bool {
	for _, p := range t.parts {
		if p.v != 0 {
			return true
		}
	}
	return false
}

func (t *template) expandLit() string {
	var b strings.Builder
	for _, p := range t.parts {
		b.WriteString(p.lit)
	}
	return b.String()
}

// appendJSON appends the value for r as a JSON string.
func (t *template) appendJSON(dst []byte, r *pipeline.Record) []byte {
	if t.fixed != nil {
		return append(dst, t.fixed...)
	}
	var buf [128]byte
	s := buf[:0]
	for _, p := range t.parts {
		switch p.v {
		case 's':
			s = append(s, r.Stream...)
		case 't':
			s = append(s, r.Tenant...)
		default:
			s = append(s, p.lit...)
		}
	}
	return rawjson.AppendString(dst, string(s))
}

var osLookup = os.LookupEnv
