package encoding

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// LEEFOptions tune format leef.
type LEEFOptions struct {
	// Version is the LEEF version: "2.0" (default: the header names the
	// tab delimiter) or "1.0" for DSMs that predate 2.0 (tab implied).
	Version string `yaml:"version"`
}

// LEEFVersions are the accepted leef.version values.
var LEEFVersions = []string{"2.0", "1.0"}

// LEEFDevTimeFormat is the devTimeFormat every leef record names (Java
// SimpleDateFormat, as QRadar reads it) for devTime.
const LEEFDevTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"

// leefEncoder writes QRadar's Log Event Extended Format:
//
//	LEEF:2.0|Sophos|Central|1.0|<Sophos type>|x09|devTime=…<TAB>devTimeFormat=…<TAB>cat=…<TAB>sev=…<TAB>…
//
// (LEEF:1.0 has no delimiter field: tab is implied). Header fields escape
// backslash and | with a backslash. Attribute values cannot hold the
// delimiter, so a tab, CR or LF in a value is written as \t, \r, \n
// (two characters; nothing else is escaped: LEEF values are taken
// verbatim up to the next delimiter, = included). The predefined keys QRadar
// normalizes come first (devTime, devTimeFormat, cat, sev, src, dst,
// srcPort, dstPort, proto, srcMAC, dstMAC, usrName, identHostName,
// identSrc, url), then Sophos's own: sophosId, sophosTenantId,
// sophosEndpointId, sophosEndpointType, sophosSeverity, threat, name.
type leefEncoder struct {
	t   tape
	f   itemFields
	v1  bool
	buf []byte
	// arena holds decoded strings (strView) until the next record.
	arena []byte
}

func newLEEFEncoder(opts Options) (*leefEncoder, error) {
	switch opts.LEEF.Version {
	case "", "2.0":
		return &leefEncoder{}, nil
	case "1.0":
		return &leefEncoder{v1: true}, nil
	}
	return nil, fmt.Errorf("leef: version %q: use \"2.0\" (default) or \"1.0\" for DSMs older than LEEF 2.0", opts.LEEF.Version)
}

// leefSev maps Sophos severities to LEEF's 1-10.
func leefSev(s []byte) int {
	switch {
	case is(s, "info"), is(s, "informational"):
		return 1
	case is(s, "low"):
		return 3
	case is(s, "medium"):
		return 5
	case is(s, "high"):
		return 8
	case is(s, "critical"):
		return 10
	}
	return 1 // unknown: lowest, the word is kept in sophosSeverity
}

