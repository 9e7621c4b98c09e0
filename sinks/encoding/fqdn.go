package encoding

import (
	"unicode/utf8"
)

// The official script's dhost cleanup (reference §10.3), in Python:
//
//	def is_valid_fqdn(fqdn):
//	    fqdn = fqdn.strip()
//	    fqdn = fqdn[:-1] if fqdn.endswith(".") else fqdn
//	    return fqdn and len(fqdn) < 256 and all(part and len(part) < 64 and
//	        re.match(r"^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$", part) for part in fqdn.split("."))
//
//	def convert_to_valid_fqdn(value):
//	    return ".".join([re.sub("[^-a-z0-9]+", "-", x.strip()).strip("-")
//	                     for x in value.lower().split(".") if x.strip()])
//
// Lengths count characters, not bytes; strip() removes Python whitespace.

// trimPySpace trims Python whitespace from both ends of UTF-8 text.
func trimPySpace(s []byte) []byte {
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if !pyIsSpace(r) {
			break
		}
		s = s[n:]
	}
	for len(s) > 0 {
		r, n := utf8.DecodeLastRune(s)
		if !pyIsSpace(r) {
			break
		}
		s = s[:len(s)-n]
	}
	return s
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validLabel is re.match(r"^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$", part). Python's
// $ also matches before a final newline, so "abc\n" passes.
func validLabel(p []byte) bool {
	if n := len(p); n > 0 && p[n-1] == '\n' {
		p = p[:n-1]
	}
	if len(p) == 0 || !isAlnum(p[0]) || !isAlnum(p[len(p)-1]) {
		return false
	}
	for i, c := range p {
		if c == '-' {
			if p[i-1] == '-' {
				return false
			}
		} else if !isAlnum(c) {
			return false
		}
	}
	return true
}

// validFQDN is is_valid_fqdn for UTF-8 text.
func validFQDN(s []byte) bool {
	s = trimPySpace(s)
	if n := len(s); n > 0 && s[n-1] == '.' {
		s = s[:n-1]
	}
	if len(s) == 0 || utf8.RuneCount(s) >= 256 {
		return false
	}
	for {
		part := s
		rest := []byte(nil)
		last := true
		for i, c := range s {
			if c == '.' {
				part, rest, last = s[:i], s[i+1:], false
				break
			}
		}
		// A valid label is ASCII, so byte length is character length.
		if len(part) == 0 || len(part) >= 64 || !validLabel(part) {
			return false
		}
		if last {
			return true
		}
		s = rest
	}
}

// appendConvertFQDN appends convert_to_valid_fqdn(s) for UTF-8 text s.
// Lower-casing: only A–Z, U+212A (Kelvin sign → k) and U+0130 (İ → i plus
// U+0307) lower-case to something in [-a-z0-9.]; every other non-ASCII
// character stays outside that set, so it becomes part of a "-" run.
func appendConvertFQDN(dst, s []byte) []byte {
	first := true
	for len(s) > 0 || first {
		label := s
		rest := []byte(nil)
		for i, c := range s {
			if c == '.' {
				label, rest = s[:i], s[i+1:]
				break
			}
		}
		last := rest == nil
		s = rest
		if label = trimPySpace(label); len(label) > 0 {
			if !first {
				dst = append(dst, '.')
			}
			first = false
			dst = appendLabel(dst, label)
		}
		if last {
			break
		}
	}
	return dst
}

// appendLabel writes re.sub("[^-a-z0-9]+", "-", lower(label)).strip("-").
func appendLabel(dst, label []byte) []byte {
	start := len(dst)
	inRun := false
	for i := 0; i < len(label); {
		r, n := utf8.DecodeRune(label[i:])
		i += n
		switch {
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r == 0x212A:
			r = 'k'
		}
		if r == 0x130 { // "i̇": an i, then a combining dot outside the set
			dst = append(dst, 'i')
			inRun = false
			r = 0x307
		}
		if r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			dst = append(dst, byte(r))
			inRun = false
			continue
		}
		if !inRun {
			dst = append(dst, '-')
			inRun = true
		}
	}
	// strip("-") on both ends.
	out := dst[start:]
	lo, hi := 0, len(out)
	for lo < hi && out[lo] == '-' {
		lo++
	}
	for hi > lo && out[hi-1] == '-' {
		hi--
	}
	n := copy(dst[start:], out[lo:hi])
	return dst[:start+n]
}
