// Package condition is the small boolean language shared by the filter
// stage and by sinks' `when:` routing, written for SOC engineers:
//
//	severity >= medium and type matches "Event::Endpoint::Threat::*" and not tenant in ("a", "b")
//
// Fields: stream, tenant, id, type, severity, name, group, host, user,
// endpoint_id, endpoint_type (the record's typed fields) and raw.<dotted.path>
// (any key of the API item, read in place from the raw bytes). A raw value
// that is absent or null reads as ""; a number or boolean reads as its JSON
// text (raw.data.policy_type == 16); an object or array as its JSON text.
//
// Operators: == and != (exact text), in ("a", "b"), startswith (alias
// prefix), contains, matches (glob: * any run, ? one character, \ escapes),
// =~ (alias ~=, a Go regular expression, RE2 syntax, unanchored), and for
// severity only <, <=, >, >= with none < low < medium < high < very_high
// (a record with another severity never satisfies an ordering). Combine with
// and / or / not (also &&, ||, !) and parentheses; `x not in (...)` and
// `x not matches "..."` negate. Values are "double" or 'single' quoted
// strings, or bare words (medium, alerts, Event::Endpoint::*). Inside quotes
// only \" (\') and \\ are escapes; other backslashes stay, so "\d+" and
// "C:\Users" mean what they show. stream values accept alert(s)/event(s).
package condition

import (
	"regexp"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Condition is a parsed, ready-to-evaluate condition. It is immutable and
// safe for concurrent use. A nil *Condition matches every record.
type Condition struct {
	root *node
}

type nodeKind uint8

const (
	kCmp nodeKind = iota
	kAnd
	kOr
	kNot
)

type fieldID uint8

const (
	fStream fieldID = iota
	fTenant
	fID
	fType
	fSeverity
	fName
	fGroup
	fHost
	fUser
	fEndpointID
	fEndpointType
	fRaw
)

// fieldNames is indexed by fieldID (except fRaw).
var fieldNames = [...]string{"stream", "tenant", "id", "type", "severity", "name", "group", "host", "user", "endpoint_id", "endpoint_type"}

// Fields lists the typed field names a condition may use (plus raw.<path>).
func Fields() []string { return append([]string(nil), fieldNames[:]...) }

type opKind uint8

const (
	opEq opKind = iota
	opNe
	opIn
	opMatches
	opPrefix
	opContains
	opRegex
	opLt
	opLe
	opGt
	opGe
)

var opNames = [...]string{"==", "!=", "in", "matches", "startswith", "contains", "=~", "<", "<=", ">", ">="}

func (o opKind) ordering() bool { return o >= opLt }

type node struct {
	kind nodeKind
	kids []*node

	field fieldID
	path  []string // raw.<path> keys
	op    opKind
	val   string
	vals  []string
	set   map[string]struct{} // large in-lists
	re    *regexp.Regexp
	sev   int8 // ordering: the rank compared against
}

// Match reports whether r satisfies the condition. It does not allocate
// (except to unescape a raw string value that contains escapes).
func (c *Condition) Match(r *pipeline.Record) bool {
	if c == nil || c.root == nil {
		return true
	}
	return c.root.match(r)
}

// String returns the condition in canonical form; Parse(c.String()) yields
// an equivalent condition with the same String.
func (c *Condition) String() string {
	if c == nil || c.root == nil {
		return ""
	}
	var b strings.Builder
	c.root.write(&b)
	return b.String()
}

// And combines conditions: all must match. Nil conditions are skipped;
// And() of nothing is nil (matches everything).
func And(cs ...*Condition) *Condition { return combine(kAnd, cs) }

// Or combines conditions: any must match. Nil conditions are skipped.
func Or(cs ...*Condition) *Condition { return combine(kOr, cs) }

// Not negates c. Not(nil) is nil (a nil condition has no negation worth
// having: callers that need "drop everything" should say so explicitly).
func Not(c *Condition) *Condition {
	if c == nil || c.root == nil {
		return nil
	}
	return &Condition{root: &node{kind: kNot, kids: []*node{c.root}}}
}

func combine(kind nodeKind, cs []*Condition) *Condition {
	var kids []*node
	for _, c := range cs {
		if c == nil || c.root == nil {
			continue
		}
		if c.root.kind == kind {
			kids = append(kids, c.root.kids...)
		} else {
			kids = append(kids, c.root)
		}
	}
	switch len(kids) {
	case 0:
		return nil
	case 1:
		return &Condition{root: kids[0]}
	}
	return &Condition{root: &node{kind: kind, kids: kids}}
}

// write prints n canonically. Nested and/or are parenthesized for
// readability even where precedence would not need it.
func (n *node) write(b *strings.Builder) {
	switch n.kind {
	case kAnd, kOr:
		sep := " and "
		if n.kind == kOr {
			sep = " or "
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			if k.kind == kAnd || k.kind == kOr {
				b.WriteByte('(')
				k.write(b)
				b.WriteByte(')')
			} else {
				k.write(b)
			}
		}
	case kNot:
		b.WriteString("not ")
		k := n.kids[0]
		if k.kind == kAnd || k.kind == kOr {
			b.WriteByte('(')
			k.write(b)
			b.WriteByte(')')
		} else {
			k.write(b)
		}
	default:
		if n.field == fRaw {
			b.WriteString("raw")
			for _, p := range n.path {
				b.WriteByte('.')
				b.WriteString(p)
			}
		} else {
			b.WriteString(fieldNames[n.field])
		}
		b.WriteByte(' ')
		b.WriteString(opNames[n.op])
		b.WriteByte(' ')
		switch {
		case n.op.ordering():
			b.WriteString(n.val) // a severity name: a bare word
		case n.op == opIn:
			b.WriteByte('(')
			for i, v := range n.vals {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(Quote(v))
			}
			b.WriteByte(')')
		default:
			b.WriteString(Quote(n.val))
		}
	}
}

// SeverityRank returns the rank of a severity name, or 0 when it is not one:
// none=1 < low=2 < medium=3 < high=4 < very_high=5 (none and very_high are
// in the official script's CEF map; the SIEM API sends low, medium and high).
// Detections and cases add informational (= none) and critical (= very_high).
func SeverityRank(s string) int8 {
	switch s { // a switch: no map lookup on the hot path
	case "low":
		return 2
	case "medium":
		return 3
	case "high":
		return 4
	case "none", "informational":
		return 1
	case "very_high", "critical":
		return 5
	}
	return 0
}
