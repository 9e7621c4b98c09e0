package encoding

import (
	"bytes"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The XDR streams in OCSF: a detection is a Detection Finding (2004) whose
// MITRE ATT&CK list becomes attacks[] (in finding_info, and at the top with
// the security_control profile, as the class asks of security controls);
// a case is an Incident Finding (2005), its attached detections (when the
// cases source attaches them) its finding_info_list and their MITRE its
// attacks[].

// Members of a detection and of a case the mapping consumes.
var (
	ocsfDetectionConsumed = map[string]bool{"id": true, "time": true, "sensorGeneratedAt": true, "type": true,
		"attackType": true, "severity": true, "detectionRule": true, "ruleDescription": true,
		"detectionDescription": true, "device": true, "mitreAttacks": true, "suppressed": true}
	ocsfCaseConsumed = map[string]bool{"id": true, "name": true, "severity": true, "assignee": true,
		"createdAt": true, "updatedAt": true, "resolvedAt": true, "overview": true, "detections": true, "tenant": true}
)

// xdrHeader writes the classification, time, severity and message.
func (e *ocsfEncoder) xdrHeader(c ocsfClass, act int64, actName string, timeNode, fallback int32, sev string, msg int32) {
	w := &e.w
	w.b = append(w.b, '{')
	w.int("class_uid", c.uid)
	w.str("class_name", c.name)
	w.int("category_uid", c.categoryUID)
	w.str("category_name", c.categoryName)
	w.int("activity_id", act)
	w.str("activity_name", actName)
	w.int("type_uid", c.uid*100+act)
	w.str("type_name", c.name+": "+actName)
	ms, ok := e.ms(timeNode)
	if !ok {
		if ms, ok = e.ms(fallback); !ok {
			ms = time.Now().UnixMilli() // required; never absent from Sophos
		}
	}
	w.int("time", ms)
	id := int64(0)
	switch sev {
	case pipeline.SeverityInformational:
		id = 1
	case pipeline.SeverityLow:
		id = 2
	case pipeline.SeverityMedium:
		id = 3
	case pipeline.SeverityHigh:
		id = 4
	case pipeline.SeverityCritical:
		id = 5
	}
	w.int("severity_id", id)
	w.str("severity", ocsfSeverityCap[id])
	if msg != 0 && e.t.kind(msg) == '"' {
		w.raw("message", e.t.text(msg))
	}
}

// xdrMetadata writes metadata for a detection or case.
func (e *ocsfEncoder) xdrMetadata(r *pipeline.Record, feature string, profiles []string, code, logged, original int32, tenant []byte) {
	w, t := &e.w, &e.t
	w.open("metadata")
	w.str("version", OCSFVersion)
	w.open("product")
	w.str("name", "Sophos Central")
	w.str("vendor_name", "Sophos")
	w.open("feature")
	w.str("name", feature)
	w.close('}')
	w.close('}')
	w.openArray("profiles")
	for _, p := range profiles {
		w.elemStr(p)
	}
	w.close(']')
	if id := e.str(e.f.id); len(id) > 0 {
		w.strb("uid", id)
	}
	if code != 0 && t.kind(code) == '"' {
		w.raw("event_code", t.text(code))
	}
	w.str("log_name", r.Stream.Plural())
	switch {
	case len(tenant) > 0:
		w.strb("tenant_uid", tenant)
	case r.Tenant != "":
		w.str("tenant_uid", r.Tenant)
	}
	if ms, ok := e.ms(logged); ok {
		w.int("logged_time", ms)
	}
	if original != 0 && t.kind(original) == '"' {
		w.raw("original_time", t.text(original))
	}
	w.close('}')
}

// mitre writes attacks[] from a mitreAttacks list: one attack per
// technique ({tactic, technique} or, for T1234.001, {tactic, technique
// T1234, sub_technique}), a tactic without techniques alone. seen
// de-duplicates across calls (nil: no de-duplication).
func (e *ocsfEncoder) mitre(list int32, seen map[string]bool) {
	w, t := &e.w, &e.t
	if list == 0 || t.kind(list) != '[' {
		return
	}
	for a := list + 1; a < t.nodes[list].next; a = t.nodes[a].next {
		tac := t.lastMember(a, "tactic")
		tacID, tacName := e.str(t.lastMember(tac, "id")), t.lastMember(tac, "name")
		techs := t.lastMember(tac, "techniques")
		wrote := false
		if techs != 0 && t.kind(techs) == '[' {
			for k := techs + 1; k < t.nodes[techs].next; k = t.nodes[k].next {
				id := e.str(t.lastMember(k, "id"))
				if len(id) == 0 {
					continue
				}
				if seen != nil {
					key := string(tacID) + "/" + string(id)
					if seen[key] {
						wrote = true
						continue
					}
					seen[key] = true
				}
				w.open("")
				e.mitreTactic(tacID, tacName)
				name := t.lastMember(k, "name")
				if parent, _, sub := bytes.Cut(id, []byte(".")); sub {
					w.open("technique")
					w.strb("uid", parent)
					w.close('}')
					w.open("sub_technique")
					w.strb("uid", id)
					if name != 0 && t.kind(name) == '"' {
						w.raw("name", t.text(name))
					}
					w.close('}')
				} else {
					w.open("technique")
					w.strb("uid", id)
					if name != 0 && t.kind(name) == '"' {
						w.raw("name", t.text(name))
					}
					w.close('}')
				}
				w.close('}')
				wrote = true
			}
		}
		if !wrote && len(tacID) > 0 {
			if seen != nil {
				if seen[string(tacID)] {
					continue
				}
				seen[string(tacID)] = true
			}
			w.open("")
			e.mitreTactic(tacID, tacName)
			w.close('}')
		}
	}
}

func (e *ocsfEncoder) mitreTactic(id []byte, name int32) {
	w, t := &e.w, &e.t
	if len(id) == 0 && name == 0 {
		return
	}
	w.open("tactic")
	if len(id) > 0 {
		w.strb("uid", id)
	}
	if name != 0 && t.kind(name) == '"' {
		w.raw("name", t.text(name))
	}
	w.close('}')
}

// hasMitre reports whether a mitreAttacks list names any tactic.
func (e *ocsfEncoder) hasMitre(list int32) bool {
	t := &e.t
	if list == 0 || t.kind(list) != '[' {
		return false
	}
	for a := list + 1; a < t.nodes[list].next; a = t.nodes[a].next {
		if len(e.str(t.lastMember(t.lastMember(a, "tactic"), "id"))) > 0 {
			return true
		}
	}
	return false
}

// detectionInfo writes one detection's finding_info object (d is the
// detection object's node) as an element or under key.
func (e *ocsfEncoder) detectionInfo(key string, d int32) {
	w, t := &e.w, &e.t
	w.open(key)
	if id := e.in(d, "id"); id != 0 && t.kind(id) == '"' {
		w.raw("uid", t.text(id))
	} else {
		w.str("uid", "")
	}
	title := e.in(d, "detectionDescription")
	if title == 0 {
		title = e.in(d, "detectionRule")
	}
	if title != 0 && t.kind(title) == '"' {
		w.raw("title", t.text(title))
	}
	if v := e.in(d, "ruleDescription"); v != 0 && t.kind(v) == '"' {
		w.raw("desc", t.text(v))
	}
	typ, attack := e.in(d, "type"), e.in(d, "attackType")
	if (typ != 0 && t.kind(typ) == '"') || (attack != 0 && t.kind(attack) == '"') {
		w.openArray("types")
		if typ != 0 && t.kind(typ) == '"' {
			w.elemRaw(t.text(typ))
		}
		if attack != 0 && t.kind(attack) == '"' {
			w.elemRaw(t.text(attack))
		}
		w.close(']')
	}
	if rule := e.in(d, "detectionRule"); rule != 0 && t.kind(rule) == '"' {
		w.open("analytic")
		w.raw("name", t.text(rule))
		w.raw("uid", t.text(rule))
		w.int("type_id", 1)
		w.str("type", "Rule")
		w.close('}')
	}
	if m := e.in(d, "mitreAttacks"); e.hasMitre(m) {
		w.openArray("attacks")
		e.mitre(m, nil)
		w.close(']')
	}
	if ms, ok := e.ms(e.in(d, "time")); ok {
		w.int("created_time", ms)
	}
	if ms, ok := e.ms(e.in(d, "sensorGeneratedAt")); ok {
		w.int("first_seen_time", ms)
	}
	w.close('}')
}

// deviceOf writes device from a detection's device object, or a host name.
func (e *ocsfEncoder) xdrDevice(dev int32, host string) {
	w, t := &e.w, &e.t
	name := e.str(t.lastMember(dev, "entity"))
	if len(name) == 0 {
		name = []byte(host)
	}
	id := t.lastMember(dev, "id")
	if len(name) == 0 && (id == 0 || t.kind(id) != '"') {
		return
	}
	w.open("device")
	if len(name) > 0 {
		w.strb("name", name)
		if isHostname(name) {
			w.strb("hostname", name)
		}
	}
	if id != 0 && t.kind(id) == '"' {
		w.raw("uid", t.text(id))
	}
	typ := e.str(t.lastMember(dev, "type"))
	switch {
	case is(typ, "server"):
		w.int("type_id", 1)
		w.str("type", "Server")
	case is(typ, "mobile"):
		w.int("type_id", 5)
		w.str("type", "Mobile")
	case len(typ) > 0:
		w.int("type_id", 99)
		w.strb("type", typ)
	default:
		w.int("type_id", 0)
		w.str("type", "Unknown")
	}
	w.close('}')
}

// xdrUser writes actor.user (or, for key "assignee", the user itself) from
// a DOMAIN\name or plain name.
func (e *ocsfEncoder) xdrUser(key, name string) {
	if name == "" || name == "n/a" {
		return
	}
	w := &e.w
	w.open(key)
	if key == "actor" {
		w.open("user")
	}
	if i := bytes.IndexByte([]byte(name), '\\'); i > 0 && i < len(name)-1 {
		w.str("name", name[i+1:])
		w.str("domain", name[:i])
	} else {
		w.str("name", name)
	}
	if key == "actor" {
		w.close('}')
	}
	w.close('}')
}

// unmappedExcept copies the item's members not in consumed.
func (e *ocsfEncoder) unmappedExcept(consumed map[string]bool) {
	w, t := &e.w, &e.t
	opened := false
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		if consumed[t.keyName(k)] {
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

// member is the item's top-level member name (0: absent).
func (e *ocsfEncoder) member(name string) int32 {
	t := &e.t
	var found int32
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		if t.keyIs(k, name) {
			found = k + 1
		}
	}
	return found
}

// in is member name of object d, or of the item when d is 0.
func (e *ocsfEncoder) in(d int32, name string) int32 {
	if d == 0 {
		return e.member(name)
	}
	return e.t.lastMember(d, name)
}

// detection writes a Detection Finding for an XDR detection.
func (e *ocsfEncoder) detection(dst []byte, r *pipeline.Record) []byte {
	w := &e.w
	w.reset(dst)
	m := e.member("mitreAttacks")
	mitre := e.hasMitre(m)
	e.xdrHeader(ocsfDetection, 1, "Create", e.member("sensorGeneratedAt"), e.member("time"), r.Severity, e.member("detectionDescription"))
	if string(e.t.valueText(e.member("suppressed"))) == "true" {
		w.int("status_id", 3)
		w.str("status", "Suppressed")
	} else {
		w.int("status_id", 1)
		w.str("status", "New")
	}
	profiles := []string{"host"}
	if mitre {
		profiles = append(profiles, "security_control")
	}
	e.xdrMetadata(r, "XDR", profiles, e.member("detectionRule"), e.member("time"), e.member("sensorGeneratedAt"), nil)
	e.detectionInfo("finding_info", 0)
	if mitre {
		w.openArray("attacks")
		e.mitre(m, nil)
		w.close(']')
	}
	e.xdrDevice(e.member("device"), r.Host)
	e.xdrUser("actor", r.User)
	e.unmappedExcept(ocsfDetectionConsumed)
	e.rawData(r)
	return append(w.b, '}')
}

// incident writes an Incident Finding for a case.
func (e *ocsfEncoder) incident(dst []byte, r *pipeline.Record) []byte {
	w, t := &e.w, &e.t
	w.reset(dst)
	status := e.str(e.member("status"))
	act, actName := int64(2), "Update"
	statusID, statusName := int64(2), "In Progress"
	switch {
	case is(status, "new"):
		act, actName = 1, "Create"
		statusID, statusName = 1, "New"
	case is(status, "onhold"), is(status, "on_hold"), is(status, "on hold"):
		statusID, statusName = 3, "On Hold"
	case is(status, "resolved"):
		act, actName = 3, "Close"
		statusID, statusName = 4, "Resolved"
	case is(status, "closed"):
		act, actName = 3, "Close"
		statusID, statusName = 5, "Closed"
	}
	e.xdrHeader(ocsfIncident, act, actName, e.member("updatedAt"), e.member("createdAt"), r.Severity, e.member("overview"))
	w.int("status_id", statusID)
	w.str("status", statusName)
	if ms, ok := e.ms(e.member("createdAt")); ok {
		w.int("start_time", ms)
	}
	if ms, ok := e.ms(e.member("resolvedAt")); ok {
		w.int("end_time", ms)
	}
	prio := int64(0)
	switch r.Severity {
	case pipeline.SeverityLow:
		prio = 1
	case pipeline.SeverityMedium:
		prio = 2
	case pipeline.SeverityHigh:
		prio = 3
	case pipeline.SeverityCritical:
		prio = 4
	}
	w.int("priority_id", prio)
	w.str("priority", [...]string{"Unknown", "Low", "Medium", "High", "Critical"}[prio])
	if v := e.member("overview"); v != 0 && t.kind(v) == '"' {
		w.raw("desc", t.text(v))
	}
	tenant := e.str(t.lastMember(e.member("tenant"), "id"))
	e.xdrMetadata(r, "Cases", []string{"host", "incident"}, e.member("type"), e.member("updatedAt"), e.member("createdAt"), tenant)
	// The detections behind the case: attached ones in full, else the
	// initial detection's id, else the case itself.
	dets := e.member("detections")
	w.openArray("finding_info_list")
	n := 0
	if dets != 0 && t.kind(dets) == '[' {
		for d := dets + 1; d < t.nodes[dets].next; d = t.nodes[d].next {
			if t.kind(d) == '{' {
				e.detectionInfo("", d)
				n++
			}
		}
	}
	if n == 0 {
		w.open("")
		if id := t.lastMember(e.member("initialDetection"), "id"); id != 0 && t.kind(id) == '"' && len(t.inner(id)) > 0 {
			w.raw("uid", t.text(id))
		} else {
			w.strb("uid", e.str(e.f.id))
			if v := e.member("name"); v != 0 && t.kind(v) == '"' {
				w.raw("title", t.text(v))
			}
		}
		w.close('}')
	}
	w.close(']')
	if dets != 0 && t.kind(dets) == '[' {
		seen := map[string]bool{}
		start := len(w.b)
		w.openArray("attacks")
		mark := len(w.b)
		for d := dets + 1; d < t.nodes[dets].next; d = t.nodes[d].next {
			e.mitre(t.lastMember(d, "mitreAttacks"), seen)
		}
		if len(w.b) == mark { // no MITRE: no attacks member
			w.b = w.b[:start]
			w.stack = w.stack[:len(w.stack)-1]
			w.comma = true
		} else {
			w.close(']')
		}
	}
	// Incident Finding needs an assignee or an assignee group: the
	// analyst when there is one, else the team the case is managed by.
	if a := e.str(t.lastMember(e.member("assignee"), "name")); len(a) > 0 {
		e.xdrUser("assignee", string(a))
	} else {
		w.open("assignee_group")
		switch mb := e.str(e.member("managedBy")); {
		case is(mb, "sophos"):
			w.str("name", "Sophos MDR")
		case len(mb) > 0:
			w.strb("name", mb)
		default:
			w.str("name", "unassigned")
		}
		w.str("type", "managedBy")
		w.close('}')
	}
	e.xdrDevice(0, r.Host)
	e.unmappedExcept(ocsfCaseConsumed)
	e.rawData(r)
	return append(w.b, '}')
}
