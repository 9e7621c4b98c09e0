package condition

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// maxDepth bounds nesting (parentheses and not) so hostile input cannot
// exhaust the stack.
const maxDepth = 64

// smallIn is the list length above which `in` uses a map.
const smallIn = 8

// Parse parses a condition. Errors are *SyntaxError values naming the
// column and what was expected there.
func Parse(expr string) (*Condition, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{expr: expr, toks: toks}
	if p.peek().kind == tEOF {
		return nil, errAt(expr, 0, "empty condition: expected a comparison such as severity >= medium")
	}
	n, err := p.parseOr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, p.errTok(t, "unmatched )")
		}
		return nil, p.errTok(t, "expected and, or or the end of the condition, found "+describe(t))
	}
	return &Condition{root: n}, nil
}

// MustParse is Parse for conditions known to be valid; it panics otherwise.
func MustParse(expr string) *Condition {
	c, err := Parse(expr)
	if err != nil {
		panic(fmt.Sprintf("condition.MustParse(%q): %v", expr, err))
	}
	return c
}

type parser struct {
	expr string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errTok(t token, msg string) error { return errAt(p.expr, t.pos, msg) }

// isKeyword reports whether t is the bare word kw (any case).
func isKeyword(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

func isReserved(t token) bool {
	return isKeyword(t, "and") || isKeyword(t, "or") || isKeyword(t, "not")
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the condition"
	case tString:
		return "string " + t.text
	case tWord:
		if isReserved(t) || isKeyword(t, "in") {
			return "keyword " + t.text
		}
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) parseOr(depth int) (*node, error) {
	return p.parseList(depth, kOr, "or", "||", p.parseAnd)
}

func (p *parser) parseAnd(depth int) (*node, error) {
	return p.parseList(depth, kAnd, "and", "&&", p.parseUnary)
}

// parseList parses operands joined by kw (or its symbol), flattening nested
// lists of the same kind so printing and re-parsing give the same tree.
func (p *parser) parseList(depth int, kind nodeKind, kw, sym string, operand func(int) (*node, error)) (*node, error) {
	first, err := operand(depth)
	if err != nil {
		return nil, err
	}
	var kids []*node
	add := func(n *node) {
		if n.kind == kind {
			kids = append(kids, n.kids...)
		} else {
			kids = append(kids, n)
		}
	}
	add(first)
	for {
		t := p.peek()
		if !isKeyword(t, kw) && !(t.kind == tOp && t.text == sym) {
			break
		}
		p.next()
		n, err := operand(depth)
		if err != nil {
			return nil, err
		}
		add(n)
	}
	if len(kids) == 1 {
		return kids[0], nil
	}
	return &node{kind: kind, kids: kids}, nil
}

func (p *parser) parseUnary(depth int) (*node, error) {
	if depth >= maxDepth {
		return nil, p.errTok(p.peek(), "condition nested too deeply")
	}
	t := p.peek()
	if isKeyword(t, "not") || (t.kind == tOp && t.text == "!") {
		p.next()
		n, err := p.parseUnary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{kind: kNot, kids: []*node{n}}, nil
	}
	if t.kind == tLParen {
		p.next()
		n, err := p.parseOr(depth + 1)
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c.kind != tRParen {
			return nil, p.errTok(c, fmt.Sprintf("expected ) to close the ( at column %d, found %s", colOf(p.expr, t.pos), describe(c)))
		}
		p.next()
		return n, nil
	}
	return p.parseComparison()
}

func colOf(expr string, pos int) int { return errAt(expr, pos, "").(*SyntaxError).Col }

const fieldHelp = "stream, tenant, id, type, severity, name, group, host, user, endpoint_id, endpoint_type or raw.<path>"

const opHelp = "==, !=, in, matches, startswith, contains, =~, or <, <=, >, >= for severity"

func (p *parser) parseComparison() (*node, error) {
	ft := p.next()
	if ft.kind != tWord || isReserved(ft) {
		return nil, p.errTok(ft, "expected a field ("+fieldHelp+"), found "+describe(ft))
	}
	n := &node{kind: kCmp}
	if err := p.parseField(ft, n); err != nil {
		return nil, err
	}

	ot := p.next()
	negate := false
	if isKeyword(ot, "not") {
		negate = true
		ot = p.next()
	}
	op, ok := opFromToken(ot)
	if !ok || (negate && (op == opEq || op == opNe || op.ordering())) {
		msg := "expected an operator (" + opHelp + ") after " + ft.text + ", found " + describe(ot)
		if ot.kind == tOp && ot.text == "=" {
			msg += "; use == to compare"
		}
		if negate {
			msg = "expected in, matches, startswith, contains or =~ after not, found " + describe(ot)
		}
		return nil, p.errTok(ot, msg)
	}
	n.op = op
	if op.ordering() && n.field != fSeverity {
		return nil, p.errTok(ot, fmt.Sprintf("%s compares severities only (e.g. severity >= medium); use ==, in, matches or =~ for %s", ot.text, ft.text))
	}

	if op == opIn {
		if err := p.parseValues(ft, n); err != nil {
			return nil, err
		}
	} else {
		vt := p.next()
		if err := p.checkValue(vt, "after "+ot.text); err != nil {
			return nil, err
		}
		v, err := p.normalize(n, vt)
		if err != nil {
			return nil, err
		}
		n.val = v
		switch {
		case op.ordering():
			n.sev = SeverityRank(v)
		case op == opRegex:
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, p.errTok(vt, "invalid regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			n.re = re
		}
	}
	if negate {
		return &node{kind: kNot, kids: []*node{n}}, nil
	}
	return n, nil
}

func (p *parser) parseField(ft token, n *node) error {
	name := ft.text
	for i, f := range fieldNames {
		if name == f {
			n.field = fieldID(i)
			return nil
		}
	}
	if name == "raw" || strings.HasPrefix(name, "raw.") {
		path := strings.Split(name, ".")[1:]
		if len(path) == 0 {
			return p.errTok(ft, "raw needs a path into the item, e.g. raw.data.endpoint_id")
		}
		for _, k := range path {
			if k == "" {
				return p.errTok(ft, fmt.Sprintf("empty key in %q: write raw.key.subkey", name))
			}
		}
		n.field = fRaw
		n.path = path
		return nil
	}
	msg := fmt.Sprintf("unknown field %q: use %s", name, fieldHelp)
	if s := suggestField(name); s != "" {
		msg = fmt.Sprintf("unknown field %q (did you mean %s?): use %s", name, s, fieldHelp)
	}
	return p.errTok(ft, msg)
}

// suggestField proposes a field for a likely typo or a Sophos key name.
func suggestField(name string) string {
	switch strings.ToLower(name) {
	case "location", "hostname":
		return "host"
	case "source", "username":
		return "user"
	case "description":
		return "name"
	case "datastream", "kind":
		return "stream"
	case "customer_id", "tenant_id":
		return "tenant"
	}
	for _, f := range fieldNames {
		if strings.EqualFold(f, name) || config.EditDistance(f, strings.ToLower(name)) <= 2 {
			return f
		}
	}
	return ""
}

func opFromToken(t token) (opKind, bool) {
	switch t.kind {
	case tOp:
		switch t.text {
		case "==":
			return opEq, true
		case "!=":
			return opNe, true
		case "=~", "~=":
			return opRegex, true
		case "<":
			return opLt, true
		case "<=":
			return opLe, true
		case ">":
			return opGt, true
		case ">=":
			return opGe, true
		}
	case tWord:
		switch strings.ToLower(t.text) {
		case "in":
			return opIn, true
		case "matches":
			return opMatches, true
		case "prefix", "startswith":
			return opPrefix, true
		case "contains":
			return opContains, true
		}
	}
	return 0, false
}

// checkValue accepts a string or a bare word; where says where ("after ==",
// "in the list").
func (p *parser) checkValue(vt token, where string) error {
	switch {
	case vt.kind == tString:
		return nil
	case vt.kind == tWord && !isReserved(vt):
		return nil
	case vt.kind == tWord:
		return p.errTok(vt, fmt.Sprintf("expected a value %s, found keyword %s (quote it to compare with the text: %q)", where, vt.text, vt.text))
	}
	return p.errTok(vt, fmt.Sprintf("expected a value %s (a \"quoted string\" or a word), found %s", where, describe(vt)))
}

// parseValues parses the parenthesized value list of `in`.
func (p *parser) parseValues(ft token, n *node) error {
	lp := p.next()
	if lp.kind != tLParen {
		return p.errTok(lp, fmt.Sprintf("expected ( after in, e.g. %s in (\"a\", \"b\"), found %s", ft.text, describe(lp)))
	}
	for {
		vt := p.next()
		if err := p.checkValue(vt, "in the list"); err != nil {
			return err
		}
		v, err := p.normalize(n, vt)
		if err != nil {
			return err
		}
		n.vals = append(n.vals, v)
		t := p.next()
		if t.kind == tRParen {
			break
		}
		if t.kind != tComma {
			return p.errTok(t, fmt.Sprintf("expected , or ) in the list opened at column %d, found %s", colOf(p.expr, lp.pos), describe(t)))
		}
	}
	if len(n.vals) > smallIn {
		n.set = make(map[string]struct{}, len(n.vals))
		for _, v := range n.vals {
			n.set[v] = struct{}{}
		}
	}
	return nil
}

// normalize checks and canonicalizes a value for its field: stream names
// become alert/event; severities must be known names for ==, !=, in and
// orderings.
func (p *parser) normalize(n *node, vt token) (string, error) {
	v := vt.val
	exact := n.op == opEq || n.op == opNe || n.op == opIn || n.op.ordering()
	switch {
	case n.field == fStream && exact:
		s, err := pipeline.ParseStream(v)
		if err != nil {
			return "", p.errTok(vt, fmt.Sprintf("unknown stream %q: use %s", v, pipeline.StreamNames))
		}
		return string(s), nil
	case n.field == fSeverity && exact:
		lv := strings.ToLower(v)
		if SeverityRank(lv) == 0 {
			return "", p.errTok(vt, fmt.Sprintf("unknown severity %q: use informational, low, medium, high or critical (or none, very_high)", v))
		}
		return lv, nil
	}
	return v, nil
}
