package encoding

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// OCSFVersion is the OCSF schema release the ocsf records follow and are
// tested against (testdata/ocsf/<version>).
const OCSFVersion = "1.8.0"

// OCSFOptions tune format ocsf.
type OCSFOptions struct {
	// RawData keeps the API item, as a JSON string, in raw_data. Default
	// false (the item's unmapped members are in unmapped either way).
	RawData bool `yaml:"raw_data"`
}

// ocsfClass is one OCSF event class a record can become.
type ocsfClass struct {
	uid          int64 // class_uid = category_uid*1000 + the class's own uid
	name         string
	categoryUID  int64
	categoryName string
}

var (
	ocsfBase        = ocsfClass{0, "Base Event", 0, "Uncategorized"}
	ocsfPeripheral  = ocsfClass{1010, "Peripheral Activity", 1, "System Activity"}
	ocsfCompliance  = ocsfClass{2003, "Compliance Finding", 2, "Findings"}
	ocsfDetection   = ocsfClass{2004, "Detection Finding", 2, "Findings"}
	ocsfIncident    = ocsfClass{2005, "Incident Finding", 2, "Findings"}
	ocsfAccount     = ocsfClass{3001, "Account Change", 3, "Identity & Access Management"}
	ocsfAppLife     = ocsfClass{6002, "Application Lifecycle", 6, "Application Activity"}
	ocsfWebAccess   = ocsfClass{6004, "Web Resource Access Activity", 6, "Application Activity"}
	ocsfScan        = ocsfClass{6007, "Scan Activity", 6, "Application Activity"}
	_               = ocsfIncident
	ocsfSeverityCap = [...]string{"Unknown", "Informational", "Low", "Medium", "High", "Critical", "Fatal"}
)

// ocsfMap is how one Sophos event type becomes OCSF: its class, activity
// and, for findings, the finding status. mapping is the shape-specific
// part the encoder writes (findings, web, ...).
type ocsfMap struct {
	class        ocsfClass
	activityID   int64
	activityName string
	statusID     int64 // 0: not written
	statusName   string
	shape        ocsfShape
	malwareClass int64  // Detection Finding: malware.classification_ids (0: no malware object)
	head         string // the members writeHead writes, when fixed (withHead)
}

type ocsfShape int

const (
	shapeBase ocsfShape = iota
	shapeDetection
	shapeCompliance
	shapeWeb
	shapeApp
	shapePeripheral
	shapeScan
	shapeAccount
)

func detection(statusID int64, status string, malwareClass int64) ocsfMap {
	act, actName := int64(1), "Create"
	if statusID == 4 {
		act, actName = 3, "Close"
	}
	return ocsfMap{class: ocsfDetection, activityID: act, activityName: actName, statusID: statusID, statusName: status,
		shape: shapeDetection, malwareClass: malwareClass}
}

// malware.classification_ids values used.
const (
	malwareOther      = 99
	malwareRansomware = 10
	malwareAdware     = 1 // the closest OCSF class for a PUA
)