func (e *leefEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	t := &e.t
	if !t.parseItem(r.Raw) {
		return dst, fmt.Errorf("leef: record %q: %w", r.ID, itemError(r.Raw))
	}
	f := &e.f
	f.read(t)
	e.arena = e.arena[:0]
	if r.Stream == pipeline.Detections || r.Stream == pipeline.Cases {
		return e.xdr(dst, r)
	}
	if e.v1 {
		dst = append(dst, "LEEF:1.0|Sophos|Central|1.0|"...)
	} else {
		dst = append(dst, "LEEF:2.0|Sophos|Central|1.0|"...)
	}
	dst = leefHeader(dst, e.str(f.typ))
	if e.v1 {
		dst = append(dst, '|')
	} else {
		dst = append(dst, "|x09|"...)
	}
	first := true
	attr := func(k string, v []byte) {
		if !first {
			dst = append(dst, '\t')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = leefValue(dst, v)
	}
	ms, ok := e.ms(f.when)
	if !ok {
		ms, ok = e.ms(f.createdAt)
	}
	if ok {
		var fast bool
		if e.buf, fast = appendISOMs(e.buf[:0], ms, "+0000"); !fast {
			e.buf = time.UnixMilli(ms).UTC().AppendFormat(e.buf[:0], "2006-01-02T15:04:05.000-0700")
		}
		attr("devTime", e.buf)
		attr("devTimeFormat", []byte(LEEFDevTimeFormat))
	}
	if g := e.str(f.group); len(g) > 0 {
		attr("cat", g)
	} else {
		attr("cat", []byte(r.Stream))
	}
	sev := e.str(f.severity)
	e.buf = strconv.AppendInt(e.buf[:0], int64(leefSev(sev)), 10)
	attr("sev", e.buf)

	// Network: an IPS detection is inbound traffic from the remote host to
	// the endpoint; anything else names the endpoint's own address.
	hostIP := e.str(t.lastMember(f.sourceInfo, "ip"))
	if ips := e.ipsNode(); ips != 0 {
		remote := e.member(ips, "remote_ip", "remoteIp")
		attr("src", e.str(remote))
		if len(hostIP) > 0 {
			attr("dst", hostIP)
		}
		if p := e.num(e.member(ips, "remote_port", "remotePort")); p != nil {
			attr("srcPort", p)
		}
		if p := e.num(e.member(ips, "local_port", "localPort")); p != nil {
			attr("dstPort", p)
		}
		raw := e.str(e.member(ips, "raw_data", "rawData"))
		if v := rawDataLine(raw, "Packet type"); len(v) > 0 {
			attr("proto", v)
		}
		if v := rawDataLine(raw, "Remote MAC:"); len(v) > 0 {
			attr("srcMAC", v)
		}
		if v := rawDataLine(raw, "Local MAC:"); len(v) > 0 {
			attr("dstMAC", v)
		}
	} else if len(hostIP) > 0 {
		attr("src", hostIP)
	}
	if u := e.str(f.source); len(u) > 0 && !is(u, "n/a") {
		attr("usrName", u)
	}
	if h := e.str(f.location); len(h) > 0 {
		attr("identHostName", h)
	}
	if len(hostIP) > 0 {
		attr("identSrc", hostIP)
	}
	msg := f.name
	if f.description != 0 {
		msg = f.description
	}
	if u := quotedURL(e.str(msg)); u != nil {
		attr("url", u)
	}
	attr("sophosId", e.str(f.id))
	if c := e.str(f.customerID); len(c) > 0 {
		attr("sophosTenantId", c)
	} else if r.Tenant != "" {
		attr("sophosTenantId", []byte(r.Tenant))
	}
	if v := e.str(f.endpointID); len(v) > 0 {
		attr("sophosEndpointId", v)
	}
	if v := e.str(f.endpointType); len(v) > 0 {
		attr("sophosEndpointType", v)
	}
	if len(sev) > 0 {
		attr("sophosSeverity", sev)
	}
	if v := e.str(f.threat); len(v) > 0 {
		attr("threat", v)
	}
	if v := e.str(msg); len(v) > 0 {
		attr("name", v)
	}
	return dst, nil
}

// str is ocsfEncoder.str: the decoded text of a string node, or nil.
func (e *leefEncoder) str(n int32) []byte { return e.t.strView(&e.arena, n) }

func (e *leefEncoder) ms(n int32) (int64, bool) { return nodeMillis(&e.t, n) }

// num returns a port given as a number or a numeric string, or nil.
func (e *leefEncoder) num(n int32) []byte {
	if n == 0 {
		return nil
	}
	var v []byte
	switch e.t.kind(n) {
	case '0':
		v = e.t.text(n)
	case '"':
		v = e.t.inner(n)
	}
	if _, err := strconv.ParseUint(unsafeString(v), 10, 16); err != nil {
		return nil
	}
	return v
}

// ipsNode is the IPS details object: data.ips_threat (alerts) or
// ips_threat_data (events), or 0.
func (e *leefEncoder) ipsNode() int32 {
	t := &e.t
	if n := t.lastMember(e.f.data, "ips_threat"); n != 0 && t.kind(n) == '{' {
		return n
	}
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		if t.keyIs(k, "ips_threat_data") && t.kind(k+1) == '{' {
			return k + 1
		}
	}
	return 0
}

