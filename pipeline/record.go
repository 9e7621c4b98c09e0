// Package pipeline moves Sophos records from sources through ordered
// transform stages to every sink, and commits a source's cursor only after
// every sink has delivered (or durably buffered, or dead-lettered) every
// record of the page that cursor ends.
package pipeline

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// Stream names the Sophos stream a record came from. Its value is the
// official script's "datastream" value for the SIEM streams (alert, event)
// and, in the same form, detection and case for the XDR/MDR findings.
type Stream string

const (
	// Alerts is the SIEM alerts stream (/siem/v1/alerts).
	Alerts Stream = "alert"
	// Events is the SIEM events stream (/siem/v1/events).
	Events Stream = "event"
	// Detections is the XDR detections stream (the asynchronous
	// /detections/v1/queries/detections query).
	Detections Stream = "detection"
	// Cases is the XDR/MDR cases stream (/cases/v1/cases).
	Cases Stream = "case"
)

// AllStreams lists every stream in its canonical order.
var AllStreams = []Stream{Alerts, Events, Detections, Cases}

// StreamNames is the list of accepted stream names, for messages.
const StreamNames = "alerts, events, detections or cases"

// ParseStream accepts a stream's singular or plural name (any case):
// alert(s), event(s), detection(s), case(s).
func ParseStream(s string) (Stream, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "alert", "alerts":
		return Alerts, nil
	case "event", "events":
		return Events, nil
	case "detection", "detections":
		return Detections, nil
	case "case", "cases":
		return Cases, nil
	}
	return "", fmt.Errorf("unknown stream %q (want %s)", s, StreamNames)
}

// Plural is the stream's name in config and URLs: "alerts", "events",
// "detections" or "cases".
func (s Stream) Plural() string { return string(s) + "s" }

// SIEM reports whether the stream is one of the SIEM v1 streams, whose
// cursors Sophos keeps for 24 h only. Detections and cases carry their own
// windows in their cursors and are not bound by that window.
func (s Stream) SIEM() bool { return s == Alerts || s == Events }

// Record is one Sophos alert, event, detection or case, normalized once at
// the source (xdr.go maps the detection and case keys). The
// typed fields are read from Raw when the page is decoded; Raw stays the item
// exactly as the API sent it (transform stages may rewrite it), so encoders
// never need to guess what Sophos said.
type Record struct {
	Stream Stream
	Tenant string // tenant id the item was pulled for (X-Tenant-ID)

	ID       string // item id: stable, the dedupe and idempotency key
	Type     string // e.g. Event::Endpoint::Threat::Detected
	Severity string // low | medium | high (as sent); detections and cases: informational | low | medium | high | critical, "" when absent
	Name     string // events: name; alerts: description; detections: detectionRule; cases: name
	Group    string // events only, e.g. MALWARE

	When      string // device time, ISO-8601 as sent
	CreatedAt string // Central time, ISO-8601 as sent

	Host         string // location (device hostname)
	User         string // source (DOMAIN\user, a display name or n/a)
	EndpointID   string // endpoint_id (events) or data.endpoint_id (alerts)
	EndpointType string // endpoint_type or data.endpoint_type

	// Raw is the API item as a JSON object, keys in the API's order. It is
	// never modified in place (a stage that edits it makes a new slice): the
	// typed fields above may share its memory.
	Raw []byte
	// RawChecked says Raw is known to be exactly one valid JSON object
	// (DecodeRecord checked it), so encoders need not check it again. A
	// stage that rewrites Raw must write valid JSON or clear the flag.
	RawChecked bool

	// delivered is set (atomically, by any sink) once a sink delivered or
	// durably buffered the record: auto-acknowledge acts only on those.
	// Bit 63 means "some sink"; bit i < 63 names the pipeline's sink i (the
	// delivery ledger counts per sink).
	delivered uint64
}

const anySinkBit = uint64(1) << 63

// MarkDelivered records that a sink delivered (or durably buffered) r.
func (r *Record) MarkDelivered() { atomic.OrUint64(&r.delivered, anySinkBit) }

// MarkDeliveredBy records that the pipeline's sink number i delivered (or
// durably buffered) r.
func (r *Record) MarkDeliveredBy(i int) {
	bit := anySinkBit
	if i >= 0 && i < 63 {
		bit |= 1 << uint(i)
	}
	atomic.OrUint64(&r.delivered, bit)
}