// ocsfEventTypes maps the event types of the SIEM events stream (the
// README's OCSF table). A type not listed falls back on its group
// (ocsfGroups), then to Base Event.
var ocsfEventTypes = map[string]ocsfMap{
	"Event::Endpoint::Threat::Detected":            detection(1, "New", malwareOther),
	"Event::Endpoint::Threat::CleanedUp":           detection(4, "Resolved", malwareOther),
	"Event::Endpoint::Threat::CleanupFailed":       detection(1, "New", malwareOther),
	"Event::Endpoint::Threat::PuaDetected":         detection(1, "New", malwareAdware),
	"Event::Endpoint::Threat::PuaCleanupFailed":    detection(1, "New", malwareAdware),
	"Event::Endpoint::Threat::IpsInboundDetection": detection(1, "New", 0),
	"Event::Endpoint::CoreAmsiBlocked":             detection(1, "New", malwareOther),
	"Event::Endpoint::HmpaCryptoGuard":             detection(1, "New", malwareRansomware),
	"Event::Endpoint::WebControlViolation":         {class: ocsfWebAccess, activityID: 2, activityName: "Access Deny", shape: shapeWeb},
	"Event::Endpoint::WebFilteringBlocked":         {class: ocsfWebAccess, activityID: 2, activityName: "Access Deny", shape: shapeWeb},
	"Event::Endpoint::Application::Allowed":        {class: ocsfAppLife, activityID: 3, activityName: "Start", shape: shapeApp},
	"Event::Endpoint::Device::AlertedOnly":         {class: ocsfPeripheral, activityID: 1, activityName: "Connect", shape: shapePeripheral},
	"Event::Endpoint::Compliant":                   {class: ocsfCompliance, activityID: 1, activityName: "Create", statusID: 1, statusName: "New", shape: shapeCompliance},
	"Event::Endpoint::NonCompliant":                {class: ocsfCompliance, activityID: 1, activityName: "Create", statusID: 1, statusName: "New", shape: shapeCompliance},
	"Event::Endpoint::SavScanComplete":             {class: ocsfScan, activityID: 2, activityName: "Completed", shape: shapeScan},
	"Event::Endpoint::UserAutoCreated":             {class: ocsfAccount, activityID: 1, activityName: "Create", shape: shapeAccount},
	"Event::Endpoint::UpdateSuccess":               {class: ocsfBase, activityID: 99, statusID: 1, statusName: "Success", shape: shapeBase},
	"Event::Endpoint::UpdateFailure":               {class: ocsfBase, activityID: 99, statusID: 2, statusName: "Failure", shape: shapeBase},
	"Event::Endpoint::OutOfDate":                   {class: ocsfBase, activityID: 99, shape: shapeBase},
	"Event::Endpoint::ServiceNotRunning":           {class: ocsfBase, activityID: 99, statusID: 2, statusName: "Failure", shape: shapeBase},
}

// ocsfGroups maps an unlisted event type by its group: threats are
// Detection Findings, the rest Base Events.
var ocsfGroups = map[string]ocsfMap{
	"MALWARE":            detection(1, "New", malwareOther),
	"PUA":                detection(1, "New", malwareAdware),
	"RUNTIME_DETECTIONS": detection(1, "New", 0),
}

// ocsfAlert is every alert: a Detection Finding (Sophos raised it for a
// person to look at), is_alert true.
var ocsfAlert = detection(1, "New", 0)

// ocsfConsumed reports the top-level item members the mapping consumes;
// every other member goes to unmapped as it is.
func ocsfConsumed(k string) bool {
	switch k {
	case "id", "type", "severity", "name", "description",
		"when", "created_at", "location", "source", "customer_id",
		"endpoint_id", "endpoint_type", "source_info", "group", "user_id",
		"threat":
		return true
	}
	return false
}

// The class and activity members that open a record are the same for
// every record of a mapping (but activity Other, named after the type):
// written once, at start-up, by the code that writes the others.
func init() {
	for k, m := range ocsfEventTypes {
		ocsfEventTypes[k] = withHead(m)
	}
	for k, m := range ocsfGroups {
		ocsfGroups[k] = withHead(m)
	}
	ocsfAlert = withHead(ocsfAlert)
}

func withHead(m ocsfMap) ocsfMap {
	if m.activityID != 99 {
		w := jsonw{}
		writeHead(&w, m, m.activityName)
		m.head = string(w.b)
	}
	return m
}

// writeHead writes the class, category, activity and type members.
func writeHead(w *jsonw, m ocsfMap, actName string) {
	w.int("class_uid", m.class.uid)
	w.str("class_name", m.class.name)
	w.int("category_uid", m.class.categoryUID)
	w.str("category_name", m.class.categoryName)
	w.int("activity_id", m.activityID)
	w.str("activity_name", actName)
	w.int("type_uid", m.class.uid*100+m.activityID)
	w.key("type_name")
	w.b = append(w.b, '"')
	w.b = append(w.b, m.class.name...)
	w.b = append(w.b, ": "...)
	w.b = appendJSONInner(w.b, actName)
	w.b = append(w.b, '"')
}

