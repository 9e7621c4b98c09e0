package elasticsearchtest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// ftype is the family of a mapped field, which decides the values it takes.
type ftype uint8

const (
	ftObject ftype = iota + 1
	ftText         // text, keyword and friends: any scalar
	ftLong         // long, integer, short, byte, unsigned_long
	ftDouble       // double, float, half_float, scaled_float
	ftBool         // boolean
	ftDate         // date, date_nanos
	ftIP           // ip
	ftAny          // flattened and types elasticsearchtest does not model: anything goes
)

// field is one mapped field.
type field struct {
	t               ftype
	es              string // Elasticsearch type name, for messages
	ignoreMalformed bool
	// keywordSub: a dynamically mapped string, text with a "keyword"
	// multi-field (ignore_above 256), as a real node maps it
	keywordSub bool
}

// mapping is an index's mapping: field paths (dotted) to types, grown by
// dynamic mapping as documents arrive.
type mapping struct {
	fields        map[string]field
	dateDetection bool
	dynamic       string        // "true", "false" or "strict" (root level only)
	dyn           []dynTemplate // dynamic.go
	totalLimit    int
	ignoreBeyond  bool
}

func newMapping() *mapping {
	return &mapping{fields: map[string]field{}, dateDetection: true, dynamic: "true", totalLimit: DefaultTotalFieldsLimit}
}

// typeFamily maps an Elasticsearch field type to its family.
func typeFamily(es string) ftype {
	switch es {
	case "object", "nested":
		return ftObject
	case "text", "keyword", "match_only_text", "wildcard", "constant_keyword", "version", "search_as_you_type":
		return ftText
	case "long", "integer", "short", "byte", "unsigned_long":
		return ftLong
	case "double", "float", "half_float", "scaled_float":
		return ftDouble
	case "boolean":
		return ftBool
	case "date", "date_nanos":
		return ftDate
	case "ip":
		return ftIP
	}
	return ftAny
}

// parseMapping reads a mappings object ({"properties":..., "dynamic":...,
// "date_detection":...}) into m, adding to what m holds.
func (m *mapping) merge(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var root map[string]any
	if err := json.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("failed to parse mapping: %v", err)
	}
	if dd, ok := root["date_detection"].(bool); ok {
		m.dateDetection = dd
	}
	switch d := root["dynamic"].(type) {
	case bool:
		m.dynamic = strconv.FormatBool(d)
	case string:
		m.dynamic = d
	}
	dyn, err := parseDynamicTemplates(root)
	if err != nil {
		return err
	}
	m.dyn = append(m.dyn, dyn...)
	props, _ := root["properties"].(map[string]any)
	return m.mergeProps("", props)
}

