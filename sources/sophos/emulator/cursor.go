package emulator

import (
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

const cursorPrefix = "V2_CURSOR|"

// encodeCursor renders a position as URL-safe base64 of
// "V2_CURSOR|<created_at>|<id>" (or "V2_CURSOR|<created_at>" for a pure time
// watermark), so raw and URL-encoded forms decode the same.
func encodeCursor(p pos) string {
	b := make([]byte, 0, 64)
	b = append(b, cursorPrefix...)
	b = appendISO(b, p.ms)
	if p.hi != maxU64 || p.lo != maxU64 {
		b = append(b, '|')
		b = appendUUID(b, p.hi, p.lo)
	}
	return base64.URLEncoding.EncodeToString(b)
}

var errCursor = errors.New("invalid cursor")

// decodeCursor accepts URL-safe or standard base64, padded or not (a '+'
// that arrived as a space is restored), with or without the id part.
func decodeCursor(s string) (pos, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, " ", "+"))
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return pos{}, errCursor
	}
	str := string(raw)
	if !strings.HasPrefix(str, cursorPrefix) {
		return pos{}, errCursor
	}
	ts, id, _ := strings.Cut(str[len(cursorPrefix):], "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return pos{}, errCursor
	}
	p := pos{ms: t.UnixMilli(), hi: maxU64, lo: maxU64}
	if id != "" {
		hi, lo, ok := parseUUID(id)
		if !ok {
			return pos{}, errCursor
		}
		p.hi, p.lo = hi, lo
	}
	return p, nil
}
