package encoding

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// ingest runs the Elasticsearch ingest processors the integration's
// pipelines use (rename, set copy_from, convert, date, grok, append) with
// the same outcomes on the item's values. A processor that fails adds its
// message to error.message, as the pipelines' on_failure handlers do; the
// document then gets event.kind pipeline_error.
type ingest struct {
	d    *odoc
	t    *tape
	errs int // error.message entries
	sc   []byte
	m    []int // grok match scratch

	// topIdx finds the item's members by name (buildTop, once per item)
	topIdx            [64]int32
	topBuilt, topScan bool

	// mem finds members of the objects in was asked about by (object,
	// name): each object's members are entered the first time, the last
	// of a repeated name winning. Entries of an older generation are
	// empty, so a new record costs nothing (newRecord).
	mem     [512]memEntry
	memGen  uint32
	memN    int
	memObjs [16]int32 // objects entered this record; -obj: scanned instead
	memObjN int
}

type memEntry struct {
	gen    uint32
	obj, k int32
}

// newRecord forgets the previous item's indexes.
func (p *ingest) newRecord() {
	p.errs, p.topBuilt = 0, false
	p.memGen++
	if p.memGen == 0 { // wrapped: entries of generation 0 would look current
		p.mem = [512]memEntry{}
		p.memGen = 1
	}
	p.memN, p.memObjN = 0, 0
}

// present is the pipelines' `!= null` and ignore_missing test.
func (p *ingest) present(n int32) bool { return n != 0 && p.t.kind(n) != 'n' }

// in returns member name of object node obj (the last one when repeated),
// or 0 when obj is absent (0) or not an object.
func (p *ingest) in(obj int32, name string) int32 {
	if obj == 0 || p.t.nodes[obj].kind != '{' {
		return 0
	}
	if p.memGen == 0 { // never reset: generation 0 is the zero entries'
		p.newRecord()
	}
	indexed := false
	for _, o := range p.memObjs[:p.memObjN] {
		if o == obj {
			indexed = true
			break
		}
		if o == -obj {
			return p.t.lastMember(obj, name)
		}
	}
	if !indexed && !p.enterMembers(obj) {
		return p.t.lastMember(obj, name)
	}
	const mask = len(p.mem) - 1
	for h := int(idxHash(obj, name)) & mask; ; h = (h + 1) & mask {
		e := &p.mem[h]
		if e.gen != p.memGen {
			return 0
		}
		if e.obj == obj && p.t.keyName(e.k) == name {
			return e.k + 1
		}
	}
}

// enterMembers indexes object obj's members for in; false when it is
// scanned instead (an escaped name, too many members or objects).
func (p *ingest) enterMembers(obj int32) bool {
	n := 0
	scan := false
	for k, end := obj+1, p.t.nodes[obj].next; k < end; k = p.t.nodes[k+1].next {
		if n++; p.t.nodes[k].flags&strEsc != 0 {
			scan = true
			break
		}
	}
	if p.memObjN == len(p.memObjs) {
		return false
	}
	if scan || (p.memN+n)*2 > len(p.mem) {
		p.memObjs[p.memObjN] = -obj
		p.memObjN++
		return false
	}
	p.memObjs[p.memObjN] = obj
	p.memObjN++
	p.memN += n
	const mask = len(p.mem) - 1
	for k, end := obj+1, p.t.nodes[obj].next; k < end; k = p.t.nodes[k+1].next {
		name := p.t.keyName(k)
		for h := int(idxHash(obj, name)) & mask; ; h = (h + 1) & mask {
			e := &p.mem[h]
			if e.gen != p.memGen {
				*e = memEntry{p.memGen, obj, k}
				break
			}
			if e.obj == obj && p.t.keyName(e.k) == name {
				e.k = k // the last of a repeated name
				break
			}
		}
	}
	return true
}

// top returns the item's member name (the last one when repeated), or 0.
func (p *ingest) top(name string) int32 {
	if !p.topBuilt {
		p.buildTop()
	}
	if p.topScan {
		var found int32
		for k, end := p.t.itemMembers(); k < end; k = p.t.nodes[k+1].next {
			if p.t.keyIs(k, name) {
				found = k + 1
			}
		}
		return found
	}
	const mask = len(p.topIdx) - 1
	for h := int(idxHash(0, name)) & mask; ; h = (h + 1) & mask {
		k := p.topIdx[h]
		if k == 0 {
			return 0
		}
		if p.t.keyName(k) == name {
			return k + 1
		}
	}
}

