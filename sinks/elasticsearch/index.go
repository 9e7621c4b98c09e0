package elasticsearch

import (
	"fmt"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// indexName is the parsed `index` setting: ${stream} and ${tenant} per
// record, then %Y, %m and %d from the record's `when` in UTC.
type indexName struct {
	tmpl  pipeline.Template
	dates bool
	raw   string
}

// parseIndex checks an index setting against Elasticsearch's naming rules
// (the literal parts; the expansion is lowercased at write time).
func parseIndex(s string) (indexName, error) {
	if strings.TrimSpace(s) == "" {
		return indexName{}, fmt.Errorf("must not be empty, e.g. sophos-${stream}-%%Y.%%m.%%d")
	}
	lit := strings.NewReplacer("${stream}", "", "${tenant}", "").Replace(s)
	dates := false
	for i := 0; i < len(lit); i++ {
		if lit[i] != '%' {
			continue
		}
		if i+1 < len(lit) && strings.IndexByte("Ymd", lit[i+1]) >= 0 {
			dates = true
			i++
			continue
		}
		return indexName{}, fmt.Errorf("%q: only %%Y, %%m and %%d are expanded (from the record's when, UTC)", s)
	}
	if strings.Contains(lit, "${") {
		return indexName{}, fmt.Errorf("%q: only ${stream} and ${tenant} are expanded", s)
	}
	lit = strings.NewReplacer("%Y", "", "%m", "", "%d", "").Replace(lit)
	switch {
	case strings.ToLower(lit) != lit:
		return indexName{}, fmt.Errorf("%q: Elasticsearch index names must be lowercase", s)
	case strings.ContainsAny(lit, ` \/*?"<>|,#:`):
		return indexName{}, fmt.Errorf("%q: index names must not contain space, \\, /, *, ?, \", <, >, |, ',', # or ':'", s)
	case strings.HasPrefix(s, "_") || strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+"):
		return indexName{}, fmt.Errorf("%q: index names must not start with _, - or +", s)
	}
	return indexName{tmpl: pipeline.ParseTemplate(s), dates: dates, raw: s}, nil
}

// append appends the index for r to dst, lowercased.
func (n *indexName) append(dst []byte, r *pipeline.Record) []byte {
	start := len(dst)
	dst = n.tmpl.Append(dst, r)
	if n.dates {
		dst = expandDates(dst, start, r)
	}
	for i := start; i < len(dst); i++ {
		if c := dst[i]; c >= 'A' && c <= 'Z' {
			dst[i] = c + 'a' - 'A'
		}
	}
	return dst
}

// expandDates replaces %Y, %m and %d in dst[start:] in place.
func expandDates(dst []byte, start int, r *pipeline.Record) []byte {
	t := r.WhenTime()
	if t.IsZero() {
		t = time.Now() // no usable time: index by arrival, like Beats' @timestamp
	}
	t = t.UTC()
	y, m, d := t.Date()
	var tmp [64]byte
	out := tmp[:0]
	if len(dst)-start > len(tmp) {
		out = make([]byte, 0, len(dst)-start+8)
	}
	s := dst[start:]
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			switch s[i+1] {
			case 'Y':
				out = appendPad(out, y, 4)
				i++
				continue
			case 'm':
				out = appendPad(out, int(m), 2)
				i++
				continue
			case 'd':
				out = appendPad(out, d, 2)
				i++
				continue
			}
		}
		out = append(out, s[i])
	}
	return append(dst[:start], out...)
}

func appendPad(dst []byte, v, width int) []byte {
	var b [8]byte
	i := len(b)
	for v > 0 || i > len(b)-width {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if i == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// pattern is the index pattern matching every expansion, for templates:
// each placeholder becomes *.
func (n *indexName) pattern() string {
	p := strings.NewReplacer("${stream}", "*", "${tenant}", "*", "%Y", "*", "%m", "*", "%d", "*").Replace(n.raw)
	for strings.Contains(p, "**") {
		p = strings.ReplaceAll(p, "**", "*")
	}
	return strings.ToLower(p)
}