func (m *mapping) mergeProps(prefix string, props map[string]any) error {
	for name, v := range props {
		def, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("failed to parse mapping: expected map for property [%s] but got a %T", name, v)
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		typ, _ := def["type"].(string)
		sub, hasProps := def["properties"].(map[string]any)
		if typ == "" {
			typ = "object"
			if !hasProps {
				// a field with neither type nor properties is an object in ES
				hasProps = true
			}
		}
		f := field{t: typeFamily(typ), es: typ}
		if im, ok := def["ignore_malformed"].(bool); ok {
			f.ignoreMalformed = im
		}
		// intermediate objects of dotted property names
		for i := range len(path) {
			if path[i] == '.' {
				if _, ok := m.fields[path[:i]]; !ok {
					m.fields[path[:i]] = field{t: ftObject, es: "object"}
				}
			}
		}
		m.fields[path] = f
		if hasProps && f.t == ftObject {
			if err := m.mergeProps(path, sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// docError is a failed document: status, error type and reason.
type docError struct {
	status       int
	typ, reason  string
	causedType   string
	causedReason string
}

type pendingField struct {
	path string
	f    field
}

// checker parses one document against an index mapping the way
// Elasticsearch's DocumentParser does, collecting the dynamic fields it
// would add; they are committed only when the whole document parses.
type checker struct {
	m            *mapping
	pending      []pendingField
	path         []byte
	src          []byte
	id           string
	sawTimestamp bool
	keys         [][]byte // keys of the objects being walked, for duplicate detection
}

func (c *checker) reset(m *mapping, src []byte, id string) {
	c.m, c.src, c.id = m, src, id
	c.pending = c.pending[:0]
	c.path = c.path[:0]
	c.keys = c.keys[:0]
	c.sawTimestamp = false
}

// check parses the document in one pass; nil means it is accepted.
func (c *checker) check(dataStream bool) *docError {
	i := rawjson.SkipSpace(c.src, 0)
	if i >= len(c.src) || c.src[i] != '{' {
		return &docError{status: 400, typ: "document_parsing_exception",
			reason:       "[1:" + strconv.Itoa(i+1) + "] failed to parse: the document is not a JSON object",
			causedType:   "not_x_content_exception",
			causedReason: "Compressor detection can only be called on some xcontent bytes or compressed xcontent bytes"}
	}
	end, e := c.parseObject(i, 0, 0)
	if e != nil {
		return e
	}
	if end = rawjson.SkipSpace(c.src, end); end != len(c.src) {
		return c.syntax(end, "unexpected data after the document")
	}
	if dataStream && !c.sawTimestamp {
		return &docError{status: 400, typ: "document_parsing_exception",
			reason:     "[1:" + strconv.Itoa(len(c.src)) + "] failed to parse: data stream timestamp field [@timestamp] is missing",
			causedType: "illegal_argument_exception", causedReason: "data stream timestamp field [@timestamp] is missing"}
	}
	return nil
}

// syntax is the error for malformed JSON at offset i.
func (c *checker) syntax(i int, what string) *docError {
	ch := "end-of-input"
	if i < len(c.src) {
		ch = "'" + string(c.src[i]) + "'"
	}
	msg := "Unexpected character (" + ch + "): " + what
	return &docError{status: 400, typ: "document_parsing_exception",
		reason:     "[1:" + strconv.Itoa(i+1) + "] failed to parse: " + msg,
		causedType: "json_parse_exception", causedReason: msg}
}

const maxDepth = 256

// parseObject walks the object at src[i] ('{'), whose path is c.path[:plen],
// and returns the offset after it.
func (c *checker) parseObject(i, plen, depth int) (int, *docError) {
	if depth > maxDepth {
		return i, c.syntax(i, "the document is nested too deep")
	}
	src := c.src
	mark := len(c.keys)
	defer func() { c.keys = c.keys[:mark] }()
	i = rawjson.SkipSpace(src, i+1)
	if i < len(src) && src[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(src) || src[i] != '"' {
			return i, c.syntax(i, "expected a field name")
		}
		ke, esc, ok := scanStringEsc(src, i)
		if !ok {
			return i, c.syntax(i, "invalid string")
		}
		key := src[i+1 : ke-1]
		if esc {
			key = unquoteKey(src[i:ke])
		}
		i = rawjson.SkipSpace(src, ke)
		if i >= len(src) || src[i] != ':' {
			return i, c.syntax(i, "expected ':'")
		}
		i = rawjson.SkipSpace(src, i+1)
		if i >= len(src) {
			return i, c.syntax(i, "expected a value")
		}
		v := src[i:]
		if c.duplicate(mark, key) {
			return i, &docError{status: 400, typ: "document_parsing_exception",
				reason:     "[1:" + c.col(v) + "] failed to parse: Duplicate field '" + string(key) + "'",
				causedType: "json_parse_exception", causedReason: "Duplicate field '" + string(key) + "'"}
		}
		if bad := badFieldName(key); bad != "" {
			return i, &docError{status: 400, typ: "document_parsing_exception",
				reason:     "[1:" + c.col(v) + "] failed to parse: " + bad,
				causedType: "illegal_argument_exception", causedReason: bad}
		}
		c.path = c.path[:plen]
		if plen > 0 {
			c.path = append(c.path, '.')
		}
		start := len(c.path)
		c.path = append(c.path, key...)
		skip := false
		if bytes.IndexByte(key, '.') >= 0 {
			for j := start; j < len(c.path) && !skip; j++ {
				if c.path[j] != '.' {
					continue
				}
				f, ok := c.lookup(c.path[:j])
				if !ok {
					var e *docError
					if skip, e = c.add(c.path[:j], field{t: ftObject, es: "object"}, v); e != nil {
						return i, e
					}
				} else if f.t != ftObject {
					return i, c.concreteAsObject(c.path[:j], f, v)
				}
			}
		}
		var e *docError
		if skip {
			i, e = c.skip(i)
		} else {
			i, e = c.parseValue(i, len(c.path), depth+1)
		}
		if e != nil {
			return i, e
		}
		i = rawjson.SkipSpace(src, i)
		if i >= len(src) {
			return i, c.syntax(i, "unexpected end of object")
		}
		switch src[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = rawjson.SkipSpace(src, i+1)
		default:
			return i, c.syntax(i, "expected ',' or '}'")
		}
	}
}

// skip passes over a value nothing is mapped for.
func (c *checker) skip(i int) (int, *docError) {
	end, err := rawjson.SkipValue(c.src, i)
	if err != nil {
		return i, c.syntax(i, err.Error())
	}
	return end, nil
}

// parseValue walks the value at src[i] for the path c.path[:plen].
func (c *checker) parseValue(i, plen, depth int) (int, *docError) {
	src := c.src
	path := c.path[:plen]
	switch src[i] {
	case '{':
		f, ok := c.lookup(path)
		if ok {
			switch f.t {
			case ftAny:
				return c.skip(i)
			case ftObject:
			default:
				return i, c.concreteAsObject(path, f, src[i:])
			}
		} else if skip, e := c.add(path, field{t: ftObject, es: "object"}, src[i:]); e != nil {
			return i, e
		} else if skip {
			return c.skip(i)
		}
		return c.parseObject(i, plen, depth)
	case '[':
		if depth > maxDepth {
			return i, c.syntax(i, "the document is nested too deep")
		}
		i = rawjson.SkipSpace(src, i+1)
		if i < len(src) && src[i] == ']' {
			return i + 1, nil
		}
		for {
			if i >= len(src) {
				return i, c.syntax(i, "unexpected end of array")
			}
			c.path = c.path[:plen]
			var e *docError
			if i, e = c.parseValue(i, plen, depth+1); e != nil {
				return i, e
			}
			i = rawjson.SkipSpace(src, i)
			if i >= len(src) {
				return i, c.syntax(i, "unexpected end of array")
			}
			switch src[i] {
			case ']':
				return i + 1, nil
			case ',':
				i = rawjson.SkipSpace(src, i+1)
			default:
				return i, c.syntax(i, "expected ',' or ']'")
			}
		}
	}
	end, ok := scanScalar(src, i)
	if !ok {
		return i, c.syntax(i, "expected a value")
	}
	v := src[i:end]
	if v[0] == 'n' {
		return end, nil
	}
	if plen == len("@timestamp") && string(path) == "@timestamp" {
		c.sawTimestamp = true
	}
	f, found := c.lookup(path)
	if !found {
		_, e := c.add(path, c.dynamicField(path, v), v)
		return end, e
	}
	return end, c.scalar(path, f, v)
}

// strStop marks the bytes that end a run of plain string content.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// hasStop reports whether any byte of x is '"', '\\' or below 0x20 (SWAR).
func hasStop(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - lo) & ^v & hi }
	return (zero(x^(lo*'"')) | zero(x^(lo*'\\')) | ((x - lo*0x20) & ^x & hi)) != 0
}

// scanString returns the offset after the JSON string at src[i] ('"').
func scanString(src []byte, i int) (int, bool) {
	end, _, ok := scanStringEsc(src, i)
	return end, ok
}

// scanStringEsc also reports whether the string has escapes.
func scanStringEsc(src []byte, i int) (end int, esc, ok bool) {
	j := i + 1
	for {
		// eight bytes at a time while none is a quote, a backslash or a
		// control character
		for j+8 <= len(src) && !hasStop(binary.LittleEndian.Uint64(src[j:])) {
			j += 8
		}
		for j < len(src) && !strStop[src[j]] {
			j++
		}
		if j >= len(src) {
			return j, esc, false
		}
		switch src[j] {
		case '"':
			return j + 1, esc, true
		case '\\':
			esc = true
			j++
			if j >= len(src) {
				return j, esc, false
			}
			if src[j] == 'u' {
				if j+4 >= len(src) || !isHex(src[j+1]) || !isHex(src[j+2]) || !isHex(src[j+3]) || !isHex(src[j+4]) {
					return j, esc, false
				}
				j += 5
				continue
			}
			switch src[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j++
				continue
			}
			return j, esc, false
		default: // a control character
			return j, esc, false
		}
	}
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// scanScalar returns the offset after the string, number or literal at src[i].
func scanScalar(src []byte, i int) (int, bool) {
	switch c := src[i]; {
	case c == '"':
		return scanString(src, i)
	case c == 't':
		return i + 4, bytes.HasPrefix(src[i:], []byte("true"))
	case c == 'f':
		return i + 5, bytes.HasPrefix(src[i:], []byte("false"))
	case c == 'n':
		return i + 4, bytes.HasPrefix(src[i:], []byte("null"))
	case c == '-' || c >= '0' && c <= '9':
		j := i
		if src[j] == '-' {
			j++
		}
		digits := func() int {
			k := j
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			return j - k
		}
		if j < len(src) && src[j] == '0' {
			j++
		} else if digits() == 0 {
			return j, false
		}
		if j < len(src) && src[j] == '.' {
			j++
			if digits() == 0 {
				return j, false
			}
		}
		if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
			j++
			if j < len(src) && (src[j] == '+' || src[j] == '-') {
				j++
			}
			if digits() == 0 {
				return j, false
			}
		}
		return j, true
	}
	return i, false
}

// commit adds the dynamic fields of an accepted document to the mapping.
func (c *checker) commit() {
	for _, p := range c.pending {
		c.m.fields[p.path] = p.f
	}
	c.pending = c.pending[:0]
}

func (c *checker) col(v []byte) string {
	// v is a subslice of src: its offset is the difference of capacities
	return strconv.Itoa(cap(c.src) - cap(v) + 1)
}

func (c *checker) lookup(path []byte) (field, bool) {
	if f, ok := c.m.fields[string(path)]; ok {
		return f, true
	}
	for _, p := range c.pending {
		if p.path == string(path) {
			return p.f, true
		}
	}
	return field{}, false
}

// add maps a new field dynamically; skip reports that the mapping ignores
// unmapped fields (dynamic: false).
func (c *checker) add(path []byte, f field, v []byte) (skip bool, e *docError) {
	switch c.m.dynamic {
	case "false", "runtime":
		return true, nil
	case "strict":
		parent, leaf := "_doc", string(path)
		if i := bytes.LastIndexByte(path, '.'); i >= 0 {
			parent, leaf = string(path[:i]), string(path[i+1:])
		}
		return false, &docError{status: 400, typ: "strict_dynamic_mapping_exception",
			reason: "[1:" + c.col(v) + "] mapping set to strict, dynamic introduction of [" + leaf + "] within [" + parent + "] is not allowed"}
	}
	if drop, e := c.overLimit(); drop || e != nil {
		return drop, e
	}
	c.pending = append(c.pending, pendingField{string(path), f})
	return false, nil
}

// dynamicType is the type dynamic mapping gives a new scalar.
func (c *checker) dynamicType(v []byte) field {
	switch v[0] {
	case '"':
		if c.m.dateDetection && looksLikeDate(unquoteKey(v)) {
			return field{t: ftDate, es: "date"}
		}
		return field{t: ftText, es: "text", keywordSub: true}
	case 't', 'f':
		return field{t: ftBool, es: "boolean"}
	}
	if bytes.ContainsAny(v, ".eE") {
		return field{t: ftDouble, es: "float"}
	}
	return field{t: ftLong, es: "long"}
}

func (c *checker) concreteAsObject(path []byte, f field, v []byte) *docError {
	if f.t == ftObject {
		return &docError{status: 400, typ: "document_parsing_exception",
			reason: "[1:" + c.col(v) + "] object mapping for [" + string(path) + "] tried to parse field [" + string(path) + "] as object, but found a concrete value"}
	}
	return c.failParse(path, f, v, "Can't get text on a START_OBJECT")
}

func (c *checker) failParse(path []byte, f field, v []byte, cause string) *docError {
	if end, err := rawjson.SkipValue(v, 0); err == nil {
		v = v[:end]
	}
	preview := string(v)
	if v[0] == '"' {
		preview = string(unquoteKey(v))
	}
	return &docError{status: 400, typ: "document_parsing_exception",
		reason: "[1:" + c.col(v) + "] failed to parse field [" + string(path) + "] of type [" + f.es +
			"] in document with id '" + c.id + "'. Preview of field's value: '" + preview + "'",
		causedType: "illegal_argument_exception", causedReason: cause}
}

// scalar checks a scalar value against its mapped field.
func (c *checker) scalar(path []byte, f field, v []byte) *docError {
	if f.t == ftObject {
		return &docError{status: 400, typ: "document_parsing_exception",
			reason: "[1:" + c.col(v) + "] object mapping for [" + string(path) + "] tried to parse field [" + string(path) + "] as object, but found a concrete value"}
	}
	ok, cause := true, ""
	if f.t == ftText || f.t == ftAny {
		return nil // any scalar will do
	}
	isStr, isBool := v[0] == '"', v[0] == 't' || v[0] == 'f'
	var s []byte
	if isStr {
		s = unquoteKey(v)
	}
	switch f.t {
	case ftLong:
		switch {
		case isBool:
			ok, cause = false, "Current token ("+strings.ToUpper("value_"+string(v))+") not numeric, can not use numeric value accessors"
		case isStr:
			if _, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err != nil {
				ok, cause = false, "For input string: \""+string(s)+"\""
			}
		case !bytes.ContainsAny(v, ".eE"):
			if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
				ok, cause = false, "Value ["+string(v)+"] is out of range for a long"
			}
		}
	case ftDouble:
		switch {
		case isBool:
			ok, cause = false, "Current token ("+strings.ToUpper("value_"+string(v))+") not numeric, can not use numeric value accessors"
		case isStr:
			if _, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err != nil {
				ok, cause = false, "For input string: \""+string(s)+"\""
			}
		}
	case ftBool:
		switch {
		case isStr:
			if st := string(s); st != "true" && st != "false" && st != "" {
				ok, cause = false, "Failed to parse value ["+st+"] as only [true] or [false] are allowed."
			}
		case !isBool:
			ok, cause = false, "Failed to parse value ["+string(v)+"] as only [true] or [false] are allowed."
		}
	case ftDate:
		switch {
		case isBool:
			ok, cause = false, "failed to parse date field ["+string(v)+"] with format [strict_date_optional_time||epoch_millis]"
		case isStr:
			if !isDate(s) && !isEpoch(s) {
				ok, cause = false, "failed to parse date field ["+string(s)+"] with format [strict_date_optional_time||epoch_millis]"
			}
		}
	case ftIP:
		st := string(v)
		if isStr {
			st = string(s)
		}
		if _, err := netip.ParseAddr(st); err != nil {
			ok, cause = false, "'"+st+"' is not an IP string literal."
		}
	}
	if ok || f.ignoreMalformed {
		return nil
	}
	return c.failParse(path, f, v, cause)
}

// looksLikeDate is dynamic date detection: at least yyyy-MM-dd, then what
// strict_date_optional_time allows.
func looksLikeDate(s []byte) bool {
	return len(s) >= 10 && isDate(s)
}

// isDate reports whether s is a strict_date_optional_time value:
// yyyy[-MM[-dd['T'HH[:mm[:ss[.S+]]][Z|±HH:mm|±HHmm]]]].
func isDate(s []byte) bool {
	digits := func(b []byte, n int) bool {
		if len(b) < n {
			return false
		}
		for _, c := range b[:n] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	two := func(b []byte, lo, hi int) bool {
		if !digits(b, 2) {
			return false
		}
		v := int(b[0]-'0')*10 + int(b[1]-'0')
		return v >= lo && v <= hi
	}
	if !digits(s, 4) {
		return false
	}
	s = s[4:]
	if len(s) == 0 {
		return true
	}
	if s[0] != '-' || !two(s[1:], 1, 12) {
		return false
	}
	s = s[3:]
	if len(s) == 0 {
		return true
	}
	if s[0] != '-' || !two(s[1:], 1, 31) {
		return false
	}
	s = s[3:]
	if len(s) == 0 {
		return true
	}
	if s[0] != 'T' || !two(s[1:], 0, 23) {
		return false
	}
	s = s[3:]
	for _, sep := range []byte{':', ':'} {
		if len(s) == 0 || s[0] != sep {
			break
		}
		if !two(s[1:], 0, 59) {
			return false
		}
		s = s[3:]
	}
	if len(s) > 0 && (s[0] == '.' || s[0] == ',') {
		n := 1
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		s = s[n:]
	}
	switch {
	case len(s) == 0:
		return true
	case len(s) == 1 && s[0] == 'Z':
		return true
	case s[0] == '+' || s[0] == '-':
		z := s[1:]
		if !two(z, 0, 23) {
			return false
		}
		z = z[2:]
		if len(z) == 0 {
			return true
		}
		if z[0] == ':' {
			z = z[1:]
		}
		return len(z) == 2 && two(z, 0, 59)
	}
	return false
}

// isEpoch reports whether s is epoch_millis text.
func isEpoch(s []byte) bool {
	s = bytes.TrimPrefix(s, []byte("-"))
	if len(s) == 0 {
		return false
	}
	dot := false
	for _, c := range s {
		if c == '.' && !dot {
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// badFieldName says why Elasticsearch refuses a field name, or "".
func badFieldName(key []byte) string {
	if len(key) > 0 && key[0] != '.' && key[0] != ' ' && key[len(key)-1] != '.' && key[len(key)-1] != ' ' &&
		!bytes.Contains(key, []byte("..")) {
		return ""
	}
	switch {
	case len(bytes.TrimSpace(key)) == 0:
		return "field name cannot be an empty string"
	case len(bytes.Trim(key, ".")) == 0:
		return "field name cannot contain only dots"
	case bytes.Contains(key, []byte("..")) || key[0] == '.' || key[len(key)-1] == '.':
		return "field name [" + string(key) + "] cannot contain empty path segments"
	}
	return ""
}

// duplicate records key for the object whose keys start at c.keys[mark]
// and reports whether it was already there (Elasticsearch's JSON parser
// refuses duplicate keys).
func (c *checker) duplicate(mark int, key []byte) bool {
	for _, k := range c.keys[mark:] {
		if bytes.Equal(k, key) {
			return true
		}
	}
	c.keys = append(c.keys, key)
	return false
}
