// Package pipeline moves Sophos records from sources through ordered
// transform stages to every sink, and commits a source's cursor only after
// every sink has delivered (or durably buffered, or dead-lettered) every
// record of the page that cursor ends.
package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// Stream names the Sophos SIEM stream a record came from. Its value is the
// official script's "datastream" value.
type Stream string

const (
	// Alerts is the SIEM alerts stream (/siem/v1/alerts).
	Alerts Stream = "alert"
	// Events is the SIEM events stream (/siem/v1/events).
	Events Stream = "event"
)

// ParseStream accepts "alert", "alerts", "event" or "events" (any case).
func ParseStream(s string) (Stream, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "alert", "alerts":
		return Alerts, nil
	case "event", "events":
		return Events, nil
	}
	return "", fmt.Errorf("unknown stream %q (want alerts or events)", s)
}

// Plural is the stream's name in config and URLs: "alerts" or "events".
func (s Stream) Plural() string { return string(s) + "s" }

// Record is one Sophos alert or event, normalized once at the source. The
// typed fields are read from Raw when the page is decoded; Raw stays the item
// exactly as the API sent it (transform stages may rewrite it), so encoders
// never need to guess what Sophos said.
type Record struct {
	Stream Stream
	Tenant string // tenant id the item was pulled for (X-Tenant-ID)

	ID       string // item id: stable, the dedupe and idempotency key
	Type     string // e.g. Event::Endpoint::Threat::Detected
	Severity string // low | medium | high (as sent)
	Name     string // events: name; alerts: description
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
}

// WhenTime parses When (falling back to CreatedAt); zero when neither parses.
func (r *Record) WhenTime() time.Time {
	if t, err := time.Parse(time.RFC3339Nano, r.When); err == nil {
		return t
	}
	t, _ := time.Parse(time.RFC3339Nano, r.CreatedAt)
	return t
}

// CreatedTime parses CreatedAt; zero when it does not parse.
func (r *Record) CreatedTime() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.CreatedAt)
	return t
}

// NewRecord normalizes one raw API item. raw must be a JSON object; it is
// kept, not copied.
func NewRecord(stream Stream, tenant string, raw []byte) (Record, error) {
	r := Record{Stream: stream, Tenant: tenant, Raw: raw}
	var data []byte
	err := rawjson.EachMember(raw, func(key, value []byte) bool {
		k := key[1 : len(key)-1]
		switch string(k) {
		case "id":
			r.ID = rawjson.StringView(value)
		case "type":
			r.Type = rawjson.StringView(value)
		case "severity":
			r.Severity = rawjson.StringView(value)
		case "name":
			if stream == Events {
				r.Name = rawjson.StringView(value)
			}
		case "description":
			if stream == Alerts {
				r.Name = rawjson.StringView(value)
			}
		case "group":
			r.Group = rawjson.StringView(value)
		case "when":
			r.When = rawjson.StringView(value)
		case "created_at":
			r.CreatedAt = rawjson.StringView(value)
		case "location":
			r.Host = rawjson.StringView(value)
		case "source":
			r.User = rawjson.StringView(value)
		case "endpoint_id":
			r.EndpointID = rawjson.StringView(value)
		case "endpoint_type":
			r.EndpointType = rawjson.StringView(value)
		case "data":
			data = value
		}
		return true
	})
	if err != nil {
		return r, fmt.Errorf("item is not a JSON object: %w", err)
	}
	if data != nil && (r.EndpointID == "" || r.EndpointType == "") && len(data) > 0 && data[0] == '{' {
		if r.EndpointID == "" {
			r.EndpointID = rawjson.StringView(rawjson.Get(data, "endpoint_id"))
		}
		if r.EndpointType == "" {
			r.EndpointType = rawjson.StringView(rawjson.Get(data, "endpoint_type"))
		}
	}
	if r.ID == "" {
		return r, fmt.Errorf("item has no id")
	}
	return r, nil
}
