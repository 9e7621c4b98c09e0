package pipeline

import (
	"context"
	"time"
)

// Partition is one tenant × stream: the unit that owns a cursor.
type Partition struct {
	Tenant     string // tenant id
	TenantName string // display name, for logs; may be empty
	Stream     Stream
}

// Key is the partition's checkpoint key, "<tenant>/<stream>".
func (p Partition) Key() string { return p.Tenant + "/" + string(p.Stream) }

// TenantLabel names the tenant for logs: "Name (id)" or the id.
func (p Partition) TenantLabel() string {
	if p.TenantName != "" {
		return p.TenantName + " (" + p.Tenant + ")"
	}
	return p.Tenant
}

func (p Partition) String() string {
	if p.TenantName != "" {
		return p.TenantName + " (" + p.Tenant + ") " + p.Stream.Plural()
	}
	return p.Tenant + " " + p.Stream.Plural()
}

// Position says where a fetch starts: after Cursor when it is set, else at
// Since (clamped by the source into the API's 24 h window).
type Position struct {
	Cursor string
	Since  time.Time
	// ServedUntil is, by the API's clock, what the page that handed out
	// Cursor had served up to: the 24 h horizon is measured from it.
	ServedUntil time.Time
}

// Page is one API response: the unit of work and of acknowledgement.
type Page struct {
	Partition Partition
	Records   []Record
	Cursor    string // next_cursor: where the next fetch starts
	HasMore   bool   // more items are ready now: fetch again at once
	Bytes     int    // size of the response body, for metrics
	// APITime is the API's time of its answer (its Date header); the
	// runner sets its API clock's time when the source leaves it zero.
	APITime time.Time
	// ServedUntil is what the answer covers: items created before it were
	// served (APITime less from_date_offset_minutes); default APITime.
	ServedUntil time.Time
	// Rejected are items the source could not turn into records (not an
	// object, no id, a broken key): they are dead-lettered with their
	// reason and raw bytes, and the rest of the page goes on.
	Rejected []Rejected
}

// Rejected is one malformed API item.
type Rejected struct {
	ID     string // may be empty
	Raw    []byte // the item as received
	Reason string
}

// Unpullable is optionally implemented by a Source that had to leave out
// some of what it should pull (a tenant refused for an untrusted host):
// each entry counts as a failed partition of the pass.
type Unpullable interface {
	Unpullable() []string
}

// Source pulls pages from Sophos Central (or the emulator).
type Source interface {
	// Partitions lists the tenant × stream pairs to pull.
	Partitions(ctx context.Context) ([]Partition, error)
	// Fetch pulls the page at pos for p.
	Fetch(ctx context.Context, p Partition, pos Position) (*Page, error)
}
