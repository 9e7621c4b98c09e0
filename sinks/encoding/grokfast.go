package encoding

import (
	"bytes"
	"regexp"
	"strings"
	"unsafe"
)

// grokFast is what lets a grok pattern avoid most of RE2's work while
// giving exactly FindSubmatchIndex's answer (TestGrokFastMatchesRegexp):
//
//   - firstLine: the pattern is ^%{GREEDYDATA:x}$, which with Ruby's line
//     anchors matches the first line: no regexp at all.
//   - need, anyOf: literals every match contains (the pattern's top-level
//     literal runs; for `\n(Lit…)?\n` the text holds "\nLit" or "\n\n"):
//     a text without them cannot match, and the regexp is not run.
//   - lead, anchored: a pattern ^Lit… can only start at a line start
//     followed by Lit; the regexp anchored there (\A) runs once per such
//     line instead of the unanchored search trying every byte.
//   - steps: a pattern of fixed lines (Label\s*%{TYPE:field} each) is
//     matched by hand where that is certain (matchSteps).
type grokFast struct {
	firstLine bool
	need      []string
	anyOf     [][2]string
	steps     []grokStep // a line-by-line pattern: matched by hand (matchSteps)
	lead      string
	nlLead    string // "\n" + lead
	anchored  *regexp.Regexp
	bt        *btPattern // the pattern's backtracking matcher (grokfast_bt.go)
}

// grokItem is one top-level element of a grok expression, for newGrokFast.
type grokItem struct {
	lit      string // a literal run (kind 'l') or an optional group's leading literal (kind 'o')
	kind     byte   // 'l' literal run, 'o' optional group, 'x' anything else
	anchored bool   // kind 'l': the run follows a leading ^
}

func newGrokFast(expr string, re *regexp.Regexp) grokFast {
	var f grokFast
	if m := grokRef.FindStringSubmatch(expr); m != nil && m[1] == "GREEDYDATA" && expr == "^"+m[0]+"$" {
		f.firstLine = true
		return f
	}
	f.steps = grokSteps(expr)
	f.bt = newBTPattern(expr)
	items := grokItems(expr)
	for i, it := range items {
		if it.kind != 'l' {
			continue
		}
		if it.anchored && i == 0 {
			f.lead = it.lit
		}
		if len(it.lit) >= 2 {
			f.need = append(f.need, it.lit)
		}
		// `\n(Lit…)?\n`: either the group matched right after the newline
		// or the next newline follows it at once
		if i+2 < len(items) && strings.HasSuffix(it.lit, "\n") && items[i+1].kind == 'o' && items[i+1].lit != "" &&
			items[i+2].kind == 'l' && strings.HasPrefix(items[i+2].lit, "\n") {
			f.anyOf = append(f.anyOf, [2]string{"\n" + items[i+1].lit, "\n\n"})
		}
	}
	if f.lead != "" {
		src := re.String()
		if !strings.HasPrefix(src, "(?m)^") {
			panic("grok: expected a (?m)^ expression: " + src)
		}
		f.nlLead = "\n" + f.lead
		f.anchored = regexp.MustCompile(`(?m)\A` + src[len("(?m)^"):])
	}
	return f
}

// grokItems splits expr into its top-level literal runs, optional groups
// and the rest. A literal char followed by ? or * is not literal; one
// followed by + ends its run (more may follow).
func grokItems(expr string) []grokItem {
	var items []grokItem
	var run []byte
	anchored := false
	flush := func() {
		if len(run) > 0 {
			items = append(items, grokItem{lit: string(run), kind: 'l', anchored: anchored})
		}
		run, anchored = run[:0], false
	}
	other := func() {
		flush()
		items = append(items, grokItem{kind: 'x'})
	}
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		var lit byte
		isLit := false
		switch {
		case c == '^' && i == 0:
			anchored = true
			continue
		case c == '%' && i+1 < len(expr) && expr[i+1] == '{':
			i += strings.IndexByte(expr[i:], '}')
			other()
			continue
		case c == '(':
			end := groupEnd(expr, i)
			body := expr[i+1 : end]
			if end+1 < len(expr) && expr[end+1] == '?' {
				flush()
				items = append(items, grokItem{lit: leadLiteral(body), kind: 'o'})
				i = end + 1
			} else {
				other()
				i = end
			}
			continue
		case c == '\\' && i+1 < len(expr):
			i++
			if expr[i] == 'n' {
				lit, isLit = '\n', true
			} else if strings.IndexByte(`.\()[]{}*+?^$|`, expr[i]) >= 0 {
				lit, isLit = expr[i], true
			}
		case strings.IndexByte(`.[]{}*+?$|)`, c) < 0:
			lit, isLit = c, true
		}
		if !isLit {
			other()
			continue
		}
		if i+1 < len(expr) && (expr[i+1] == '?' || expr[i+1] == '*') {
			other()
			i++
			continue
		}
		run = append(run, lit)
		if i+1 < len(expr) && expr[i+1] == '+' {
			flush()
			items = append(items, grokItem{kind: 'x'})
			i++
		}
	}
	flush()
	return items
}