// ocsfEncoder writes one OCSF event per record (OCSFVersion): alerts as
// Detection Findings, events by type (ocsfEventTypes). Common to all:
// class/category/activity/type uids and names, time (device time, ms),
// severity_id, message, metadata (product Sophos Central by Sophos, uid =
// the Sophos id, event_code = the Sophos type, tenant_uid, logged_time =
// Central's created_at), device (host name, endpoint id and type, IP,
// platform) and actor.user (the item's source), the item's other members
// in unmapped, and raw_data when asked.
type ocsfEncoder struct {
	t    tape
	w    jsonw
	opts OCSFOptions
	buf  []byte
	f    itemFields
	// arena holds decoded strings (strView) until the next record.
	arena []byte
	// detailBuf holds the class-specific members, text a copy of the
	// item's text they are cut from.
	detailBuf, text []byte
	msMemo          msMemo
}

// itemFields are the item's members the ocsf and leef mappings read (tape
// nodes; 0 = absent). Alerts keep endpoint and source_info under data.
type itemFields struct {
	id, typ, severity, name, description, when, createdAt, location, source int32
	customerID, endpointID, endpointType, sourceInfo, group, userID, threat int32
	data                                                                    int32
}

func newOCSFEncoder(opts Options) *ocsfEncoder { return &ocsfEncoder{opts: opts.OCSF} }