// member returns obj's member by its alert (snake) or event (camel) name.
func (e *leefEncoder) member(obj int32, snake, camel string) int32 {
	if n := e.t.lastMember(obj, snake); n != 0 {
		return n
	}
	return e.t.lastMember(obj, camel)
}

// rawDataLine returns the value of the IPS raw_data line starting with
// label ("Local MAC:    00:CF:…"), trimmed.
func rawDataLine(raw []byte, label string) []byte {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte(label)); ok {
			return bytes.TrimSpace(v)
		}
	}
	return nil
}

// leefHeader appends a header field with backslash and | escaped, and
// line breaks as \n and \r (a header is one line).
func leefHeader(dst, s []byte) []byte {
	for _, c := range s {
		switch c {
		case '\\', '|':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// leefValue appends an attribute value: the delimiter (tab) and line
// breaks cannot appear in one, so they are written as \t, \n, \r.
func leefValue(dst, s []byte) []byte {
	// Most values have no control character at all: find the first byte
	// below 0x20 8 bytes at a time (the test is exact for the first one).
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := binary.LittleEndian.Uint64(s[i:])
		if (w-lsb*0x20)&^w&msb != 0 {
			break
		}
	}
	if i+8 > len(s) && !hasCtl(s[i:]) {
		return append(dst, s...)
	}
	start := 0
	for i, c := range s {
		var esc byte
		switch c {
		case '\t':
			esc = 't'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, '\\', esc)
		start = i + 1
	}
	return append(dst, s[start:]...)
}

func hasCtl(s []byte) bool {
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// xdr writes a detection or case from the record's typed fields (the same
// for both streams, pipeline/xdr.go) and the XDR facts: the event id is a
// detection's rule or a case's type, cat its attack type or "case", and
// the MITRE ids go in mitreTactics / mitreTechniques (comma-separated).
func (e *leefEncoder) xdr(dst []byte, r *pipeline.Record) ([]byte, error) {
	facts, err := factsOf(r)
	if err != nil {
		return dst, fmt.Errorf("leef: %w", err)
	}
	if e.v1 {
		dst = append(dst, "LEEF:1.0|Sophos|Central|1.0|"...)
	} else {
		dst = append(dst, "LEEF:2.0|Sophos|Central|1.0|"...)
	}
	eventID, cat := r.Type, "case"
	if r.Stream == pipeline.Detections {
		eventID, cat = r.Name, facts.category
		if cat == "" {
			cat = "detection"
		}
	}
	dst = leefHeader(dst, []byte(eventID))
	if e.v1 {
		dst = append(dst, '|')
	} else {
		dst = append(dst, "|x09|"...)
	}
	first := true
	attr := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			dst = append(dst, '\t')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = leefValue(dst, []byte(v))
	}
	if when := r.WhenTime(); !when.IsZero() {
		attr("devTime", string(when.UTC().AppendFormat(e.buf[:0], "2006-01-02T15:04:05.000-0700")))
		attr("devTimeFormat", LEEFDevTimeFormat)
	}
	attr("cat", cat)
	attr("sev", strconv.Itoa(leefSev([]byte(r.Severity))))
	if r.User != "n/a" {
		attr("usrName", r.User)
	}
	attr("identHostName", r.Host)
	attr("sophosId", r.ID)
	attr("sophosTenantId", r.Tenant)
	attr("sophosEndpointId", r.EndpointID)
	attr("sophosEndpointType", r.EndpointType)
	attr("sophosSeverity", r.Severity)
	attr("caseStatus", facts.status)
	attr("mitreTactics", strings.Join(facts.tactics, ","))
	attr("mitreTechniques", strings.Join(facts.techniques, ","))
	attr("name", r.Name)
	attr("description", facts.message)
	return dst, nil
}
