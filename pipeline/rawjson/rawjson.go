// Package rawjson walks JSON text in place: object members in their original
// order, array elements, and string values, without building maps.
//
// The Sophos SIEM item is kept as the bytes the API sent (the official
// script's outputs depend on key order), so every component that needs a
// field reads it from those bytes with this package instead of decoding the
// item into a map.
package rawjson

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// ErrSyntax is wrapped by every error for malformed input.
var ErrSyntax = errors.New("invalid JSON")

func syntaxErr(off int, what string) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, off, what)
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 512

// ErrTooDeep is wrapped (with ErrSyntax) by the error for a value nested
// deeper than 512 levels; SkipAnyDepth finds the end of such a value.
var ErrTooDeep = errors.New("nested deeper than 512 levels")

// SkipAnyDepth returns the end offset of the object or array starting at
// data[i], at any depth, without recursion: brackets must match and strings
// be closed (their content is not checked). It lets a caller step over a
// value that SkipValue refused as too deep, to set it aside whole.
func SkipAnyDepth(data []byte, i int) (int, error) {
	i = SkipSpace(data, i)
	if i >= len(data) || (data[i] != '{' && data[i] != '[') {
		return i, syntaxErr(i, "expected an object or array")
	}
	var stack []byte
	for ; i < len(data); i++ {
		switch c := data[i]; c {
		case '"':
			var f byte
			end, err := skipString(data, i, &f)
			if err != nil {
				return end, err
			}
			i = end - 1
		case '{', '[':
			stack = append(stack, c)
		case '}', ']':
			open := byte('{')
			if c == ']' {
				open = '['
			}
			if len(stack) == 0 || stack[len(stack)-1] != open {
				return i, syntaxErr(i, "mismatched bracket")
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i + 1, nil
			}
		}
	}
	return i, syntaxErr(i, "unexpected end of input")
}

// SkipValue returns the end offset of the JSON value starting at data[i]
// (leading space allowed). It validates the value's syntax.
func SkipValue(data []byte, i int) (int, error) {
	var f byte
	return skipValue(data, i, 0, &f)
}

// SkipValueFlags is SkipValue that also returns the flags (Escaped,
// NonASCII) of every string in the value, keys included, ORed: 0 means the
// value is ASCII, so valid UTF-8 (outside strings JSON is ASCII).
func SkipValueFlags(data []byte, i int) (end int, flags byte, err error) {
	end, err = skipValue(data, i, 0, &flags)
	return end, flags, err
}

func skipValue(data []byte, i, depth int, flags *byte) (int, error) {
	i = SkipSpace(data, i)
	if i >= len(data) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := data[i]; {
	case c == '"':
		return skipString(data, i, flags)
	case c == '{':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w at offset %d: %w", ErrSyntax, i, ErrTooDeep)
		}
		i = SkipSpace(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		for {
			i = SkipSpace(data, i)
			if i >= len(data) || data[i] != '"' {
				return i, syntaxErr(i, "expected object key")
			}
			var err error
			if i, err = skipString(data, i, flags); err != nil {
				return i, err
			}
			i = SkipSpace(data, i)
			if i >= len(data) || data[i] != ':' {
				return i, syntaxErr(i, "expected ':'")
			}
			if i, err = skipValue(data, i+1, depth+1, flags); err != nil {
				return i, err
			}
			i = SkipSpace(data, i)
			if i >= len(data) {
				return i, syntaxErr(i, "unexpected end of object")
			}
			if data[i] == '}' {
				return i + 1, nil
			}
			if data[i] != ',' {
				return i, syntaxErr(i, "expected ',' or '}'")
			}
			i++
		}
	case c == '[':
		if depth >= maxDepth {
			return i, fmt.Errorf("%w at offset %d: %w", ErrSyntax, i, ErrTooDeep)
		}
		i = SkipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(data, i, depth+1, flags); err != nil {
				return i, err
			}
			i = SkipSpace(data, i)
			if i >= len(data) {
				return i, syntaxErr(i, "unexpected end of array")
			}
			if data[i] == ']' {
				return i + 1, nil
			}
			if data[i] != ',' {
				return i, syntaxErr(i, "expected ',' or ']'")
			}
			i++
		}
	case c == 't':
		return skipLiteral(data, i, "true")
	case c == 'f':
		return skipLiteral(data, i, "false")
	case c == 'n':
		return skipLiteral(data, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(data, i)
	default:
		return i, syntaxErr(i, fmt.Sprintf("unexpected character %q", c))
	}
}

