package encoding

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// A grok expression of the pipelines' IPS raw data kind (labels, \s*,
// captures, optional groups, \n and \n+, $) matched by a backtracking
// matcher that tries the choices in the order RE2's leftmost-first
// semantics (a backtracking implementation's) prefers them: \s*, .*,
// (…)? and \n+ longest first, .*? shortest first. RE2's NFA on the
// IPS patterns costs hundreds of µs a text; this a few.
//
// A typed capture (IP, NUMBER, MAC, PATH, WORD) has an internal order
// this matcher does not reproduce, so it tries every end that the type
// matches and accepts the result only when exactly one of them lets the
// rest match; when two do, or the work exceeds a bound, it is not sure
// and the regexp decides (TestGrokBacktrackMatchesRegexp).

type btEl struct {
	kind  byte // 'l' literal, 's' \s*, 'n' \n+, 'c' capture, 'o' optional group, '$' line end
	lit   string
	typ   string // capture: GREEDYDATA, DATA, IP, NUMBER, MAC, PATH or WORD
	field int    // capture: its index among the expression's captures
	sub   []btEl // optional group
}

// btPattern is a parsed expression; nil when the expression has another
// shape.
type btPattern struct {
	els    []btEl
	fields int
}

var btTypes = map[string]bool{"GREEDYDATA": true, "DATA": true, "IP": true, "NUMBER": true, "MAC": true, "PATH": true, "WORD": true}

// newBTPattern parses ^…$ made of the elements above.
func newBTPattern(expr string) *btPattern {
	if !strings.HasPrefix(expr, "^") {
		return nil
	}
	p := &btPattern{}
	els, rest, ok := p.parse(expr[1:])
	if !ok || rest != "" {
		return nil
	}
	p.els = els
	return p
}

func (p *btPattern) parse(s string) ([]btEl, string, bool) {
	var els []btEl
	for s != "" {
		switch {
		case s[0] == ')':
			return els, s, true
		case s[0] == '$':
			els = append(els, btEl{kind: '$'})
			s = s[1:]
		case strings.HasPrefix(s, `\s*`):
			els = append(els, btEl{kind: 's'})
			s = s[3:]
		case strings.HasPrefix(s, `\n+`):
			els = append(els, btEl{kind: 'n'})
			s = s[3:]
		case strings.HasPrefix(s, `\n`):
			els = appendLit(els, "\n")
			s = s[2:]
		case strings.HasPrefix(s, "%{"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, "", false
			}
			parts := strings.Split(s[2:end], ":")
			if len(parts) < 2 || !btTypes[parts[0]] {
				return nil, "", false
			}
			els = append(els, btEl{kind: 'c', typ: parts[0], field: p.fields})
			p.fields++
			s = s[end+1:]
		case s[0] == '(':
			sub, rest, ok := p.parse(s[1:])
			if !ok || !strings.HasPrefix(rest, ")?") {
				return nil, "", false
			}
			els = append(els, btEl{kind: 'o', sub: sub})
			s = rest[2:]
		case s[0] >= 'A' && s[0] <= 'Z' || s[0] >= 'a' && s[0] <= 'z' || s[0] >= '0' && s[0] <= '9' || s[0] == ' ' || s[0] == ':' || s[0] == '-':
			if len(s) > 1 && strings.IndexByte("?*+{", s[1]) >= 0 {
				return nil, "", false
			}
			els = appendLit(els, s[:1])
			s = s[1:]
		default:
			return nil, "", false
		}
	}
	return els, s, true
}

func appendLit(els []btEl, l string) []btEl {
	if n := len(els); n > 0 && els[n-1].kind == 'l' {
		els[n-1].lit += l
		return els
	}
	return append(els, btEl{kind: 'l', lit: l})
}

const btMaxFields = 16

// btMatch is one match's state.
type btMatch struct {
	text   []byte
	caps   [2 * btMaxFields]int
	steps  int
	unsure bool
	// conts are the continuations of the optional groups being matched:
	// the rest of the enclosing sequence and its own continuation (an
	// index here, -1 for none).
	conts  [btMaxDepth]btCont
	nconts int
}

const btMaxDepth = 32

// btMaxSteps bounds the work on one text; beyond it the regexp decides.
const btMaxSteps = 20000

// match is the anchored match at text[p:] in FindSubmatchIndex's form
// (text offsets); sure is false when the regexp must decide.
func (bp *btPattern) match(text []byte, p int, dst []int) (m []int, sure bool) {
	if bp.fields > btMaxFields {
		return nil, false
	}
	var st btMatch
	st.text = text
	for i := range st.caps[:2*bp.fields] {
		st.caps[i] = -1
	}
	end, ok := st.seq(bp.els, -1, p)
	if st.unsure {
		return nil, false
	}
	if !ok {
		return nil, true
	}
	m = append(dst[:0], p, end)
	return append(m, st.caps[:2*bp.fields]...), true
}

