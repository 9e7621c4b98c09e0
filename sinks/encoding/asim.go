package encoding

import (
	"fmt"
	"strings"
	"time"
	"unsafe"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ASIMAlertColumns are the columns asim_alert rows may carry, in order:
// the ASIM Alert Event schema (0.1) fields the Sophos data fills, plus
// AdditionalFields (the stream, tenant and the item). The DCR of
// examples/sentinel-dcr-asim.json declares exactly these; the KQL parser
// ASimAlertEventSophosCentral projects them.
var ASIMAlertColumns = []string{
	"TimeGenerated", "EventStartTime", "EventEndTime", "EventCount", "EventType", "EventSubType", "EventUid",
	"EventOriginalType", "EventProduct", "EventVendor", "EventSchema", "EventSchemaVersion", "EventSeverity",
	"EventOriginalSeverity", "EventMessage", "AlertId", "AlertName", "AlertDescription", "AlertStatus",
	"AlertOriginalStatus", "AlertVerdict", "DetectionMethod", "RuleName", "RuleDescription", "ThreatName",
	"ThreatCategory", "ThreatOriginalCategory", "AttackTactics", "AttackTechniques", "DvcHostname", "DvcId",
	"DvcIdType", "DvcIpAddr", "DvcOs", "Username", "UsernameType", "UserId", "AdditionalFields",
}

// asimEncoder writes one row per record in the shape of Microsoft
// Sentinel's ASIM Alert Event schema (format asim_alert): every stream
// becomes an alert row (an event's EventSubType tells a threat from a policy
// violation); the MITRE tactics and techniques of detections and cases go
// to AttackTactics / AttackTechniques.
type asimEncoder struct {
	t     tape
	f     itemFields
	w     jsonw
	arena []byte
}

// asimSeverity is ASIM's EventSeverity: Informational, Low, Medium, High
// (critical is High, the schema's highest).
func asimSeverity(s string) string {
	switch s {
	case pipeline.SeverityInformational, "info":
		return "Informational"
	case pipeline.SeverityLow:
		return "Low"
	case pipeline.SeverityMedium:
		return "Medium"
	case pipeline.SeverityHigh, pipeline.SeverityCritical:
		return "High"
	}
	return ""
}

// asimThreat is the threat category, detection method and sub type of a
// SIEM item by its group and type.
func asimThreat(group, typ string) (category, method, subType string) {
	switch {
	case strings.HasSuffix(typ, "HmpaCryptoGuard"):
		return "Ransomware", "EDR", "Threat"
	case strings.HasSuffix(typ, "IpsInboundDetection"):
		return "SuspiciousActivity", "Intrusion Detection", "Threat"
	case strings.HasSuffix(typ, "CoreAmsiBlocked"):
		return "Malware", "EDR", "Threat"
	case strings.HasSuffix(typ, "WebFilteringBlocked"):
		return "MaliciousUrl", "", "Policy Violation"
	}
	switch group {
	case "MALWARE":
		return "Malware", "Antivirus", "Threat"
	case "PUA":
		return "Adware", "Antivirus", "Threat"
	case "RUNTIME_DETECTIONS":
		return "SuspiciousActivity", "EDR", "Threat"
	case "WEB", "APPLICATION_CONTROL", "PERIPHERALS", "POLICY":
		return "Security Policy Violation", "", "Policy Violation"
	}
	return "Unknown", "", ""
}

func (e *asimEncoder) str(n int32) string {
	b := e.t.strView(&e.arena, n)
	return unsafeString(b)
}

func (e *asimEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	t := &e.t
	if !t.parseItem(r.Raw) {
		return dst, fmt.Errorf("asim_alert: record %q: %w", r.ID, itemError(r.Raw))
	}
	f := &e.f
	f.read(t)
	e.arena = e.arena[:0]
	w := &e.w
	w.reset(dst)
	w.b = append(w.b, '{')
	e.times(r)
	w.int("EventCount", 1)
	w.lit("EventType", "Alert")
	opt := func(k, v string) {
		if v != "" {
			w.str(k, v)
		}
	}
	var facts xdrFacts
	xdr := r.Stream == pipeline.Detections || r.Stream == pipeline.Cases
	if xdr {
		var err error
		if facts, err = factsOf(r); err != nil {
			return dst, fmt.Errorf("asim_alert: %w", err)
		}
	}
	group := e.str(f.group)
	category, method, subType := asimThreat(group, r.Type)
	switch r.Stream {
	case pipeline.Alerts:
		if subType == "" {
			subType = "Suspicious Activity"
		}
	case pipeline.Detections:
		category, method, subType = "SuspiciousActivity", "EDR", "Suspicious Activity"
	case pipeline.Cases:
		category, method, subType = "SuspiciousActivity", "", "Threat"
	}
	opt("EventSubType", subType)
	w.strAt("EventUid", t, f.id, r.ID)
	if r.Type != "" {
		w.strAt("EventOriginalType", t, f.typ, r.Type)
	}
	w.lit("EventProduct", "Central")
	w.lit("EventVendor", "Sophos")
	w.lit("EventSchema", "AlertEvent")
	w.lit("EventSchemaVersion", "0.1")
	opt("EventSeverity", asimSeverity(r.Severity))
	if r.Severity != "" {
		w.strAt("EventOriginalSeverity", t, f.severity, r.Severity)
	}
	msgNode := f.description
	message := e.str(msgNode)
	if message == "" {
		msgNode = f.name
		message = e.str(msgNode)
	}
	if xdr {
		msgNode, message = 0, facts.message
	}
	var msgStart, msgEnd int // the quoted message as written
	if message != "" {
		w.key("EventMessage")
		msgStart = len(w.b)
		if q := t.quotedOf(msgNode, message); q != nil {
			w.b = append(w.b, q...)
		} else {
			w.b = appendQuoted(w.b, message)
		}
		msgEnd = len(w.b)
	}
	w.strAt("AlertId", t, f.id, r.ID)
	name := r.Name
	if xdr && facts.ruleDesc != "" && r.Stream == pipeline.Detections {
		name = facts.ruleDesc
	}
	opt("AlertName", name)
	if message != "" { // the same text: its escaped form copied
		w.key("AlertDescription")
		w.b = append(w.b, w.b[msgStart:msgEnd]...)
	}
	status := "Active"
	if r.Stream == pipeline.Cases && (facts.status == "resolved" || facts.status == "closed") {
		status = "Closed"
	}
	w.str("AlertStatus", status)
	opt("AlertOriginalStatus", facts.status)
	w.lit("AlertVerdict", "Unknown")
	opt("DetectionMethod", method)
	if xdr {
		opt("RuleName", facts.rule)
		opt("RuleDescription", facts.ruleDesc)
	}
	opt("ThreatName", e.str(f.threat))
	opt("ThreatCategory", category)
	opt("ThreatOriginalCategory", group)
	if len(facts.tacticNames) > 0 {
		w.str("AttackTactics", strings.Join(facts.tacticNames, ", "))
	}
	if len(facts.techniques) > 0 {
		w.str("AttackTechniques", strings.Join(facts.techniques, ", "))
	}
	if r.Host != "" {
		w.strAt("DvcHostname", t, f.location, r.Host)
	}
	if r.EndpointID != "" {
		w.strAt("DvcId", t, f.endpointID, r.EndpointID)
		w.lit("DvcIdType", "Other")
	}
	if ip := e.str(t.lastMember(f.sourceInfo, "ip")); ip != "" && isIP(stringBytes(ip)) {
		w.str("DvcIpAddr", ip)
	}
	if f.data != 0 {
		opt("DvcOs", e.str(t.lastMember(f.data, "endpoint_platform")))
	}
	if u := r.User; u != "" && u != "n/a" {
		w.str("Username", u)
		if strings.Contains(u, `\`) {
			w.lit("UsernameType", "Windows")
		} else {
			w.lit("UsernameType", "Simple")
		}
	}
	opt("UserId", e.str(f.userID))
	w.open("AdditionalFields")
	w.str("SophosStream", string(r.Stream))
	w.str("SophosTenantId", r.Tenant)
	w.key("Item")
	w.b = t.appendCompact(w.b, 0)
	w.close('}')
	w.b = append(w.b, '}')
	return w.b, nil
}

// times writes TimeGenerated and EventStartTime (when, else created_at,
// else now) and EventEndTime (created_at, not before the start), in UTC
// with milliseconds.
func (e *asimEncoder) times(r *pipeline.Record) {
	w := &e.w
	ts := func(k string, ms int64) bool {
		w.key(k)
		w.b = append(w.b, '"')
		var ok bool
		w.b, ok = appendISOMs(w.b, ms, "Z\"")
		return ok
	}
	// The common case, both times in Sophos's form: no time.Time round trip.
	if when, ok := canonISO(stringBytes(r.When)); ok {
		if end, ok := canonISO(stringBytes(r.CreatedAt)); ok {
			end = max(end, when)
			mark, comma := len(w.b), w.comma
			if ts("TimeGenerated", when) && ts("EventStartTime", when) && ts("EventEndTime", end) {
				return
			}
			w.b, w.comma = w.b[:mark], comma
		}
	}
	when := r.WhenTime()
	if when.IsZero() {
		when = time.Now() // TimeGenerated is required; Sophos always sends a time
	}
	tt := func(k string, tm time.Time) {
		w.key(k)
		w.b = append(w.b, '"')
		w.b = tm.UTC().AppendFormat(w.b, "2006-01-02T15:04:05.000Z")
		w.b = append(w.b, '"')
	}
	tt("TimeGenerated", when)
	tt("EventStartTime", when)
	end := r.CreatedTime()
	if end.IsZero() || end.Before(when) {
		end = when
	}
	tt("EventEndTime", end)
}

// stringBytes views s as bytes for a call that neither keeps nor changes them.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
