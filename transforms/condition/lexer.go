package condition

import (
	"fmt"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tComma
	tOp     // ==, !=, =~, ~=, <, <=, >, >=, &&, ||, !, =
	tString // "..." or '...'
	tWord   // a bare word: field name, keyword or unquoted value
)

type token struct {
	kind tokKind
	text string // source text
	val  string // decoded value (strings), else text
	pos  int    // byte offset in the expression
}

// isWordByte reports whether c may appear in a bare word. Words stop at
// space, parentheses, commas, quotes and operator characters, so
// Event::Endpoint::Threat::* and raw.data.endpoint_id are single words.
func isWordByte(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '(', ')', ',', '"', '\'', '=', '!', '<', '>', '~', '&', '|':
		return false
	}
	return true
}

// lex splits expr into tokens, ending with tEOF.
func lex(expr string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(expr) && (expr[i] == ' ' || expr[i] == '\t' || expr[i] == '\n' || expr[i] == '\r') {
			i++
		}
		if i >= len(expr) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start := i
		c := expr[i]
		switch {
		case c == '(':
			toks = append(toks, token{kind: tLParen, text: "(", val: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, text: ")", val: ")", pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, text: ",", val: ",", pos: i})
			i++
		case c == '"' || c == '\'':
			val, end, ok := lexString(expr, i)
			if !ok {
				return nil, errAt(expr, start, fmt.Sprintf("unterminated string: missing closing %c", c))
			}
			toks = append(toks, token{kind: tString, text: expr[start:end], val: val, pos: start})
			i = end
		case !isWordByte(c):
			op := expr[i : i+1]
			if i+1 < len(expr) {
				switch two := expr[i : i+2]; two {
				case "==", "!=", "=~", "~=", "<=", ">=", "&&", "||":
					op = two
				}
			}
			switch op {
			case "~", "&", "|":
				return nil, errAt(expr, start, fmt.Sprintf("unexpected %q (did you mean %s?)", op, map[string]string{"~": "=~", "&": "and", "|": "or"}[op]))
			}
			toks = append(toks, token{kind: tOp, text: op, val: op, pos: i})
			i += len(op)
		default:
			for i < len(expr) && isWordByte(expr[i]) {
				i++
			}
			toks = append(toks, token{kind: tWord, text: expr[start:i], val: expr[start:i], pos: start})
		}
	}
}

// lexString reads the quoted string starting at expr[i]. Only \" (or \')
// and \\ are escapes; any other backslash is kept as written, so regular
// expressions and Windows paths need no doubling: "\d+", "C:\Users".
func lexString(expr string, i int) (string, int, bool) {
	q := expr[i]
	var b []byte
	plain := true
	for j := i + 1; j < len(expr); j++ {
		c := expr[j]
		switch {
		case c == q:
			if plain {
				return expr[i+1 : j], j + 1, true
			}
			return string(b), j + 1, true
		case c == '\\' && j+1 < len(expr) && (expr[j+1] == q || expr[j+1] == '\\'):
			if plain {
				b = append(b, expr[i+1:j]...)
				plain = false
			}
			b = append(b, expr[j+1])
			j++
		default:
			if !plain {
				b = append(b, c)
			}
		}
	}
	return "", len(expr), false
}

// Quote returns s as a condition string literal that Parse reads back as s.
func Quote(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

// SyntaxError is a condition that does not parse. Col is the 1-based column
// (in characters) where the problem starts.
type SyntaxError struct {
	Expr string
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("column %d: %s", e.Col, e.Msg) }

// Pointer returns the expression and a caret under the column, for CLIs.
func (e *SyntaxError) Pointer() string {
	pad := make([]byte, 0, e.Col)
	for i := 1; i < e.Col; i++ {
		pad = append(pad, ' ')
	}
	return e.Expr + "\n" + string(pad) + "^"
}

func errAt(expr string, pos int, msg string) error {
	if pos > len(expr) {
		pos = len(expr)
	}
	return &SyntaxError{Expr: expr, Col: utf8.RuneCountInString(expr[:pos]) + 1, Msg: msg}
}