// btCont is what follows an optional group: the rest of the enclosing
// sequence, then conts[next] (none when -1).
type btCont struct {
	els  []btEl
	next int
}

// seq matches els then k at pos; it returns the end of the whole match.
func (st *btMatch) seq(els []btEl, k int, pos int) (int, bool) {
	if st.steps++; st.steps > btMaxSteps {
		st.unsure = true
		return 0, false
	}
	if st.unsure {
		return 0, false
	}
	if len(els) == 0 {
		if k < 0 {
			return pos, true
		}
		return st.seq(st.conts[k].els, st.conts[k].next, pos)
	}
	text := st.text
	el, rest := &els[0], els[1:]
	switch el.kind {
	case 'l':
		if !strings.HasPrefix(unsafeString(text[pos:]), el.lit) {
			return 0, false
		}
		return st.seq(rest, k, pos+len(el.lit))
	case '$':
		if pos != len(text) && text[pos] != '\n' {
			return 0, false
		}
		return st.seq(rest, k, pos)
	case 's':
		e := pos
		for e < len(text) && isRE2Space(text[e]) {
			e++
		}
		for ; e >= pos; e-- { // greedy
			if end, ok := st.seq(rest, k, e); ok || st.unsure {
				return end, ok
			}
		}
		return 0, false
	case 'n':
		e := pos
		for e < len(text) && text[e] == '\n' {
			e++
		}
		for ; e > pos; e-- {
			if end, ok := st.seq(rest, k, e); ok || st.unsure {
				return end, ok
			}
		}
		return 0, false
	case 'o':
		if st.nconts == len(st.conts) {
			st.unsure = true
			return 0, false
		}
		st.conts[st.nconts] = btCont{rest, k}
		st.nconts++
		end, ok := st.seq(el.sub, st.nconts-1, pos)
		st.nconts--
		if ok || st.unsure {
			return end, ok
		}
		return st.seq(rest, k, pos)
	case 'c':
		return st.capture(el, rest, k, pos)
	}
	return 0, false
}

func (st *btMatch) capture(el *btEl, rest []btEl, k int, pos int) (int, bool) {
	text := st.text
	f := 2 * el.field
	olds, olde := st.caps[f], st.caps[f+1]
	// what follows must start with lead, when it is a literal: ends
	// before anything else are not tried
	lead := ""
	if len(rest) > 0 && rest[0].kind == 'l' {
		lead = rest[0].lit
	}
	try := func(e int) (int, bool) {
		if lead != "" && !strings.HasPrefix(unsafeString(text[e:]), lead) {
			return 0, false
		}
		st.caps[f], st.caps[f+1] = pos, e
		end, ok := st.seq(rest, k, e)
		if !ok {
			st.caps[f], st.caps[f+1] = olds, olde
		}
		return end, ok
	}
	switch el.typ {
	case "GREEDYDATA", "DATA":
		lineEnd := pos
		for lineEnd < len(text) && text[lineEnd] != '\n' {
			lineEnd++
		}
		if el.typ == "GREEDYDATA" {
			for e := lineEnd; e >= pos; e-- {
				if end, ok := try(e); ok || st.unsure {
					return end, ok
				}
			}
			return 0, false
		}
		for e := pos; e <= lineEnd; e++ {
			if end, ok := try(e); ok || st.unsure {
				return end, ok
			}
		}
		return 0, false
	case "WORD":
		// \b\w+\b: the word's whole run, when a word starts here
		if pos == len(text) || !isWordByte(text[pos]) || pos > 0 && isWordByte(text[pos-1]) {
			return 0, false
		}
		e := pos
		for e < len(text) && isWordByte(text[e]) {
			e++
		}
		return try(e)
	case "MAC":
		// 14 (Cisco) or 17 (Windows, common) characters
		for _, n := range [2]int{14, 17} {
			if pos+n > len(text) || !isGrokMAC(text[pos:pos+n]) {
				continue
			}
			return try(pos + n) // a MAC of 14 characters is no prefix of one of 17
		}
		return 0, false
	}
	// a typed capture: every end the type matches; exactly one may lead
	// to a match
	var found [2 * btMaxFields]int
	foundEnd, n := 0, 0
	var paths grokPathEnds
	if el.typ == "PATH" {
		if paths = newGrokPathEnds(text, pos); paths.tooLong {
			st.unsure = true
			return 0, false
		}
	}
	for e := pos + 1; e <= len(text); e++ {
		if st.steps++; st.steps > btMaxSteps {
			st.unsure = true // each end tried counts: the bound holds on any text
			return 0, false
		}
		if el.typ == "PATH" {
			if e > paths.last {
				break
			}
			if !paths.valid(e) {
				continue
			}
		} else if !btTypeMatches(el.typ, text, pos, e) {
			if btTypeStops(el.typ, text[e-1]) {
				break
			}
			continue
		}
		end, ok := try(e)
		if st.unsure {
			return 0, false
		}
		if !ok {
			continue
		}
		if n++; n > 1 {
			st.unsure = true // two ends work: which one RE2 takes depends on the type's order
			return 0, false
		}
		found, foundEnd = st.caps, end
		st.caps[f], st.caps[f+1] = olds, olde
	}
	if n == 0 {
		return 0, false
	}
	st.caps = found
	return foundEnd, true
}