// groupEnd returns the index of the ) closing the ( at expr[open].
func groupEnd(expr string, open int) int {
	depth := 0
	for i := open; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			if depth--; depth == 0 {
				return i
			}
		}
	}
	panic("grok: unbalanced ( in " + expr)
}

// leadLiteral is the literal text a group body starts with, "" when the
// body has an alternative or a nested group (no claim is made then).
func leadLiteral(body string) string {
	if strings.ContainsAny(body, "|(") {
		return ""
	}
	var b []byte
	for i := 0; i < len(body); i++ {
		c, next := body[i], i+1
		if c == '\\' && next < len(body) && body[next] == 'n' {
			c, next = '\n', next+1
		} else if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ' ' || c == ':' || c == '-') {
			break
		}
		if next < len(body) && (body[next] == '?' || body[next] == '*') {
			break
		}
		b = append(b, c)
		if next < len(body) && body[next] == '+' {
			break
		}
		i = next - 1
	}
	return string(b)
}

// match is g.re.FindSubmatchIndex(text), computed with the fast paths;
// scratch may hold the result (a first-line match).
func (g *grokPattern) match(text []byte, scratch []int) []int {
	f := &g.fast
	if f.firstLine {
		end := bytes.IndexByte(text, '\n')
		if end < 0 {
			end = len(text)
		}
		return append(scratch[:0], 0, end, 0, end)
	}
	for _, s := range f.need {
		if !bytes.Contains(text, unsafeBytes(s)) {
			return nil
		}
	}
	for _, alt := range f.anyOf {
		if !bytes.Contains(text, unsafeBytes(alt[0])) && !bytes.Contains(text, unsafeBytes(alt[1])) {
			return nil
		}
	}
	if f.anchored == nil {
		return g.re.FindSubmatchIndex(text)
	}
	// the leftmost match starts at the first line start where the
	// anchored pattern matches; its groups are the anchored match's
	for p := 0; p <= len(text); {
		if bytes.HasPrefix(text[p:], unsafeBytes(f.lead)) {
			if m := g.matchAt(text, p, scratch); m != nil {
				return m
			}
		}
		nl := bytes.Index(text[p:], unsafeBytes(f.nlLead))
		if nl < 0 {
			return nil
		}
		p += nl + 1
	}
	return nil
}

// matchAt is the anchored match at text[p:], in text's offsets.
func (g *grokPattern) matchAt(text []byte, p int, scratch []int) []int {
	if g.fast.steps != nil {
		if m, sure := matchSteps(g.fast.steps, text, p, scratch); sure {
			return m
		}
	}
	if g.fast.bt != nil {
		if m, sure := g.fast.bt.match(text, p, scratch); sure {
			return m
		}
	}
	m := g.fast.anchored.FindSubmatchIndex(text[p:])
	for i := range m {
		if m[i] >= 0 {
			m[i] += p
		}
	}
	return m
}

// grokStep is one `Label\s*%{TYPE:field}` of a line-by-line pattern.
type grokStep struct {
	label string // with its leading "\n" after the first step
	typ   string // GREEDYDATA, DATA, IP, NUMBER or MAC
}

var grokStepRE = regexp.MustCompile(`^((?:\\n)?[A-Za-z0-9 :-]+)\\s\*%\{(GREEDYDATA|DATA|IP|NUMBER|MAC):[\w.]+(?::long)?\}`)

