package encoding

import (
	"math"
	"strconv"
	"unsafe"
)

// appendPyNumber appends a JSON number as Python prints the value json.loads
// made of it. An integer (no fraction, no exponent) is a Python int and
// prints as written ("-0" becomes 0); anything else is a float and prints
// as float.__repr__ (2.50 → 2.5, 1e3 → 1000.0, 1e16 → 1e+16). A float too
// large for a double is inf: repr prints inf; for JSON output the number is
// kept as written (Python's json.dumps would write Infinity, invalid JSON).
func appendPyNumber(dst, num []byte, jsonOut bool) []byte {
	isFloat := false
	for _, c := range num {
		if c == '.' || c == 'e' || c == 'E' {
			isFloat = true
			break
		}
	}
	if !isFloat {
		if len(num) == 2 && num[0] == '-' && num[1] == '0' {
			return append(dst, '0')
		}
		return append(dst, num...)
	}
	// unsafe.String avoids a copy: the error (which would keep the text) is
	// not retained.
	f, err := strconv.ParseFloat(unsafe.String(&num[0], len(num)), 64)
	if err != nil && !math.IsInf(f, 0) {
		// Not reachable for validated JSON; keep the text rather than lose it.
		return append(dst, num...)
	}
	if jsonOut && math.IsInf(f, 0) {
		// Python writes Infinity, which no JSON reader accepts; keep the
		// number as the API wrote it so the line stays valid JSON.
		return append(dst, num...)
	}
	return appendPyFloat(dst, f, jsonOut)
}

// appendPyFloat appends float.__repr__(f): the shortest digits that read
// back as f, in fixed notation with at least one fractional digit when the
// decimal exponent is in [-4, 16), otherwise as d.ddde±XX.
func appendPyFloat(dst []byte, f float64, jsonOut bool) []byte {
	switch {
	case math.IsInf(f, 1):
		if jsonOut {
			return append(dst, "Infinity"...)
		}
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		if jsonOut {
			return append(dst, "-Infinity"...)
		}
		return append(dst, "-inf"...)
	case math.IsNaN(f):
		if jsonOut {
			return append(dst, "NaN"...)
		}
		return append(dst, "nan"...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	exp := 0
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] == 'e' {
			neg := e[i+1] == '-'
			for _, c := range e[i+2:] {
				exp = exp*10 + int(c-'0')
			}
			if neg {
				exp = -exp
			}
			break
		}
	}
	if exp < -4 || exp >= 16 {
		return append(dst, e...) // Go also writes at least two exponent digits
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'f', -1, 64)
	for _, c := range dst[start:] {
		if c == '.' {
			return dst
		}
	}
	return append(dst, '.', '0')
}