// btTypeStops reports whether no longer text can match typ once text
// holds c (where typ's match can end is then behind).
func btTypeStops(typ string, c byte) bool {
	switch typ {
	case "NUMBER":
		return !(c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-')
	case "IP":
		return !(isHexDigit(c) || c == '.' || c == ':')
	case "MAC":
		return !(isHexDigit(c) || c == '.' || c == ':' || c == '-')
	case "WORD":
		return !isWordByte(c)
	}
	return true
}

// btTypeMatches reports whether text[s:e] is a match of grok type typ in
// its place (WORD's \b looks at the bytes around it).
func btTypeMatches(typ string, text []byte, s, e int) bool {
	v := text[s:e]
	switch typ {
	case "NUMBER":
		return isGrokNumber(v)
	case "MAC":
		return isGrokMAC(v)
	case "IP":
		return isGrokIPv4(v) || strings.IndexByte(unsafeString(v), ':') >= 0 && grokIPRE.Match(v)
	case "WORD":
		for _, c := range v {
			if !isWordByte(c) {
				return false
			}
		}
		return (s == 0 || !isWordByte(text[s-1])) && (e == len(text) || !isWordByte(text[e]))
	}
	return false // PATH: grokPathEnds
}

// grokPathEnds are the ends e for which text[s:e] is a PATH, found in
// one pass: a Unix path's (after each of its elements) and a Windows
// path's (every e in winFirst..winLast).
type grokPathEnds struct {
	s                 int
	unix              [256]bool // unix[e-s]: text[s:e] is a Unix path
	unixN             int       // unix[:unixN] is known; a longer path stops at 255 bytes
	tooLong           bool      // the Unix path runs beyond unix: not sure
	winFirst, winLast int       // winFirst > winLast: none
	last              int       // no end beyond it
}

func newGrokPathEnds(text []byte, s int) grokPathEnds {
	p := grokPathEnds{s: s, winFirst: 1, winLast: 0, last: -1}
	if s < len(text) && text[s] == '/' {
		p.unixN = 1 // the empty text: no path
		for i := s; i < len(text); {
			c := text[i]
			next := i + 1
			switch {
			case c == '/' || isWordByte(c) || strings.IndexByte("%!$@:.,+~-", c) >= 0:
			case c == '\\' && i+1 < len(text) && text[i+1] != '\n':
				_, size := utf8.DecodeRune(text[i+1:])
				next = i + 1 + size
			default:
				next = -1
			}
			if next < 0 {
				break
			}
			if next-s >= len(p.unix) {
				p.tooLong = true
				break
			}
			p.unixN = next - s + 1 // positions in between (a backslashed rune) stay false
			p.unix[next-s] = true
			p.last, i = next, next
		}
	}
	i := s
	for i < len(text) && (text[i] >= 'A' && text[i] <= 'Z' || text[i] >= 'a' && text[i] <= 'z') {
		i++
	}
	switch {
	case i > s && i < len(text) && text[i] == ':':
		i++
	case i == s && i < len(text) && text[i] == '\\':
		i++
	default:
		return p
	}
	if i == len(text) || text[i] != '\\' {
		return p
	}
	p.winFirst, p.winLast = i+1, i+1
	for p.winLast < len(text) && text[p.winLast] != '?' && text[p.winLast] != '*' {
		p.winLast++
	}
	p.last = max(p.last, p.winLast)
	return p
}

func (p *grokPathEnds) valid(e int) bool {
	if e >= p.winFirst && e <= p.winLast {
		return true
	}
	k := e - p.s
	return k >= 0 && k < p.unixN && p.unix[k]
}

var grokIPRE = regexp.MustCompile(`^(?:` + expandGrok(`%{IP}`) + `)$`)

// expandGrok expands grok references without captures.
func expandGrok(s string) string {
	return grokRef.ReplaceAllStringFunc(s, func(m string) string {
		return expandGrok(grokDefs[grokRef.FindStringSubmatch(m)[1]])
	})
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_'
}

// isGrokIPv4 is grok's IPV4 on all of s: four octets of
// [0-1]?[0-9]{1,2}, 2[0-4][0-9] or 25[0-5].
func isGrokIPv4(s []byte) bool {
	for part := 0; part < 4; part++ {
		n := 0
		for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		switch {
		case n == 1 || n == 2:
		case n == 3 && (s[0] <= '1' || s[0] == '2' && (s[1] <= '4' || s[1] == '5' && s[2] <= '5')):
		default:
			return false
		}
		s = s[n:]
		if part < 3 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
	}
	return len(s) == 0
}
