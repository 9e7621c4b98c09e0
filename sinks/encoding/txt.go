package encoding

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// txtEncoder writes the seed's ("Sophos API Connect") bracketed txt line,
// reference §11.2:
//
//	events: [Timestamp: <created_at>] [EventID: <id>] [Severity: <severity>] [Name: <name>] [IP: ][EventType: <type>] [SourceInfo: <str(source_info)>] [Location: <location>] [Group: <group>] [CustomerID: <customer_id>]
//	alerts: [Reporter: Sophos Central] [Timestamp: <created_at>] [AlertID: <id>] [Severity: <severity>] [IP: ][Description: <type> <description>] [AlertType: <type>] [Data: <str(data)>] [Location: <location>]
//
// Values are inserted raw (the seed concatenates strings), SourceInfo and
// Data as Python's str() of the dict, i.e. its repr.
//
// Missing fields: the seed reads every field with item['key'] and joins the
// plain ones with +, so a missing key (KeyError) or a null or non-string
// plain field (TypeError) makes it crash instead of writing a line. We
// write the line anyway: a missing or null plain field prints empty, a
// non-string one prints as Python's str() (42, True); SourceInfo and Data
// print empty when missing and None when null (str(None)).
//
// A raw CR or LF is written as the two characters \r or \n (the seed wrote
// them raw, so an API value could split a record or forge a line): that
// happens only in plain values and in a SourceInfo/Data that is a string,
// since Python's repr of a dict escapes them already. Other characters
// follow the seed's rules unchanged.
type txtEncoder struct {
	t      tape
	p      py
	strict bool
	f      txtFields
	buf    []byte
}

// txtFields holds the nodes of the values the line needs (0 when absent).
type txtFields struct {
	createdAt, id, severity, name, typ, sourceInfo, location, group, customerID, description, data int32
}

func (e *txtEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		return appendXDRTxt(dst, r)
	}
	t := &e.t
	if !t.parseItem(r.Raw) {
		return dst, fmt.Errorf("txt: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.p.t = t
	e.f = txtFields{}
	f := &e.f
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		// Python's dict keeps the last value of a repeated key; a key is
		// compared by its decoded text (rawjson.KeyEquals).
		name := t.keyName(k)
		if t.nodes[k].flags&strEsc != 0 {
			e.buf, _ = rawjson.Unquote(e.buf[:0], t.text(k))
			name = unsafe.String(unsafe.SliceData(e.buf), len(e.buf))
		}
		v := k + 1
		switch name {
		case "created_at":
			f.createdAt = v
		case "id":
			f.id = v
		case "severity":
			f.severity = v
		case "name":
			f.name = v
		case "type":
			f.typ = v
		case "source_info":
			f.sourceInfo = v
		case "location":
			f.location = v
		case "group":
			f.group = v
		case "customer_id":
			f.customerID = v
		case "description":
			f.description = v
		case "data":
			f.data = v
		}
	}
	if r.Stream == pipeline.Alerts {
		dst = append(dst, "[Reporter: Sophos Central] [Timestamp: "...)
		dst = e.plain(dst, f.createdAt)
		dst = append(dst, "] [AlertID: "...)
		dst = e.plain(dst, f.id)
		dst = append(dst, "] [Severity: "...)
		dst = e.plain(dst, f.severity)
		dst = append(dst, "] [IP: ][Description: "...)
		dst = e.plain(dst, f.typ)
		dst = append(dst, ' ')
		dst = e.plain(dst, f.description)
		dst = append(dst, "] [AlertType: "...)
		dst = e.plain(dst, f.typ)
		dst = append(dst, "] [Data: "...)
		dst = e.str(dst, f.data)
		dst = append(dst, "] [Location: "...)
		dst = e.plain(dst, f.location)
		return append(dst, ']'), nil
	}
	dst = append(dst, "[Timestamp: "...)
	dst = e.plain(dst, f.createdAt)
	dst = append(dst, "] [EventID: "...)
	dst = e.plain(dst, f.id)
	dst = append(dst, "] [Severity: "...)
	dst = e.plain(dst, f.severity)
	dst = append(dst, "] [Name: "...)
	dst = e.plain(dst, f.name)
	dst = append(dst, "] [IP: ][EventType: "...)
	dst = e.plain(dst, f.typ)
	dst = append(dst, "] [SourceInfo: "...)
	dst = e.str(dst, f.sourceInfo)
	dst = append(dst, "] [Location: "...)
	dst = e.plain(dst, f.location)
	dst = append(dst, "] [Group: "...)
	dst = e.plain(dst, f.group)
	dst = append(dst, "] [CustomerID: "...)
	dst = e.plain(dst, f.customerID)
	return append(dst, ']'), nil
}

// plain appends a string-concatenated field: its text, empty when missing or
// null, str() when not a string.
func (e *txtEncoder) plain(dst []byte, v int32) []byte {
	if v == 0 || e.t.kind(v) == 'n' {
		return dst
	}
	e.buf = e.p.str(e.buf[:0], v)
	return appendNoNewline(dst, e.buf)
}

// str appends Python's str(value), empty when the key is missing.
func (e *txtEncoder) str(dst []byte, v int32) []byte {
	if v == 0 {
		return dst
	}
	e.buf = e.p.str(e.buf[:0], v)
	return appendNoNewline(dst, e.buf)
}

// appendNoNewline appends s with \n and \r written as the two-character
// escapes \n and \r.
func appendNoNewline(dst, s []byte) []byte {
	if bytes.IndexByte(s, '\n') < 0 && bytes.IndexByte(s, '\r') < 0 {
		return append(dst, s...)
	}
	for _, c := range s {
		switch c {
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
