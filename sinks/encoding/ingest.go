package encoding

import (
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

type convType uint8

const (
	toLong convType = iota
	toIP
	toString
	toBoolean
)

var convNames = [...]string{"long", "ip", "string", "boolean"}

// parseJavaLong is the convert processor's long: decimal, or hexadecimal
// after 0x / -0x.
func parseJavaLong(s []byte) (int64, bool) {
	str := unsafeString(s)
	if strings.HasPrefix(str, "0x") || strings.HasPrefix(str, "-0x") || strings.HasPrefix(str, "+0x") {
		neg := str[0] == '-'
		str = str[strings.IndexByte(str, 'x')+1:]
		u, err := strconv.ParseInt(str, 16, 64)
		if err != nil {
			return 0, false
		}
		if neg {
			u = -u
		}
		return u, true
	}
	i, err := strconv.ParseInt(str, 10, 64)
	return i, err == nil
}

type dateFormat uint8

const (
	iso8601 dateFormat = iota
	unixSec
	unixMs
)

func parseDecimalLong(s []byte) (int64, bool) {
	i, err := strconv.ParseInt(unsafeString(s), 10, 64)
	return i, err == nil
}

// unsafeString views b as a string for a call that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// parseISO8601 reads what Elasticsearch's iso8601 date format accepts:
// yyyy-MM-dd, optionally followed by T and HH[:mm[:ss[.fraction]]], and a
// zone Z, ±HH, ±HHmm or ±HH:mm (none means UTC). The result is epoch
// milliseconds (finer fractions are truncated, as the output keeps ms).
func parseISO8601(s []byte) (int64, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(b) > 0
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	dd, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || dd < 1 || dd > 31 {
		return 0, false
	}
	rest := s[10:]
	var hh, mi, ss, nanos int
	if len(rest) > 0 && rest[0] == 'T' {
		rest = rest[1:]
		var ok bool
		if len(rest) < 2 {
			return 0, false
		}
		if hh, ok = num(rest[:2]); !ok || hh > 23 {
			return 0, false
		}
		rest = rest[2:]
		if len(rest) >= 3 && rest[0] == ':' {
			if mi, ok = num(rest[1:3]); !ok || mi > 59 {
				return 0, false
			}
			rest = rest[3:]
			if len(rest) >= 3 && rest[0] == ':' {
				if ss, ok = num(rest[1:3]); !ok || ss > 59 {
					return 0, false
				}
				rest = rest[3:]
				if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
					i := 1
					for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
						i++
					}
					if i == 1 || i > 10 {
						return 0, false
					}
					for _, c := range rest[1:i] {
						nanos = nanos*10 + int(c-'0')
					}
					for range 10 - i {
						nanos *= 10
					}
					rest = rest[i:]
				}
			}
		}
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == 'Z':
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var oh, om int
		var ok bool
		switch len(z) {
		case 2:
			oh, ok = num(z)
		case 4:
			oh, ok = num(z[:2])
			if ok {
				om, ok = num(z[2:])
			}
		case 5:
			if z[2] != ':' {
				return 0, false
			}
			oh, ok = num(z[:2])
			if ok {
				om, ok = num(z[3:])
			}
		}
		if !ok || oh > 18 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	if dd > daysInMonth(y, mo) { // 2023-02-30
		return 0, false
	}
	sec := daysFromCivil(y, mo, dd)*86400 + int64(hh*3600+mi*60+ss) - int64(offset)
	return sec*1000 + int64(nanos/1e6), true
}

func daysInMonth(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (Howard Hinnant's days_from_civil), what
// time.Date computes without its normalisation (TestParseISO8601MatchesTime).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := m - 3
	if m <= 2 {
		mp = m + 9
	}
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func javaType(kind byte, text []byte) string {
	switch kind {
	case '"':
		return "java.lang.String"
	case '{':
		return "java.util.HashMap"
	case '[':
		return "java.util.ArrayList"
	case 't', 'f':
		return "java.lang.Boolean"
	}
	if strings.ContainsAny(string(text), ".eE") {
		return "java.lang.Double"
	}
	return "java.lang.Integer"
}

// grokPattern is one compiled grok expression: capture group i+1 sets
// fields[i].
type grokPattern struct {
	re     *regexp.Regexp
	fields []grokField
	fast   grokFast // what lets match skip or narrow the regexp (grokfast.go)
}

type grokField struct {
	path string
	long bool
}

// grokDefs are the grok library's definitions the pipelines use, in RE2
// syntax. Joni's look-arounds and atomic groups have no RE2 form; they are
// left out where what follows them in the pipelines' patterns (a newline
// or the end) decides the same. IPV6 is the standard address forms without
// a zone.
var grokDefs = map[string]string{
	"GREEDYDATA": `.*`,
	"DATA":       `.*?`,
	"WORD":       `\b\w+\b`,
	"NUMBER":     `(?:[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+))`,
	"IPV4":       `(?:(?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.](?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.](?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5])[.](?:[0-1]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]))`,
	"IPV6": `(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){6}%{IPV4}|(?:[0-9A-Fa-f]{1,4}:){1,4}:%{IPV4}|::(?:[fF]{4}(?::0{1,4})?:)?%{IPV4}` +
		`|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}` +
		`|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}` +
		`|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))`,
	"IP":         `(?:%{IPV6}|%{IPV4})`,
	"CISCOMAC":   `(?:(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4})`,
	"WINDOWSMAC": `(?:(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2})`,
	"COMMONMAC":  `(?:(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2})`,
	"MAC":        `(?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})`,
	"UNIXPATH":   `(?:/(?:[\w_%!$@:.,+~-]+|\\.)*)+`,
	"WINPATH":    `(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+`,
	"PATH":       `(?:%{UNIXPATH}|%{WINPATH})`,
}

var grokRef = regexp.MustCompile(`%\{(\w+)(?::([\w.@\[\]-]+))?(?::(\w+))?\}`)

// compileGrok turns a pipeline's grok expression into an RE2 expression
// with Ruby's line anchors ((?m)), plain groups becoming non-capturing.
func compileGrok(expr string) grokPattern {
	var g grokPattern
	var expand func(s string) string
	expand = func(s string) string {
		return grokRef.ReplaceAllStringFunc(s, func(m string) string {
			sub := grokRef.FindStringSubmatch(m)
			def, ok := grokDefs[sub[1]]
			if !ok {
				panic("grok: no definition for " + sub[1])
			}
			def = expand(def)
			if sub[2] == "" {
				return def
			}
			g.fields = append(g.fields, grokField{path: sub[2], long: sub[3] == "long" || sub[3] == "int"})
			return "(" + def + ")"
		})
	}
	// plain groups of the expression itself must not capture: mark the
	// captures first, then turn every other "(" into "(?:".
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\' && i+1 < len(expr):
			b.WriteByte(c)
			b.WriteByte(expr[i+1])
			i++
		case c == '(' && (i+1 >= len(expr) || expr[i+1] != '?'):
			b.WriteString("(?:")
		default:
			b.WriteByte(c)
		}
	}
	g.re = regexp.MustCompile("(?m)" + expand(b.String()))
	g.fast = newGrokFast(expr, g.re)
	return g
}
