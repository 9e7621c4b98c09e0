package seed

import (
	"strconv"
	"strings"
	"sync"

	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// logSecrets are removed from every log line in all their forms (as is,
// URL-encoded, JSON-escaped), whatever component wrote the line.
var logSecrets struct {
	mu   sync.RWMutex
	list []string
}

// RedactInLogs sets the secret to remove (the client secret of the config
// just read; a reload replaces it).
func RedactInLogs(secret string) {
	logSecrets.mu.Lock()
	defer logSecrets.mu.Unlock()
	logSecrets.list = logSecrets.list[:0]
	if len(secret) >= 4 {
		logSecrets.list = append(logSecrets.list, secret)
	}
}

func redactLine(s string) string {
	logSecrets.mu.RLock()
	defer logSecrets.mu.RUnlock()
	if len(logSecrets.list) == 0 {
		return s
	}
	return sophos.Redact(s, logSecrets.list...)
}

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