func skipLiteral(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func skipNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(data) && data[i] == '0' {
		i++
	} else if digits() == 0 {
		return start, syntaxErr(start, "invalid number")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if digits() == 0 {
			return start, syntaxErr(start, "invalid number")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if digits() == 0 {
			return start, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

func skipString(data []byte, i int, flags *byte) (int, error) {
	end, f, ok := ScanStringFlags(data, i)
	if !ok {
		return i, stringErr(data, i, end)
	}
	*flags |= f
	return end, nil
}

// PlainView returns the text of a string ScanString called plain, sharing
// raw's memory. The caller must never modify raw afterwards.
func PlainView(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if len(inner) == 0 {
		return ""
	}
	return unsafe.String(&inner[0], len(inner))
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Valid reports whether data holds exactly one JSON value (space allowed around it).
func Valid(data []byte) bool {
	end, err := SkipValue(data, 0)
	return err == nil && SkipSpace(data, end) == len(data)
}

// EachMember calls fn for every member of the JSON object in obj, in order.
// key is the raw quoted key (use Unquote or KeyEquals); value is the raw value
// with no surrounding space. fn returns false to stop early.
func EachMember(obj []byte, fn func(key, value []byte) bool) error {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return syntaxErr(i, "expected object")
	}
	i = SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return syntaxErr(i, "expected object key")
		}
		ks := i
		var err error
		var f byte
		if i, err = skipString(obj, i, &f); err != nil {
			return err
		}
		key := obj[ks:i]
		i = SkipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return syntaxErr(i, "expected ':'")
		}
		vs := SkipSpace(obj, i+1)
		if i, err = skipValue(obj, vs, 1, &f); err != nil {
			return err
		}
		if !fn(key, obj[vs:i]) {
			return nil
		}
		i = SkipSpace(obj, i)
		if i >= len(obj) {
			return syntaxErr(i, "unexpected end of object")
		}
		if obj[i] == '}' {
			return nil
		}
		if obj[i] != ',' {
			return syntaxErr(i, "expected ',' or '}'")
		}
		i++
	}
}

// EachElement calls fn for every element of the JSON array in arr, in order.
func EachElement(arr []byte, fn func(value []byte) bool) error {
	i := SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return syntaxErr(i, "expected array")
	}
	i = SkipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for {
		vs := SkipSpace(arr, i)
		var err error
		var f byte
		if i, err = skipValue(arr, vs, 1, &f); err != nil {
			return err
		}
		if !fn(arr[vs:i]) {
			return nil
		}
		i = SkipSpace(arr, i)
		if i >= len(arr) {
			return syntaxErr(i, "unexpected end of array")
		}
		if arr[i] == ']' {
			return nil
		}
		if arr[i] != ',' {
			return syntaxErr(i, "expected ',' or ']'")
		}
		i++
	}
}

// KeyEquals reports whether the raw quoted key equals name. Keys with escapes
// are compared after unquoting.
func KeyEquals(rawKey []byte, name string) bool {
	if len(rawKey) == len(name)+2 && string(rawKey[1:len(rawKey)-1]) == name {
		return true
	}
	for _, c := range rawKey {
		if c == '\\' {
			s, err := Unquote(nil, rawKey)
			return err == nil && string(s) == name
		}
	}
	return false
}

// Get returns the raw value at the dotted path of object keys (each element of
// path one key), or nil when absent.
func Get(obj []byte, path ...string) []byte {
	cur := obj
	for _, k := range path {
		var found []byte
		if SkipSpace(cur, 0) >= len(cur) || cur[SkipSpace(cur, 0)] != '{' {
			return nil
		}
		_ = EachMember(cur, func(key, value []byte) bool {
			if KeyEquals(key, k) {
				found = value
				return false
			}
			return true
		})
		if found == nil {
			return nil
		}
		cur = found
	}
	return cur
}

// String returns the string value of a raw JSON value: the unquoted text for a
// string, "" for anything else (null, absent, numbers, objects). Invalid
// UTF-8 becomes U+FFFD, as encoding/json does.
func String(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	s, err := Unquote(nil, raw)
	if err != nil {
		return ""
	}
	return string(s)
}

// StringView is String without a copy when it can: for a string with no
// escapes and valid UTF-8 it returns a string that shares raw's memory. The
// caller must never modify raw afterwards (records keep the API's page body
// immutable for exactly this reason).
func StringView(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	inner := raw[1 : len(raw)-1]
	if len(inner) > 0 && bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return unsafe.String(&inner[0], len(inner))
	}
	return String(raw)
}

// Unquote appends the decoded text of the quoted JSON string raw to dst.
// Invalid UTF-16 surrogates become U+FFFD, as encoding/json does.
func Unquote(dst, raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return dst, syntaxErr(0, "expected string")
	}
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			dst = utf8.AppendRune(dst, r) // RuneError for invalid bytes
			i += size
			continue
		}
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' && s[j] < utf8.RuneSelf {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		if i+1 >= len(s) {
			return dst, syntaxErr(i, "unterminated escape")
		}
		switch s[i+1] {
		case '"', '\\', '/':
			dst = append(dst, s[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, ok := decodeU(s[i:])
			if !ok {
				return dst, syntaxErr(i, "invalid \\u escape")
			}
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			return dst, syntaxErr(i, "invalid escape")
		}
		i += 2
	}
	return dst, nil
}

// decodeU decodes \uXXXX (and a following low surrogate) at the start of s.
func decodeU(s []byte) (rune, int, bool) {
	if len(s) < 6 || !isHex4(s[2:6]) {
		return 0, 0, false
	}
	v, _ := strconv.ParseUint(string(s[2:6]), 16, 32)
	r := rune(v)
	if utf16.IsSurrogate(r) {
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' && isHex4(s[8:12]) {
			v2, _ := strconv.ParseUint(string(s[8:12]), 16, 32)
			if dec := utf16.DecodeRune(r, rune(v2)); dec != utf8.RuneError {
				return dec, 12, true
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}

// AppendString appends s as a quoted JSON string, escaping like encoding/json
// without HTML escaping.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