// buildTop indexes the item's members by name, the last of a repeated
// name winning, as top's scan finds it. An item with an escaped name or
// more members than the index holds well is scanned instead.
func (p *ingest) buildTop() {
	p.topBuilt, p.topScan = true, false
	clear(p.topIdx[:])
	const mask = len(p.topIdx) - 1
	n := 0
	for k, end := p.t.itemMembers(); k < end; k = p.t.nodes[k+1].next {
		if n++; n > len(p.topIdx)/2 || p.t.nodes[k].flags&strEsc != 0 {
			p.topScan = true
			return
		}
		name := p.t.keyName(k)
		for h := int(idxHash(0, name)) & mask; ; h = (h + 1) & mask {
			if old := p.topIdx[h]; old == 0 || p.t.keyName(old) == name {
				p.topIdx[h] = k
				break
			}
		}
	}
}

// fail adds the message made of parts to error.message (the parts are
// copied: they may be views of scratch space).
func (p *ingest) fail(parts ...string) {
	start := len(p.d.buf)
	for _, part := range parts {
		p.d.buf = append(p.d.buf, part...)
	}
	p.d.appendTo("error.message", val{kind: oText, s: int32(start), e: int32(len(p.d.buf))}, false)
	p.errs++
}

// rename is rename with ignore_missing.
func (p *ingest) rename(src int32, path string) {
	if p.present(src) {
		p.d.set(path, tapeVal(src))
	}
}

// scalar is the text a processor reads from value n (Java's toString):
// a string's decoded text, a number's or a boolean's JSON text. ok is
// false for objects and arrays.
func (p *ingest) scalar(n int32) ([]byte, bool) {
	switch p.t.kind(n) {
	case '"':
		p.sc = p.t.appendStrText(p.sc[:0], n)
		return p.sc, true
	case '{', '[', 'n':
		return p.t.text(n), false
	}
	return p.t.text(n), true
}

type convType uint8

const (
	toLong convType = iota
	toIP
	toString
	toBoolean
)

var convNames = [...]string{"long", "ip", "string", "boolean"}

// convert is the convert processor with ignore_missing: a list converts
// element by element; a value that does not convert fails the processor
// and sets nothing.
func (p *ingest) convert(src int32, path string, to convType) {
	if !p.present(src) {
		return
	}
	if p.t.kind(src) != '[' {
		if v, ok := p.convertOne(src, to); ok {
			p.d.set(path, v)
		}
		return
	}
	p.d.set(path, val{kind: oArr})
	arr := p.d.lookup(path)
	for el, end := src+1, p.t.nodes[src].next; el < end; el = p.t.nodes[el].next {
		v, ok := p.convertOne(el, to)
		if !ok {
			p.d.n[arr].v.kind = oDead
			return
		}
		p.d.add(arr, "", v)
	}
}

func (p *ingest) convertOne(n int32, to convType) (val, bool) {
	if p.t.kind(n) == 'n' {
		return val{kind: oDead}, true
	}
	s, scalar := p.scalar(n)
	switch to {
	case toLong:
		if scalar {
			if i, ok := parseJavaLong(s); ok {
				return intVal(i), true
			}
		}
		p.fail("unable to convert [", unsafeString(s), "] to long")
	case toIP:
		if p.t.kind(n) == '"' {
			if _, err := netip.ParseAddr(unsafeString(s)); err == nil {
				return tapeVal(n), true
			}
		}
		p.fail("'", unsafeString(s), "' is not an IP string literal.")
	case toString:
		if p.t.kind(n) == '"' {
			return tapeVal(n), true
		}
		return p.d.text(s), true
	case toBoolean:
		if scalar {
			switch {
			case strings.EqualFold(unsafeString(s), "true"):
				return litTrue, true
			case strings.EqualFold(unsafeString(s), "false"):
				return litFalse, true
			}
		}
		p.fail("[", unsafeString(s), "] is not a boolean value, cannot convert to boolean")
	}
	return val{}, false
}

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