// WasDelivered reports whether at least one sink delivered or durably
// buffered r (not dead-lettered, not routed nowhere).
func (r *Record) WasDelivered() bool { return atomic.LoadUint64(&r.delivered)&anySinkBit != 0 }

// DeliveredBy reports whether the pipeline's sink number i delivered (or
// durably buffered) r; false for i ≥ 63.
func (r *Record) DeliveredBy(i int) bool {
	return i >= 0 && i < 63 && atomic.LoadUint64(&r.delivered)&(1<<uint(i)) != 0
}

// WhenTime parses When (falling back to CreatedAt); zero when neither parses.
func (r *Record) WhenTime() time.Time {
	if t, err := parseTime(r.When); err == nil {
		return t
	}
	t, _ := parseTime(r.CreatedAt)
	return t
}

// CreatedTime parses CreatedAt; zero when it does not parse.
func (r *Record) CreatedTime() time.Time {
	t, _ := parseTime(r.CreatedAt)
	return t
}

// parseTime is time.Parse(time.RFC3339Nano, s), reading the form Sophos
// sends, 2024-05-14T08:02:11.482Z, without the layout interpreter (which
// was a tenth of the sentinel rows' CPU and is called per record by the
// ledger and most sinks); anything else, or a date that does not exist,
// goes to time.Parse. The result is the same Time (TestParseTimeMatchesTime).
func parseTime(s string) (time.Time, error) {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return time.Parse(time.RFC3339Nano, s)
	}
	digits := true
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			digits = digits && c >= '0' && c <= '9'
			v = v*10 + int(c) - '0'
		}
		return v
	}
	y, mo, d, hh, mi, sec, ms := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2), num(20, 3)
	if !digits || mo < 1 || mo > 12 || d < 1 || d > 31 || hh > 23 || mi > 59 || sec > 59 {
		return time.Parse(time.RFC3339Nano, s)
	}
	t := time.Date(y, time.Month(mo), d, hh, mi, sec, ms*1e6, time.UTC)
	if t.Day() != d { // the 31st of a 30-day month, the 29th of February in a common year
		return time.Parse(time.RFC3339Nano, s)
	}
	return t, nil
}

// NewRecord normalizes one raw API item. raw must be a JSON object; it is
// kept, not copied.
func NewRecord(stream Stream, tenant string, raw []byte) (Record, error) {
	r, end, err := DecodeRecord(stream, tenant, raw, 0)
	if err != nil {
		return r, err
	}
	if rawjson.SkipSpace(raw, end) != len(raw) {
		return r, fmt.Errorf("item is not a JSON object: data after it at offset %d", end)
	}
	return r, nil
}

