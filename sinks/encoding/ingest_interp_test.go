package encoding

import (
	"net/netip"
	"strconv"
	"strings"
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
