package seed

import (
	"strconv"
	"strings"

	"github.com/sophos-connect/sophos-connect/internal/redact"
)

// RedactInLogs registers the config's client secret (a reload adds the
// new one; the old stays redacted too).
func RedactInLogs(secret string) { redact.Add(secret) }

// redactLine removes every registered secret, in every form, from a line.
func redactLine(s string) string { return redact.String(s) }

// escapeControls makes text from outside (API values, error bodies) safe
// for a log line: CR, LF and the other C0 controls, DEL and C1 controls are
// written as \r, \n, \x1b, … so nothing can forge a line or drive a
// terminal (ESC sequences, BEL). Tabs stay.
func escapeControls(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f || c == 0xc2 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteByte('\t')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			b.WriteString(`\x`)
			if r < 0x10 {
				b.WriteByte('0')
			}
			b.WriteString(strconv.FormatInt(int64(r), 16))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
