// Package recordcodec is a compact binary form of pipeline.Record, used to
// keep records in the disk buffer (pipeline/diskq) without re-parsing JSON
// when they are read back.
//
// Format (version 1):
//
//	version  byte    = 1
//	count    uvarint = number of fields that follow
//	fields   count × (uvarint length, bytes)
//
// The fields, in this order: Stream, Tenant, ID, Type, Severity, Name, Group,
// When, CreatedAt, Host, User, EndpointID, EndpointType, Raw. Raw's length is
// stored plus one so that a nil Raw (0) and an empty one (1) stay distinct.
//
// The field count lets a later build append fields without a new version:
// a decoder skips fields it does not know and leaves fields the encoder did
// not know empty. A different version byte is an error (ErrVersion), never a
// guess.
package recordcodec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Version is the format version Append writes.
const Version = 1

// numFields is the number of fields version 1 writes (13 strings + Raw).
const numFields = 14

var (
	// ErrVersion reports data written in a format version this build does not read.
	ErrVersion = errors.New("recordcodec: unknown format version")
	// ErrCorrupt reports data that is not a well-formed encoded record.
	ErrCorrupt = errors.New("recordcodec: corrupt record")
)

// Append appends the encoding of r to dst and returns the extended slice.
func Append(dst []byte, r *pipeline.Record) []byte {
	dst = append(dst, Version, numFields)
	for _, s := range [...]string{
		string(r.Stream), r.Tenant, r.ID, r.Type, r.Severity, r.Name, r.Group,
		r.When, r.CreatedAt, r.Host, r.User, r.EndpointID, r.EndpointType,
	} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	if r.Raw == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Raw))+1)
	return append(dst, r.Raw...)
}

// Size is the exact length Append adds for r, for callers that size buffers.
func Size(r *pipeline.Record) int {
	n := 2
	for _, s := range [...]string{
		string(r.Stream), r.Tenant, r.ID, r.Type, r.Severity, r.Name, r.Group,
		r.When, r.CreatedAt, r.Host, r.User, r.EndpointID, r.EndpointType,
	} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	if r.Raw == nil {
		return n + 1
	}
	return n + uvarintLen(uint64(len(r.Raw))+1) + len(r.Raw)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// Decode parses one record encoded by Append. The result does not alias b:
// the string fields share one allocation and Raw is a copy.
func Decode(b []byte) (pipeline.Record, error) {
	var r pipeline.Record
	if len(b) == 0 {
		return r, fmt.Errorf("%w: empty input", ErrCorrupt)
	}
	if b[0] != Version {
		return r, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, b[0], Version)
	}
	count, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return r, fmt.Errorf("%w: bad field count", ErrCorrupt)
	}
	p := 1 + n

	// First pass: find every field's bounds without allocating.
	var spans [numFields][2]int
	rawNil := true
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return r, fmt.Errorf("%w: bad length of field %d", ErrCorrupt, i)
		}
		p += n
		if i == numFields-1 { // Raw: length+1, 0 = nil
			if l == 0 {
				spans[i] = [2]int{p, p}
				continue
			}
			rawNil = false
			l--
		}
		if l > uint64(len(b)-p) {
			return r, fmt.Errorf("%w: field %d runs past the end (%d bytes, %d left)", ErrCorrupt, i, l, len(b)-p)
		}
		if i < numFields {
			spans[i] = [2]int{p, p + int(l)}
		}
		p += int(l)
	}
	if p != len(b) {
		return r, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b)-p)
	}

	// One string for all string fields: they lie between the first and the
	// last string field's bounds.
	known := min(count, numFields-1)
	var all string
	var base int
	if known > 0 {
		base = spans[0][0]
		all = string(b[base:spans[known-1][1]])
	}
	f := func(i int) string {
		if uint64(i) >= known {
			return ""
		}
		return all[spans[i][0]-base : spans[i][1]-base]
	}
	r.Stream = pipeline.Stream(f(0))
	r.Tenant = f(1)
	r.ID = f(2)
	r.Type = f(3)
	r.Severity = f(4)
	r.Name = f(5)
	r.Group = f(6)
	r.When = f(7)
	r.CreatedAt = f(8)
	r.Host = f(9)
	r.User = f(10)
	r.EndpointID = f(11)
	r.EndpointType = f(12)
	if count >= numFields && !rawNil {
		s := spans[numFields-1]
		r.Raw = append(make([]byte, 0, s[1]-s[0]), b[s[0]:s[1]]...)
	}
	return r, nil
}
