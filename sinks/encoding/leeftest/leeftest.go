// Package leeftest reads LEEF lines the way the LEEF specification
// describes them, for the tests of the leef format and of the sinks that
// carry it (syslog): a parser written from the spec, independent of the
// encoder.
package leeftest

import (
	"fmt"
	"strconv"
	"strings"
)

// Event is one LEEF event as Parse reads it.
type Event struct {
	Version, Vendor, Product, ProductVersion, EventID string
	Delim                                             byte
	Attrs                                             [][2]string // in order
}

// Attr returns the first value of key k.
func (e Event) Attr(k string) (string, bool) {
	for _, a := range e.Attrs {
		if a[0] == k {
			return a[1], true
		}
	}
	return "", false
}

// Parse reads a LEEF line as IBM's LEEF specification describes it:
// "LEEF:Version|Vendor|Product|Version|EventID|" then, for 2.0, the
// attribute delimiter (one character, or its hex code prefixed by x or
// 0x) and "|"; then key=value attributes separated by the delimiter (tab
// for 1.0). In the header a backslash escapes the next character (\| is a
// literal pipe). A value runs from the first = to the next delimiter.
func Parse(line string) (Event, error) {
	var ev Event
	rest, ok := strings.CutPrefix(line, "LEEF:")
	if !ok {
		return ev, fmt.Errorf("no LEEF: prefix")
	}
	// Header fields up to the unescaped pipes.
	var fields []string
	var cur strings.Builder
	i := 0
	want := 5
	for ; i < len(rest) && len(fields) < want; i++ {
		c := rest[i]
		switch {
		case c == '\\' && i+1 < len(rest):
			i++
			cur.WriteByte(rest[i])
		case c == '|':
			fields = append(fields, cur.String())
			cur.Reset()
			if len(fields) == 1 && fields[0] == "2.0" {
				want = 6
			}
		default:
			cur.WriteByte(c)
		}
	}
	if len(fields) < want {
		return ev, fmt.Errorf("header has %d of %d fields", len(fields), want)
	}
	ev.Version, ev.Vendor, ev.Product, ev.ProductVersion, ev.EventID = fields[0], fields[1], fields[2], fields[3], fields[4]
	switch ev.Version {
	case "1.0":
		ev.Delim = '\t'
	case "2.0":
		d := fields[5]
		switch {
		case len(d) == 1:
			ev.Delim = d[0]
		case strings.HasPrefix(d, "0x") || strings.HasPrefix(d, "x"):
			v, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(d, "0"), "x"), 16, 8)
			if err != nil {
				return ev, fmt.Errorf("delimiter %q: %v", d, err)
			}
			ev.Delim = byte(v)
		default:
			return ev, fmt.Errorf("delimiter %q is neither one character nor x<hex>", d)
		}
	default:
		return ev, fmt.Errorf("version %q", ev.Version)
	}
	for _, kv := range strings.Split(rest[i:], string(ev.Delim)) {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return ev, fmt.Errorf("attribute %q is not key=value", kv)
		}
		ev.Attrs = append(ev.Attrs, [2]string{k, v})
	}
	return ev, nil
}
