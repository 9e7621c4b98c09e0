package pipeline

import (
	"fmt"
	"strconv"
	"time"
)

// APIWindow is how far back the SIEM API serves: a cursor older than this
// (by the API's clock) is silently restarted at the window's start.
const APIWindow = 24 * time.Hour

// GapType is the type of a gap record: the record a gap sends to every sink
// so the SIEM itself shows the hole.
const GapType = "sophos-connect:gap"

// Gap is a span of a partition's stream that can no longer be read: it fell
// out of the API's 24 h window before the collector got to it.
type Gap struct {
	Tenant     string    `json:"tenant"`
	TenantName string    `json:"tenant_name,omitempty"`
	Stream     Stream    `json:"stream"`
	From       time.Time `json:"from"` // what the last cursor had served up to
	To         time.Time `json:"to"`   // the API's horizon when it answered again
	Reason     string    `json:"reason"`
	FoundAt    time.Time `json:"found_at"` // the API's time of the answer that showed it
}

// Seconds is the gap's length.
func (g Gap) Seconds() float64 { return g.To.Sub(g.From).Seconds() }

// Key is the gap's partition key.
func (g Gap) Key() string { return g.Tenant + "/" + string(g.Stream) }

// ID is a stable id for the gap's record: a gap found twice (a crash before
// its page was committed) has the same id, so destinations keep one.
func (g Gap) ID() string {
	return "gap-" + g.Tenant + "-" + string(g.Stream) + "-" + strconv.FormatInt(g.From.Unix(), 10)
}

// GapRecorder keeps the gaps found (the state dir's list, `state gaps`).
type GapRecorder interface {
	RecordGap(g Gap) error
}

// APIClock is the API's clock as its answers tell it (their Date header and
// the times of what it serves). The 24 h horizon is judged by it, not by the
// host's clock, which may run fast or slow. A Source may implement it.
type APIClock interface {
	APINow() time.Time
}

// gapRecord is the record a gap sends through the pipeline. Its raw item
// has the shape encoders expect of an item (id, type, severity, name and
// description, created_at, when) plus the gap's own fields.
func gapRecord(g Gap) Record {
	const ms = "2006-01-02T15:04:05.000Z07:00"
	who := g.Tenant
	if g.TenantName != "" {
		who = g.TenantName + " (" + g.Tenant + ")"
	}
	msg := fmt.Sprintf("sophos-connect: %s of tenant %s from %s to %s could not be read and are lost: %s",
		g.Stream.Plural(), who, g.From.UTC().Format(time.RFC3339), g.To.UTC().Format(time.RFC3339), g.Reason)
	at := g.To.UTC().Format(ms)
	b := make([]byte, 0, 512)
	b = append(b, `{"id":`...)
	b = appendJSONString(b, g.ID())
	b = append(b, `,"type":"`+GapType+`","severity":"high","name":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, msg)
	b = append(b, `,"created_at":"`+at+`","when":"`+at+`","customer_id":`...)
	b = appendJSONString(b, g.Tenant)
	b = append(b, `,"location":"sophos-connect","source":"sophos-connect","group":"SOPHOS_CONNECT","tenant":`...)
	b = appendJSONString(b, g.Tenant)
	b = append(b, `,"tenant_name":`...)
	b = appendJSONString(b, g.TenantName)
	b = append(b, `,"stream":`...)
	b = appendJSONString(b, g.Stream.Plural())
	b = append(b, `,"from":"`+g.From.UTC().Format(ms)+`","to":"`+at+`","gap_seconds":`...)
	b = strconv.AppendInt(b, int64(g.Seconds()), 10)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, g.Reason)
	b = append(b, '}')
	rec, err := NewRecord(g.Stream, g.Tenant, b)
	if err != nil {
		panic("pipeline: gap record: " + err.Error()) // built above: always valid
	}
	return rec
}

// IsGap reports whether r is a gap record.
func (r *Record) IsGap() bool { return r.Type == GapType }