// DecodeRecord normalizes the JSON object that starts at data[start] in one
// pass — validating it and reading the typed fields — and returns the offset
// just after it. The record's Raw is data[start:end] (not copied). A syntax
// error wraps rawjson.ErrSyntax; a valid object without an id is an error
// that does not. Duplicate keys keep the last value, as in encoding/json.
func DecodeRecord(stream Stream, tenant string, data []byte, start int) (Record, int, error) {
	r := Record{Stream: stream, Tenant: tenant}
	i := rawjson.SkipSpace(data, start)
	objStart := i
	if i >= len(data) || data[i] != '{' {
		return r, i, fmt.Errorf("item is not a JSON object: %w", rawjson.ErrSyntax)
	}
	var dataObj []byte
	badKey := false // a top-level key that is not valid UTF-8
	var all byte    // every string's flags ORed: without NonASCII the item is ASCII
	i = rawjson.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return r, i, fmt.Errorf("item: expected a key at offset %d: %w", i, rawjson.ErrSyntax)
			}
			ke, kf, ok := rawjson.ScanStringFlags(data, i)
			if !ok {
				_, _, err := rawjson.ScanString(data, i) // the reason, with its offset
				return r, i, fmt.Errorf("item: %w", err)
			}
			key := data[i+1 : ke-1]
			if kf&rawjson.NonASCII != 0 && !badKey && !utf8.Valid(key) {
				badKey = true
			}
			i = rawjson.SkipSpace(data, ke)
			if i >= len(data) || data[i] != ':' {
				return r, i, fmt.Errorf("item: expected ':' at offset %d: %w", i, rawjson.ErrSyntax)
			}
			vs := rawjson.SkipSpace(data, i+1)
			var ve int
			var vf byte
			var err error
			if vs < len(data) && data[vs] == '"' {
				if ve, vf, ok = rawjson.ScanStringFlags(data, vs); !ok {
					ve, _, err = rawjson.ScanString(data, vs)
				}
			} else {
				ve, vf, err = rawjson.SkipValueFlags(data, vs)
			}
			if err != nil {
				return r, ve, fmt.Errorf("item: %w", err)
			}
			all |= kf | vf
			r.setField(key, kf, data[vs:ve], vf, &dataObj)
			i = rawjson.SkipSpace(data, ve)
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			if i >= len(data) || data[i] != ',' {
				return r, i, fmt.Errorf("item: expected ',' or '}' at offset %d: %w", i, rawjson.ErrSyntax)
			}
			i = rawjson.SkipSpace(data, i+1)
		}
	}
	r.Raw = data[objStart:i]
	r.RawChecked = true
	if all&rawjson.NonASCII != 0 && !utf8.Valid(r.Raw) {
		// Invalid UTF-8 never reaches a sink raw: each bad byte becomes
		// U+FFFD, as encoding/json does, and the fields are read again.
		clean, _, err := DecodeRecord(stream, tenant, ValidUTF8(r.Raw), 0)
		if err == nil && badKey {
			// A repaired key would be a different field: the item is
			// refused (dead-lettered with its bytes), not guessed at.
			err = fmt.Errorf("item %s has a key that is not valid UTF-8", clean.ID)
		}
		return clean, i, err
	}
	if !stream.SIEM() {
		r.normalizeXDR()
	} else if len(dataObj) > 0 && dataObj[0] == '{' && (r.EndpointID == "" || r.EndpointType == "") {
		if r.EndpointID == "" {
			r.EndpointID = rawjson.StringView(rawjson.Get(dataObj, "endpoint_id"))
		}
		if r.EndpointType == "" {
			r.EndpointType = rawjson.StringView(rawjson.Get(dataObj, "endpoint_type"))
		}
	}
	if r.ID == "" {
		return r, i, fmt.Errorf("item has no id")
	}
	return r, i, nil
}

// ValidUTF8 returns b with every byte that is not part of valid UTF-8
// replaced by U+FFFD (encoding/json's rule: one replacement per bad byte).
func ValidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// setField stores a top-level member the record keeps typed. key is the raw
// key text between the quotes (keys with escapes are compared unquoted);
// keyFlags and flags are the key's and the value's string flags
// (rawjson.ScanStringFlags).
func (r *Record) setField(key []byte, keyFlags byte, value []byte, flags byte, dataObj *[]byte) {
	name := string(key) // no allocation: used only in the switch
	if keyFlags&rawjson.Escaped != 0 {
		k, err := rawjson.Unquote(nil, append(append([]byte{'"'}, key...), '"'))
		if err != nil {
			return
		}
		name = string(k)
	}
	plain := flags&rawjson.Escaped == 0
	switch name {
	case "id":
		r.ID = text(value, plain)
	case "type":
		r.Type = text(value, plain)
	case "severity":
		r.Severity = text(value, plain)
	case "name":
		if r.Stream == Events {
			r.Name = text(value, plain)
		}
	case "description":
		if r.Stream == Alerts {
			r.Name = text(value, plain)
		}
	case "group":
		r.Group = text(value, plain)
	case "when":
		r.When = text(value, plain)
	case "created_at":
		r.CreatedAt = text(value, plain)
	case "location":
		r.Host = text(value, plain)
	case "source":
		r.User = text(value, plain)
	case "endpoint_id":
		r.EndpointID = text(value, plain)
	case "endpoint_type":
		r.EndpointType = text(value, plain)
	case "data":
		*dataObj = value
	}
}

// text is a string value's text: a view of the page body when it has no
// escapes. A view of a string with invalid UTF-8 is never kept: such an
// item is decoded again from its repaired copy.
func text(value []byte, plain bool) string {
	if len(value) == 0 || value[0] != '"' {
		return ""
	}
	if plain {
		return rawjson.PlainView(value)
	}
	return rawjson.String(value)
}