// grokSteps splits ^Label\s*%{T:f}\nLabel\s*%{T:f}…$ into its steps, nil
// for any other shape.
func grokSteps(expr string) []grokStep {
	if !strings.HasPrefix(expr, "^") || !strings.HasSuffix(expr, "$") {
		return nil
	}
	rest := expr[1 : len(expr)-1]
	var steps []grokStep
	for rest != "" {
		m := grokStepRE.FindStringSubmatch(rest)
		if m == nil || (len(steps) > 0) != strings.HasPrefix(m[1], `\n`) {
			return nil
		}
		steps = append(steps, grokStep{label: strings.Replace(m[1], `\n`, "\n", 1), typ: m[2]})
		rest = rest[len(m[0]):]
	}
	return steps
}

// matchSteps matches steps at text[p:], which starts with the first
// label. Where every label's run of \s has no newline, each capture is
// forced (it starts after that run, a capture cannot start with a space,
// and it ends at the line's end, where the next label or $ must follow),
// so a match or its absence is certain (sure). Otherwise the regexp,
// with its backtracking through the newlines, decides.
func matchSteps(steps []grokStep, text []byte, p int, dst []int) (m []int, sure bool) {
	m = append(dst[:0], p, 0)
	pos := p + len(steps[0].label)
	for i, st := range steps {
		start := pos
		for start < len(text) && isRE2Space(text[start]) {
			if text[start] == '\n' {
				return nil, false
			}
			start++
		}
		end := bytes.IndexByte(text[start:], '\n')
		last := i == len(steps)-1
		if end < 0 {
			if !last {
				return nil, true
			}
			end = len(text)
		} else {
			end += start
		}
		if !last && !bytes.HasPrefix(text[end:], unsafeBytes(steps[i+1].label)) {
			return nil, true
		}
		ok, sure := grokTypeMatches(st.typ, text[start:end])
		if !sure {
			return nil, false
		}
		if !ok {
			return nil, true
		}
		m = append(m, start, end)
		pos = end
		if !last {
			pos += len(steps[i+1].label)
		}
	}
	m[1] = pos
	return m, true
}

func isRE2Space(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

// grokTypeMatches reports whether the whole of s matches grok type typ;
// sure is false when only the regexp can say (IPv6 and other rare forms).
func grokTypeMatches(typ string, s []byte) (ok, sure bool) {
	switch typ {
	case "GREEDYDATA", "DATA":
		return true, true // s holds no newline
	case "NUMBER":
		return isGrokNumber(s), true
	case "MAC":
		return isGrokMAC(s), true
	case "IP":
		if isPlainIPv4(s) {
			return true, true
		}
	}
	return false, false
}

// isGrokNumber is (?:[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)) on all of s.
func isGrokNumber(s []byte) bool {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	digits := func(b []byte) int {
		n := 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
		return n
	}
	n := digits(s)
	if n == len(s) {
		return n > 0
	}
	if s[n] != '.' {
		return false
	}
	f := digits(s[n+1:])
	return f > 0 && n+1+f == len(s)
}

// isGrokMAC is CISCOMAC, WINDOWSMAC or COMMONMAC on all of s.
func isGrokMAC(s []byte) bool {
	groups := func(size int, sep byte, n int) bool {
		if len(s) != n*size+n-1 {
			return false
		}
		for i, c := range s {
			if (i+1)%(size+1) == 0 {
				if c != sep {
					return false
				}
			} else if !isHexDigit(c) {
				return false
			}
		}
		return true
	}
	return groups(4, '.', 3) || groups(2, '-', 6) || groups(2, ':', 6)
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isPlainIPv4 reports four dot-separated decimals 0-255 without leading
// zeros: a subset of grok's IPV4 (which also takes some leading zeros,
// left to the regexp).
func isPlainIPv4(s []byte) bool {
	parts := 0
	for len(s) > 0 {
		n, v := 0, 0
		for n < len(s) && n < 4 && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || n > 3 || v > 255 || n > 1 && s[0] == '0' {
			return false
		}
		parts++
		s = s[n:]
		if len(s) > 0 {
			if s[0] != '.' || parts == 4 {
				return false
			}
			s = s[1:]
			if len(s) == 0 {
				return false
			}
		}
	}
	return parts == 4
}

// unsafeBytes views s as bytes for a call that only reads them.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