func (e *ocsfEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	t := &e.t
	if !t.parseItem(r.Raw) {
		return dst, fmt.Errorf("ocsf: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.read()
	e.arena = e.arena[:0]
	e.msMemo = msMemo{}
	switch r.Stream {
	case pipeline.Detections:
		return e.detection(dst, r), nil
	case pipeline.Cases:
		return e.incident(dst, r), nil
	}
	f := &e.f
	timeMs, ok := e.ms(f.when)
	if !ok {
		if timeMs, ok = e.ms(f.createdAt); !ok {
			// OCSF requires a time; an item without one (never seen from
			// Sophos) gets the time it was encoded rather than being lost.
			timeMs = time.Now().UnixMilli()
		}
	}
	m := ocsfAlert
	if r.Stream != pipeline.Alerts {
		m = e.eventMap()
	}
	msg := f.name
	if f.description != 0 {
		msg = f.description
	}
	// A class whose required object cannot be built from this item falls
	// back to Base Event rather than writing an invalid record.
	var detail []byte
	if m.shape >= shapeWeb {
		if detail = e.detail(m.shape, msg); detail == nil {
			m = ocsfMap{class: ocsfBase, activityID: 99, shape: shapeBase}
		}
	}

	w := &e.w
	w.reset(dst)
	w.b = append(w.b, '{')
	if m.head != "" && m.activityID != 99 {
		w.b = append(w.b, m.head...)
		w.comma = true
	} else {
		actName := m.activityName
		if m.activityID == 99 {
			actName = e.typeTail()
		}
		writeHead(w, m, actName)
	}
	w.int("time", timeMs)
	e.severity()
	if msg != 0 && t.kind(msg) == '"' {
		w.raw("message", t.text(msg))
	}
	if m.statusID != 0 {
		w.int("status_id", m.statusID)
		w.str("status", m.statusName)
	}
	e.metadata(r)
	switch m.shape {
	case shapeDetection, shapeCompliance:
		e.findingInfo(msg)
		if m.shape == shapeDetection && r.Stream == pipeline.Alerts {
			w.rawLit("is_alert", "true")
		}
		if m.malwareClass != 0 && f.threat != 0 && t.kind(f.threat) == '"' && len(t.inner(f.threat)) > 0 {
			w.openArray("malware")
			w.open("")
			w.raw("name", t.text(f.threat))
			w.openArray("classification_ids")
			w.b = strconv.AppendInt(w.b, m.malwareClass, 10)
			w.close(']')
			w.close('}')
			w.close(']')
		}
		if m.shape == shapeCompliance {
			w.open("compliance")
			if bytes.HasSuffix(t.inner(f.typ), []byte("::NonCompliant")) {
				w.int("status_id", 3)
				w.lit("status", "Fail")
			} else {
				w.int("status_id", 1)
				w.lit("status", "Pass")
			}
			w.close('}')
		}
	case shapeWeb, shapeApp, shapePeripheral, shapeScan, shapeAccount:
		w.b = append(w.b, ',')
		w.b = append(w.b, detail...)
	}
	e.device()
	if m.shape != shapeAccount { // Account Change carries the user as user
		e.actor(m.shape == shapePeripheral)
	}
	e.unmapped()
	e.rawData(r)
	w.b = append(w.b, '}')
	return w.b, nil
}

// read finds the members the mapping uses.
func (e *ocsfEncoder) read() { e.f.read(&e.t) }

// str returns string node n's decoded text (nil for absent or not a
// string); the bytes live in the item or in e.buf until the next call.
func (e *ocsfEncoder) str(n int32) []byte { return e.t.strView(&e.arena, n) }

// ms is nodeMillis, remembered for the record's last two nodes (when and
// created_at are each read two or three times).
func (e *ocsfEncoder) ms(n int32) (int64, bool) {
	c := &e.msMemo
	for i := range c.n {
		if c.n[i] == n && n != 0 {
			return c.ms[i], c.ok[i]
		}
	}
	ms, ok := nodeMillis(&e.t, n)
	c.n[1], c.ms[1], c.ok[1] = c.n[0], c.ms[0], c.ok[0]
	c.n[0], c.ms[0], c.ok[0] = n, ms, ok
	return ms, ok
}

// msMemo holds ms's last results (n 0: empty).
type msMemo struct {
	n  [2]int32
	ms [2]int64
	ok [2]bool
}

// nodeMillis is parseISO8601 of string node n (false when absent or not a
// string), the common form read by canonISO.
func nodeMillis(t *tape, n int32) (int64, bool) {
	if n == 0 || t.kind(n) != '"' {
		return 0, false
	}
	s := t.inner(n)
	if ms, ok := canonISO(s); ok {
		return ms, true
	}
	return parseISO8601(s)
}

func (e *ocsfEncoder) eventMap() ocsfMap {
	if m, ok := ocsfEventTypes[string(e.str(e.f.typ))]; ok {
		return m
	}
	if m, ok := ocsfGroups[string(e.str(e.f.group))]; ok {
		return m
	}
	return ocsfMap{class: ocsfBase, activityID: 99, shape: shapeBase}
}

// typeTail is the last part of the Sophos type (UpdateFailure), the
// activity name of a Base Event (activity Other names the source's own).
func (e *ocsfEncoder) typeTail() string {
	s := e.str(e.f.typ)
	if i := bytes.LastIndex(s, []byte("::")); i >= 0 {
		s = s[i+2:]
	}
	if len(s) == 0 {
		return "Other"
	}
	return string(s)
}

// severity writes severity_id and its caption (the source's word for
// Other).
func (e *ocsfEncoder) severity() {
	w := &e.w
	s := e.str(e.f.severity)
	id := int64(99)
	switch {
	case s == nil || len(s) == 0:
		id = 0
	case is(s, "info"), is(s, "informational"):
		id = 1
	case is(s, "low"):
		id = 2
	case is(s, "medium"):
		id = 3
	case is(s, "high"):
		id = 4
	case is(s, "critical"):
		id = 5
	}
	w.int("severity_id", id)
	if id == 99 {
		w.strb("severity", s)
	} else {
		w.str("severity", ocsfSeverityCap[id])
	}
}

func (e *ocsfEncoder) metadata(r *pipeline.Record) {
	w, t, f := &e.w, &e.t, &e.f
	w.open("metadata")
	w.str("version", OCSFVersion)
	w.open("product")
	w.lit("name", "Sophos Central")
	w.lit("vendor_name", "Sophos")
	if g := e.str(f.group); len(g) > 0 {
		w.open("feature")
		w.strAt("name", t, f.group, unsafeString(g))
		w.close('}')
	}
	w.close('}')
	w.openArray("profiles")
	w.elemStr("host")
	w.close(']')
	if f.id != 0 && t.kind(f.id) == '"' {
		w.raw("uid", t.text(f.id))
	}
	if f.typ != 0 && t.kind(f.typ) == '"' {
		w.raw("event_code", t.text(f.typ))
	}
	w.str("log_name", r.Stream.Plural())
	switch {
	case f.customerID != 0 && t.kind(f.customerID) == '"':
		w.raw("tenant_uid", t.text(f.customerID))
	case r.Tenant != "":
		w.str("tenant_uid", r.Tenant)
	}
	if ms, ok := e.ms(f.createdAt); ok {
		w.int("logged_time", ms)
	}
	if f.when != 0 && t.kind(f.when) == '"' {
		w.raw("original_time", t.text(f.when))
	}
	w.close('}')
}

func (e *ocsfEncoder) findingInfo(msg int32) {
	w, t, f := &e.w, &e.t, &e.f
	w.open("finding_info")
	if f.id != 0 && t.kind(f.id) == '"' {
		w.raw("uid", t.text(f.id))
	} else {
		w.str("uid", "") // required: an item always has an id (DecodeRecord)
	}
	if msg != 0 && t.kind(msg) == '"' {
		w.raw("title", t.text(msg))
	}
	if f.typ != 0 && t.kind(f.typ) == '"' {
		w.openArray("types")
		w.elemRaw(t.text(f.typ))
		w.close(']')
	}
	if ms, ok := e.ms(f.createdAt); ok {
		w.int("created_time", ms)
	}
	if ms, ok := e.ms(f.when); ok {
		w.int("first_seen_time", ms)
	}
	w.close('}')
}

// device writes the endpoint: name and host name (location), uid, type,
// IP and, for alerts, the platform.
func (e *ocsfEncoder) device() {
	w, t, f := &e.w, &e.t, &e.f
	loc := e.str(f.location)
	w.open("device")
	if len(loc) > 0 {
		w.strAt("name", t, f.location, unsafeString(loc))
		if isHostname(loc) {
			w.strAt("hostname", t, f.location, unsafeString(loc))
		}
	}
	if f.endpointID != 0 && t.kind(f.endpointID) == '"' {
		w.raw("uid", t.text(f.endpointID))
	}
	typ := e.str(f.endpointType)
	switch {
	case is(typ, "server"):
		w.int("type_id", 1)
		w.lit("type", "Server")
	case is(typ, "mobile"):
		w.int("type_id", 5)
		w.lit("type", "Mobile")
	case len(typ) > 0:
		w.int("type_id", 99)
		w.strAt("type", t, f.endpointType, unsafeString(typ))
	default:
		w.int("type_id", 0)
		w.lit("type", "Unknown")
	}
	if ip := t.lastMember(f.sourceInfo, "ip"); ip != 0 && t.kind(ip) == '"' && isIP(t.inner(ip)) {
		w.raw("ip", t.text(ip))
	}
	if f.data != 0 {
		if p := e.str(t.lastMember(f.data, "endpoint_platform")); len(p) > 0 {
			id := int64(0)
			switch {
			case is(p, "windows"):
				id = 100
			case is(p, "linux"):
				id = 200
			case is(p, "macOS"):
				id = 300
			}
			if id != 0 {
				w.open("os")
				w.strb("name", p)
				w.int("type_id", id)
				w.close('}')
			}
		}
	}
	w.close('}')
}

// actor writes actor.user from the item's source (DOMAIN\name or a
// display name; "n/a" and "" are nobody). always writes an actor even
// without a user (Peripheral Activity requires one): the Sophos agent.
func (e *ocsfEncoder) actor(always bool) {
	if !e.user("actor") && always {
		w := &e.w
		w.open("actor")
		w.lit("app_name", "Sophos Endpoint Agent")
		w.close('}')
	}
}

// user writes, under key (actor: actor.user; user: user), the item's
// source as a user; false when the item names none.
func (e *ocsfEncoder) user(key string) bool {
	w, t, f := &e.w, &e.t, &e.f
	src := e.str(f.source)
	if len(src) == 0 || is(src, "n/a") {
		return false
	}
	w.open(key)
	if key == "actor" {
		w.open("user")
	}
	if i := bytes.IndexByte(src, '\\'); i > 0 && i < len(src)-1 {
		w.strb("name", src[i+1:])
		w.strb("domain", src[:i])
	} else {
		w.strAt("name", t, f.source, unsafeString(src))
	}
	if f.userID != 0 && t.kind(f.userID) == '"' {
		w.raw("uid", t.text(f.userID))
	}
	if key == "actor" {
		w.close('}')
	}
	w.close('}')
	return true
}

// unmapped copies the item's members the mapping did not consume.
func (e *ocsfEncoder) unmapped() {
	w, t := &e.w, &e.t
	opened := false
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		if ocsfConsumed(t.keyName(k)) {
			continue
		}
		if !opened {
			w.open("unmapped")
			opened = true
		}
		if w.comma {
			w.b = append(w.b, ',')
		}
		w.b = t.appendCompact(w.b, k)
		w.b = append(w.b, ':')
		w.b = t.appendCompact(w.b, k+1)
		w.comma = true
	}
	if opened {
		w.close('}')
	}
}

// detail builds the class-specific members of the activity classes (the
// text after the leading comma), or nil when the item lacks what the class
// requires. It writes into its own buffer: the record's class is decided
// before the header is written.
func (e *ocsfEncoder) detail(shape ocsfShape, msg int32) []byte {
	e.text = append(e.text[:0], e.str(msg)...)
	text := e.text
	w := jsonw{b: e.detailBuf[:0]}
	switch shape {
	case shapeWeb:
		u := quotedURL(text)
		if u == nil {
			return nil
		}
		w.open("http_request")
		w.open("url")
		w.strb("url_string", u)
		if s, h, ok := urlParts(u); ok {
			w.strb("scheme", s)
			w.strb("hostname", h)
		}
		w.close('}')
		w.close('}')
		w.openArray("web_resources")
		w.open("")
		w.strb("name", u)
		w.strb("url_string", u)
		w.close('}')
		w.close(']')
	case shapeApp:
		// "Controlled application allowed: Steam (Game)"
		_, app, ok := bytes.Cut(text, []byte(": "))
		if !ok || len(app) == 0 {
			return nil
		}
		name, cat := app, []byte(nil)
		if i := bytes.LastIndex(app, []byte(" (")); i > 0 && app[len(app)-1] == ')' {
			name, cat = app[:i], app[i+2:len(app)-1]
		}
		w.open("app")
		w.strb("name", name)
		if len(cat) > 0 {
			w.open("feature")
			w.strb("name", cat)
			w.close('}')
		}
		w.close('}')
	case shapePeripheral:
		// "Peripheral allowed: 'HL-DT-ST DVDRAM GP60NB50' (Optical Drive)"
		name := quoted(text, '\'')
		if len(name) == 0 {
			return nil
		}
		w.open("peripheral_device")
		w.strb("name", name)
		if i := bytes.LastIndex(text, []byte(" (")); i > 0 && text[len(text)-1] == ')' {
			w.strb("type", text[i+2:len(text)-1])
		}
		w.close('}')
	case shapeScan:
		// "Scan 'Sophos Cloud Scheduled Scan' completed"
		w.open("scan")
		name := quoted(text, '\'')
		if len(name) > 0 {
			w.strb("name", name)
		}
		if bytes.Contains(name, []byte("Scheduled")) {
			w.int("type_id", 2)
			w.lit("type", "Scheduled")
		} else {
			w.int("type_id", 0)
			w.lit("type", "Unknown")
		}
		w.close('}')
	case shapeAccount:
		if !e.userInto(&w, text) {
			return nil
		}
	}
	e.detailBuf = w.b
	return w.b
}

// userInto writes user for Account Change: the item's source, else the
// name after the last ": " of the text ("New user added automatically:
// ec2-user").
func (e *ocsfEncoder) userInto(w *jsonw, text []byte) bool {
	saved := e.w
	e.w = *w
	ok := e.user("user")
	*w = e.w
	e.w = saved
	if ok {
		return true
	}
	if i := bytes.LastIndex(text, []byte(": ")); i >= 0 && i+2 < len(text) {
		w.open("user")
		w.strb("name", text[i+2:])
		w.close('}')
		return true
	}
	return false
}

// appendJSONInner appends s escaped as in a JSON string, without quotes.
func appendJSONInner(dst []byte, s string) []byte {
	n := len(dst)
	dst = appendQuoted(dst, s)
	copy(dst[n:], dst[n+1:len(dst)-1])
	return dst[:len(dst)-2]
}

// quoted returns the text between the first two q characters of s.
func quoted(s []byte, q byte) []byte {
	i := bytes.IndexByte(s, q)
	if i < 0 {
		return nil
	}
	j := bytes.IndexByte(s[i+1:], q)
	if j < 0 {
		return nil
	}
	return s[i+1 : i+1+j]
}

// quotedURL returns the first http(s) URL quoted with ' or " in s (the web
// control events name the URL so).
func quotedURL(s []byte) []byte {
	for _, q := range []byte{'\'', '"'} {
		rest := s
		for {
			u := quoted(rest, q)
			if u == nil {
				break
			}
			if bytes.HasPrefix(u, []byte("http://")) || bytes.HasPrefix(u, []byte("https://")) {
				return u
			}
			rest = rest[bytes.IndexByte(rest, q)+1:]
			rest = rest[bytes.IndexByte(rest, q)+1:]
		}
	}
	return nil
}

// urlParts returns the scheme and host of an http(s) URL.
func urlParts(u []byte) (scheme, host []byte, ok bool) {
	scheme, rest, ok := bytes.Cut(u, []byte("://"))
	if !ok {
		return nil, nil, false
	}
	if i := bytes.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := bytes.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := bytes.LastIndexByte(rest, ':'); i >= 0 && !bytes.HasSuffix(rest, []byte("]")) {
		rest = rest[:i]
	}
	return scheme, rest, len(rest) > 0
}

// isHostname reports whether s is a plausible DNS host name (letters,
// digits, - _ and .), so a display name like "Aisha's MacBook" stays name
// only.
func isHostname(s []byte) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func isIP(s []byte) bool {
	if isIPv4(s) {
		return true
	}
	_, err := netip.ParseAddr(unsafe.String(unsafe.SliceData(s), len(s)))
	return err == nil
}

// isIPv4 reports whether s is a dotted-quad IPv4 address as
// netip.ParseAddr reads one (four decimal fields 0-255, no leading zeros);
// false sends anything else to netip.
func isIPv4(s []byte) bool {
	fields, v, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || digits > 1 && s[i-digits] == '0' || v > 255 {
				return false
			}
			fields++
			v, digits = 0, 0
			continue
		}
		c := s[i] - '0'
		if c > 9 || digits == 3 {
			return false
		}
		v = v*10 + int(c)
		digits++
	}
	return fields == 4
}

