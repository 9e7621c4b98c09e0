package file

import (
	"bufio"
	"fmt"
	"io"
)

// arrayScan is the structure of a seed JSON array file, read once at open.
type arrayScan struct {
	closed   bool  // the array's closing ']' was found
	end      int64 // offset of that ']'
	complete int64 // offset just after the last complete element (or '[')
	n        int   // complete elements
}

// damagedError is a file that is not what this tool writes, or that is
// damaged in a way a torn append cannot explain: it is never repaired or
// overwritten.
type damagedError struct {
	off int64
	msg string
}

// Damaged marks the error as one retrying cannot fix: a -once run fails
// at once instead of waiting out its -timeout.
func (e *damagedError) Damaged() bool { return true }

func (e *damagedError) Error() string {
	return fmt.Sprintf("byte %d: %s — the file is not a JSON array as this tool writes it, or is damaged before its end: it is left as it is; move it aside (or fix it) to continue", e.off, e.msg)
}

// scanArray streams the whole file once and checks its structure: one
// top-level array of values, brackets and braces matched, strings closed,
// commas between elements, nothing after the closing bracket but space.
// A file that simply stops (a torn append) is not an error: complete says
// where its last whole element ends. Scalars are checked only as runs of
// bytes: the elements are the API's objects, validated when written.
func scanArray(r io.Reader) (arrayScan, error) {
	var sc arrayScan
	br := bufio.NewReaderSize(r, 1<<20)
	var (
		off       int64  = -1
		stack     []byte // open brackets below the array: '[' or '{'
		started   bool
		inStr     bool
		esc       bool
		expect    = byte('v') // at depth 1: 'v' value, ',' separator (or ']'), 'f' first value (or ']')
		scalar    bool        // a bare scalar element is running at depth 1
		scalarEnd int64
	)
	damaged := func(msg string) (arrayScan, error) { return sc, &damagedError{off, msg} }
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return sc, err
		}
		off++
		if sc.closed {
			if !isSpace(c) {
				return damaged("data after the closing ']' of the array")
			}
			continue
		}
		if !started {
			if isSpace(c) {
				continue
			}
			if c != '[' {
				return damaged(fmt.Sprintf("the file starts with %q, not '['", c))
			}
			started, expect, sc.complete = true, 'f', off+1
			continue
		}
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if len(stack) == 0 { // a string element ended
					sc.complete, sc.n, expect = off+1, sc.n+1, ','
				}
			case c < 0x20:
				return damaged("a control character inside a string")
			}
			continue
		}
		depth1 := len(stack) == 0
		if depth1 && scalar && (isSpace(c) || c == ',' || c == ']') {
			scalar = false
			sc.complete, sc.n, expect = scalarEnd, sc.n+1, ','
		}
		switch {
		case isSpace(c):
		case c == '"' || c == '[' || c == '{':
			if depth1 {
				if expect == ',' {
					return damaged("two elements without a ',' between them")
				}
				expect = 'e' // inside an element
			}
			if c == '"' {
				inStr = true
			} else {
				stack = append(stack, c)
			}
		case c == ']' || c == '}':
			if depth1 {
				if c == '}' {
					return damaged("'}' closes nothing")
				}
				if expect == 'v' {
					return damaged("']' right after ','")
				}
				sc.closed, sc.end = true, off
				continue
			}
			open := stack[len(stack)-1]
			if (open == '[') != (c == ']') {
				return damaged(fmt.Sprintf("%q closes %q", c, open))
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				sc.complete, sc.n, expect = off+1, sc.n+1, ','
			}
		case c == ',':
			if depth1 {
				if expect != ',' {
					return damaged("',' without an element before it")
				}
				expect = 'v'
			}
		default: // a scalar byte (number, true, false, null, ':' inside objects)
			if depth1 {
				if expect == ',' && !scalar {
					return damaged("two elements without a ',' between them")
				}
				scalar, scalarEnd, expect = true, off+1, 'e'
			}
		}
	}
	if !started {
		return damaged("the file holds only space")
	}
	return sc, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
