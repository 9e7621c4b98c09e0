package emulator

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string (quotes included). UTF-8 passes
// through; quotes, backslashes and control characters are escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped appends the JSON-escaped body of s without quotes.
func appendEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	return append(dst, s[start:]...)
}

// esc returns the JSON-escaped body of s; tables are escaped once at init so
// the hot path only copies bytes.
func esc(s string) string {
	if !utf8.ValidString(s) {
		panic("emulator: invalid UTF-8 in table: " + s)
	}
	return string(appendEscaped(nil, s))
}

// appendUUID appends the canonical 8-4-4-4-12 lower-case form.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	var b [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		var v byte
		if i < 8 {
			v = byte(hi >> (56 - 8*i))
		} else {
			v = byte(lo >> (56 - 8*(i-8)))
		}
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j] = hexDigits[v>>4]
		b[j+1] = hexDigits[v&0xF]
		j += 2
	}
	return append(dst, b[:]...)
}

// uuidString formats a UUID.
func uuidString(hi, lo uint64) string { return string(appendUUID(nil, hi, lo)) }

// parseUUID parses the canonical form (any case).
func parseUUID(s string) (hi, lo uint64, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return 0, 0, false
	}
	n := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, 0, false
		}
		if n < 16 {
			hi = hi<<4 | uint64(v)
		} else {
			lo = lo<<4 | uint64(v)
		}
		n++
	}
	return hi, lo, true
}

// appendHex appends n lower-case hex digits of v (from the low end).
func appendHex(dst []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(4*uint(i%16)))&0xF])
	}
	return dst
}

// appendHexKey appends n hex digits drawn from a key (n may exceed 16).
func appendHexKey(dst []byte, key uint64, n int) []byte {
	for n > 0 {
		k := min(n, 16)
		dst = appendHex(dst, key, k)
		key = mix64(key)
		n -= k
	}
	return dst
}

// appendISO appends a UTC time with milliseconds and a Z: 2024-05-14T09:11:52.617Z.
func appendISO(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	m := ms % 1000
	if m < 0 {
		m += 1000
	}
	dst = append(dst,
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+int(mo)/10), byte('0'+int(mo)%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+h/10), byte('0'+h%10), ':',
		byte('0'+mi/10), byte('0'+mi%10), ':',
		byte('0'+s/10), byte('0'+s%10), '.',
		byte('0'+m/100), byte('0'+m/10%10), byte('0'+m%10), 'Z')
	return dst
}

func isoString(ms int64) string { return string(appendISO(nil, ms)) }

// appendInt appends a decimal integer.
func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// appendIntString appends a decimal integer as a JSON string ("445").
func appendIntString(dst []byte, v int64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, v, 10)
	return append(dst, '"')
}

// appendB64UUID appends the BSON-binary form of a UUID's 16 bytes, base64.
func appendB64UUID(dst []byte, hi, lo uint64) []byte {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return base64.StdEncoding.AppendEncode(dst, b[:])
}

// appendIP appends a dotted IPv4 address.
func appendIP(dst []byte, a, b, c, d int) []byte {
	dst = strconv.AppendInt(dst, int64(a), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(b), 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, int64(c), 10)
	dst = append(dst, '.')
	return strconv.AppendInt(dst, int64(d), 10)
}