// is reports whether b is s (no allocation).
func is(b []byte, s string) bool { return string(b) == s }

// read finds the members in the parsed item t.
func (f *itemFields) read(t *tape) {
	*f = itemFields{}
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		v := k + 1
		switch t.keyName(k) {
		case "id":
			f.id = v
		case "type":
			f.typ = v
		case "severity":
			f.severity = v
		case "name":
			f.name = v
		case "description":
			f.description = v
		case "when":
			f.when = v
		case "created_at":
			f.createdAt = v
		case "location":
			f.location = v
		case "source":
			f.source = v
		case "customer_id":
			f.customerID = v
		case "endpoint_id":
			f.endpointID = v
		case "endpoint_type":
			f.endpointType = v
		case "source_info":
			f.sourceInfo = v
		case "group":
			f.group = v
		case "user_id":
			f.userID = v
		case "threat":
			f.threat = v
		case "data":
			f.data = v
		}
	}
	if f.data != 0 && t.kind(f.data) == '{' {
		if f.endpointID == 0 {
			f.endpointID = t.lastMember(f.data, "endpoint_id")
		}
		if f.endpointType == 0 {
			f.endpointType = t.lastMember(f.data, "endpoint_type")
		}
		if f.sourceInfo == 0 {
			f.sourceInfo = t.lastMember(f.data, "source_info")
		}
	}
}

// rawData writes the item as a JSON string when ocsf.raw_data is set.
func (e *ocsfEncoder) rawData(r *pipeline.Record) {
	if e.opts.RawData {
		e.w.key("raw_data")
		e.w.b = appendQuoted(e.w.b, unsafe.String(unsafe.SliceData(r.Raw), len(r.Raw)))
	}
}