// date is the date processor (timezone UTC, the default output format
// yyyy-MM-dd'T'HH:mm:ss.SSSXXX): it reports whether it set the field.
func (p *ingest) date(src int32, path string, f dateFormat) bool {
	if !p.present(src) {
		return false
	}
	s, scalar := p.scalar(src)
	var ms int64
	ok := false
	if scalar {
		switch f {
		case iso8601:
			ms, ok = parseISO8601(s)
		case unixSec:
			if v, err := strconv.ParseFloat(unsafeString(s), 64); err == nil && !strings.ContainsAny(unsafeString(s), "xXnN_") {
				ms, ok = int64(v*1000), true
			}
		case unixMs:
			ms, ok = parseDecimalLong(s)
		}
	}
	if !ok || ms < minISOMillis || ms > maxISOMillis {
		p.fail("unable to parse date [", unsafeString(s), "]")
		return false
	}
	start := len(p.d.buf)
	p.d.buf = appendISOMillis(p.d.buf, ms)
	p.d.set(path, val{kind: oText, s: int32(start + 1), e: int32(len(p.d.buf) - 1)}) // without the quotes
	return true
}

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

// appendMustache is an append processor whose value is the template
// {{{field}}}: the field's text, when the field is set.
func (p *ingest) appendMustache(path, field string) {
	v, ok := p.d.get(field)
	if !ok || v.kind == oDead {
		return
	}
	p.d.appendTo(path, p.d.text(p.d.textOf(v)), true)
}

// splitSource is the grok ^(?:%{DATA:domain}\\)?%{GREEDYDATA:user}$ on a
// string (Ruby regex semantics: . stops at a newline and $ matches before
// one, so only the first line counts): the domain is what precedes the
// first backslash, the user the rest.
func (p *ingest) splitSource(src int32, domainPath, userPath string) {
	if !p.present(src) {
		return
	}
	if p.t.kind(src) != '"' {
		s, _ := p.scalar(src)
		p.fail("field [source] of type [", javaType(p.t.kind(src), s), "] cannot be cast to [java.lang.String]")
		return
	}
	start := int32(len(p.d.buf))
	p.d.buf = p.t.appendStrText(p.d.buf, src)
	line := p.d.buf[start:]
	if i := strings.IndexByte(string(line), '\n'); i >= 0 {
		line = line[:i]
	}
	end := start + int32(len(line))
	if i := strings.IndexByte(string(line), '\\'); i >= 0 {
		p.d.set(domainPath, val{kind: oText, s: start, e: start + int32(i)})
		p.d.set(userPath, val{kind: oText, s: start + int32(i) + 1, e: end})
		return
	}
	p.d.set(userPath, val{kind: oText, s: start, e: end})
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

// grok runs patterns in order on string value src; the first that matches
// sets its captures. No match, or a capture that does not convert, fails
// the processor.
func (p *ingest) grok(src int32, name string, pats []grokPattern) {
	if !p.present(src) {
		return
	}
	if p.t.kind(src) != '"' {
		s, _ := p.scalar(src)
		p.fail("field [", name, "] of type [", javaType(p.t.kind(src), s), "] cannot be cast to [java.lang.String]")
		return
	}
	start := int32(len(p.d.buf))
	p.d.buf = p.t.appendStrText(p.d.buf, src)
	text := p.d.buf[start:]
	for _, g := range pats {
		m := g.match(text, p.m[:0])
		if m != nil {
			p.m = m
		}
		if m == nil {
			continue
		}
		// convert first: a capture that does not convert sets nothing
		for i, f := range g.fields {
			if s := m[2+2*i]; s >= 0 && f.long {
				if _, ok := parseDecimalLong(text[s:m[3+2*i]]); !ok {
					p.fail("For input string: \"", unsafeString(text[s:m[3+2*i]]), "\"")
					return
				}
			}
		}
		for i, f := range g.fields {
			s, e := m[2+2*i], m[3+2*i]
			if s < 0 {
				continue
			}
			if f.long {
				n, _ := parseDecimalLong(text[s:e])
				p.d.set(f.path, intVal(n))
				continue
			}
			p.d.set(f.path, val{kind: oText, s: start + int32(s), e: start + int32(e)})
		}
		return
	}
	p.fail("Provided Grok expressions do not match field value: [", unsafeString(text), "]")
}

// mac is the pipelines' gsub [:.] → - and uppercase of temp.<name>, then
// its rename to path.
func (p *ingest) mac(temp, path string) {
	v, ok := p.d.get(temp)
	if !ok || v.kind != oText {
		return
	}
	start := len(p.d.buf)
	for _, c := range p.d.buf[v.s:v.e] {
		switch {
		case c == ':' || c == '.':
			c = '-'
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		p.d.buf = append(p.d.buf, c)
	}
	p.d.remove(temp)
	p.d.set(path, val{kind: oText, s: int32(start), e: int32(len(p.d.buf))})
}
