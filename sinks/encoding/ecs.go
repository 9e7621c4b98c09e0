package encoding

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ECSVersion is the Elastic Common Schema version the ecs documents follow.
const ECSVersion = "8.11.0"

// ecsEncoder writes one Elastic Common Schema document per record, after the
// mapping of the Elastic sophos_central integration (reference Appendix A).
// Keys come in a fixed order; groups with nothing to say are left out.
//
//	@timestamp           when, else created_at (as sent; omitted when both are missing)
//	ecs.version          ECSVersion
//	message              events: name; alerts: description
//	event.kind           "event" | "alert"
//	event.category/type  alerts: ["host"] / ["info"] (the integration's constants)
//	event.code           alerts: type
//	event.action         events: name
//	event.id             id
//	event.created        created_at
//	event.severity       severity through the official script's CEF map: none 0,
//	                     low 1, medium 5, high 8, very_high 10; left out for other
//	                     values (the text stays in sophos_central.*.severity)
//	event.module/dataset "sophos_central" / "sophos_central.<alert|event>"
//	organization.id      customer_id, else the record's tenant
//	user.name/domain     source split at the first backslash (DOMAIN\user);
//	                     Sophos's placeholder "n/a" maps to nothing
//	user.id              events: user_id
//	source.ip/port       [data.]source_info.ip (only a valid IP); IPS local port
//	destination.ip/port  IPS remote ip / port (ports as numbers)
//	process.*            events: IPS executableName/Path/Pid, AMSI processName,
//	                     processId, processPath (→ working_directory, as the
//	                     integration does), parentProcessPath/Id; appSha256 →
//	                     process.hash.sha256. Alerts: data.ips_threat
//	                     executable_name (→ executable, as the integration does) and
//	                     executable_pid, data.hmpa_exploit process_name/pid
//	host.name/id/type    location, endpoint id, endpoint type; host.os.platform
//	threat.feed.name     events: threat (the integration's mapping)
//	threat.software.name threat, both streams
//	related.ip/user/hosts the IPs, user name and host name above
//	sophos_central       tenant_id, then under "event" or "alert" every member
//	                     of the item except those moved above (id, when,
//	                     created_at, customer_id, user_id, appSha256, name for
//	                     events, type and description for alerts) — a member
//	                     stays when it was not moved (not a string, or a
//	                     date that does not parse)
//
// Under sophos_central the item's values are copied compacted (a repeated
// key keeps its last value: Elasticsearch rejects duplicate keys), with
// these changes so that one field never needs two mappings:
// data.*_at epoch milliseconds become ISO-8601 UTC dates; data.event_service_id
// and data.user_match_uuid in their BSON binary form {"type":3,"data":<base64>}
// become the UUID string (Java legacy byte order, the same text as the
// string form); data.threat_id and data.user_match_id in their string form
// become {"id": <hex>} and in their object form keep their members, with
// time/date (ms) and timestamp/timeSecond (s) as ISO dates and "id" added as
// the ObjectId hex rebuilt from timestamp, machineIdentifier,
// processIdentifier and counter.
type ecsEncoder struct {
	t   tape
	p   py
	f   ecsFields
	buf []byte
}

// ecsFields are the tape nodes of the values the mapping reads (0 when
// absent).
type ecsFields struct {
	when, createdAt, id, customerID, typ, name, description, source, userID int32
	location, endpointID, endpointType, severity, threat, appSha256         int32
	srcIP, srcPort, dstIP, dstPort                                          int32
	pName, pExe, pPid, pWorkDir, ppExe, ppPid, platform                     int32
	data, sourceInfo, ips, amsi                                             int32
}

func (e *ecsEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	alert := r.Stream == pipeline.Alerts
	if !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("ecs: record %q: %w", r.ID, itemError(r.Raw))
	}
	t := &e.t
	e.p.t = t
	e.collect(alert)
	f := &e.f
	w := ecsWriter{dst: dst, t: t}
	w.open("")

	// Elasticsearch rejects a whole document over one bad date, so only
	// text that parses as RFC 3339 goes to the ECS date fields; anything else
	// stays under sophos_central.
	if !validDate(t.valueText(f.when)) {
		f.when = 0
	}
	if !validDate(t.valueText(f.createdAt)) {
		f.createdAt = 0
	}
	if ts := t.firstStr(f.when, f.createdAt); ts != 0 {
		w.node(`"@timestamp":`, ts)
	}
	w.open(`"ecs":`)
	w.literal(`"version":`, `"`+ECSVersion+`"`)
	w.close()
	if alert {
		w.node(`"message":`, f.description)
	} else {
		w.node(`"message":`, f.name)
	}

	w.open(`"event":`)
	if alert {
		w.literal(`"kind":`, `"alert"`)
		w.literal(`"category":`, `["host"]`)
		w.literal(`"type":`, `["info"]`)
		w.node(`"code":`, f.typ)
	} else {
		w.literal(`"kind":`, `"event"`)
		w.node(`"action":`, f.name)
	}
	w.node(`"id":`, f.id)
	w.node(`"created":`, f.createdAt)
	if sev, ok := ecsSeverity(t.valueText(f.severity)); ok {
		w.key(`"severity":`)
		w.dst = appendInt(w.dst, sev)
	}
	w.literal(`"module":`, `"sophos_central"`)
	if alert {
		w.literal(`"dataset":`, `"sophos_central.alert"`)
	} else {
		w.literal(`"dataset":`, `"sophos_central.event"`)
	}
	w.close()

	if t.isStr(f.customerID) {
		w.open(`"organization":`)
		w.node(`"id":`, f.customerID)
		w.close()
	} else if r.Tenant != "" {
		w.open(`"organization":`)
		w.str(`"id":`, r.Tenant)
		w.close()
	}

	// user
	e.buf = e.buf[:0]
	var domain, user []byte
	if t.isStr(f.source) {
		e.buf = t.appendStrText(e.buf, f.source)
		domain, user = splitUser(e.buf)
	}
	if user != nil || domain != nil || t.isStr(f.userID) {
		w.open(`"user":`)
		w.text(`"name":`, user)
		w.text(`"domain":`, domain)
		if !alert {
			w.node(`"id":`, f.userID)
		}
		w.close()
	}

	srcIP := validIP(t.valueText(f.srcIP))
	dstIP := validIP(t.valueText(f.dstIP))
	srcPort, srcPortOK := portNumber(t.valueText(f.srcPort))
	dstPort, dstPortOK := portNumber(t.valueText(f.dstPort))
	if srcIP != nil || srcPortOK {
		w.open(`"source":`)
		w.rawString(`"ip":`, srcIP)
		if srcPortOK {
			w.key(`"port":`)
			w.dst = appendInt(w.dst, srcPort)
		}
		w.close()
	}
	if dstIP != nil || dstPortOK {
		w.open(`"destination":`)
		w.rawString(`"ip":`, dstIP)
		if dstPortOK {
			w.key(`"port":`)
			w.dst = appendInt(w.dst, dstPort)
		}
		w.close()
	}

	pid, pidOK := intValue(t.valueText(f.pPid))
	ppid, ppidOK := intValue(t.valueText(f.ppPid))
	if t.isStr(f.pName) || t.isStr(f.pExe) || pidOK || t.isStr(f.pWorkDir) || t.isStr(f.ppExe) || ppidOK || t.isStr(f.appSha256) {
		w.open(`"process":`)
		w.node(`"name":`, f.pName)
		if pidOK {
			w.key(`"pid":`)
			w.dst = appendInt(w.dst, pid)
		}
		w.node(`"executable":`, f.pExe)
		w.node(`"working_directory":`, f.pWorkDir)
		if t.isStr(f.ppExe) || ppidOK {
			w.open(`"parent":`)
			w.node(`"executable":`, f.ppExe)
			if ppidOK {
				w.key(`"pid":`)
				w.dst = appendInt(w.dst, ppid)
			}
			w.close()
		}
		if t.isStr(f.appSha256) {
			w.open(`"hash":`)
			w.node(`"sha256":`, f.appSha256)
			w.close()
		}
		w.close()
	}

	if t.isStr(f.location) || t.isStr(f.endpointID) || t.isStr(f.endpointType) || t.isStr(f.platform) {
		w.open(`"host":`)
		w.node(`"name":`, f.location)
		w.node(`"id":`, f.endpointID)
		w.node(`"type":`, f.endpointType)
		if t.isStr(f.platform) {
			w.open(`"os":`)
			w.node(`"platform":`, f.platform)
			w.close()
		}
		w.close()
	}

	if t.isStr(f.threat) {
		w.open(`"threat":`)
		if !alert {
			w.open(`"feed":`)
			w.node(`"name":`, f.threat)
			w.close()
		}
		w.open(`"software":`)
		w.node(`"name":`, f.threat)
		w.close()
		w.close()
	}

	if srcIP != nil || dstIP != nil || user != nil || t.isStr(f.location) {
		w.open(`"related":`)
		if srcIP != nil || dstIP != nil {
			w.key(`"ip":`)
			w.dst = append(w.dst, '[')
			if srcIP != nil {
				w.dst = appendJSONString(w.dst, jsonText(srcIP))
			}
			if dstIP != nil && (srcIP == nil || !textEq(jsonText(srcIP), jsonText(dstIP))) {
				if srcIP != nil {
					w.dst = append(w.dst, ',')
				}
				w.dst = appendJSONString(w.dst, jsonText(dstIP))
			}
			w.dst = append(w.dst, ']')
		}
		if user != nil {
			w.key(`"user":`)
			w.dst = append(w.dst, '[')
			w.dst = appendJSONString(w.dst, plainText(user))
			w.dst = append(w.dst, ']')
		}
		if t.isStr(f.location) {
			w.key(`"hosts":`)
			w.dst = append(w.dst, '[')
			w.dst = appendJSONString(w.dst, jsonText(t.text(f.location)))
			w.dst = append(w.dst, ']')
		}
		w.close()
	}

	w.open(`"sophos_central":`)
	if r.Tenant != "" {
		w.str(`"tenant_id":`, r.Tenant)
	}
	if alert {
		w.open(`"alert":`)
	} else {
		w.open(`"event":`)
	}
	e.appendRest(&w, alert, f)
	w.close()
	w.close()

	w.close()
	return w.dst, nil
}

// collect reads the fields the mapping needs, the last of a repeated key
// winning as in every JSON reader that keeps one. Keys are matched as
// written: one with escapes never matches.
func (e *ecsEncoder) collect(alert bool) {
	e.f = ecsFields{}
	f := &e.f
	t := &e.t
	for k, end := t.itemMembers(); k < end; k = t.nodes[k+1].next {
		v := k + 1
		switch t.keyName(k) {
		case "when":
			f.when = v
		case "created_at":
			f.createdAt = v
		case "id":
			f.id = v
		case "customer_id":
			f.customerID = v
		case "type":
			f.typ = v
		case "name":
			f.name = v
		case "description":
			f.description = v
		case "source":
			f.source = v
		case "user_id":
			f.userID = v
		case "location":
			f.location = v
		case "endpoint_id":
			f.endpointID = v
		case "endpoint_type":
			f.endpointType = v
		case "severity":
			f.severity = v
		case "threat":
			f.threat = v
		case "appSha256":
			f.appSha256 = v
		case "data":
			f.data = v
		case "source_info":
			f.sourceInfo = v
		case "ips_threat_data":
			f.ips = v
		case "amsi_threat_data":
			f.amsi = v
		}
	}
	if alert {
		var sourceInfo, ips, hmpa int32
		for k, end := t.members(f.data); k < end; k = t.nodes[k+1].next {
			v := k + 1
			switch t.keyName(k) {
			case "source_info":
				sourceInfo = v
			case "ips_threat":
				ips = v
			case "hmpa_exploit":
				hmpa = v
			case "endpoint_platform":
				f.platform = v
			case "endpoint_id":
				if !t.isStr(f.endpointID) {
					f.endpointID = v
				}
			case "endpoint_type":
				if !t.isStr(f.endpointType) {
					f.endpointType = v
				}
			}
		}
		f.srcIP = t.lastMember(sourceInfo, "ip")
		for k, end := t.members(ips); k < end; k = t.nodes[k+1].next {
			v := k + 1
			switch t.keyName(k) {
			case "remote_ip":
				f.dstIP = v
			case "remote_port":
				f.dstPort = v
			case "local_port":
				f.srcPort = v
			case "executable_name":
				f.pExe = v
			case "executable_pid":
				f.pPid = v
			}
		}
		for k, end := t.members(hmpa); k < end; k = t.nodes[k+1].next {
			v := k + 1
			switch t.keyName(k) {
			case "process_name":
				f.pName = v
			case "process_pid":
				f.pPid = v
			}
		}
		f.appSha256 = 0 // events only
		return
	}
	f.srcIP = t.lastMember(f.sourceInfo, "ip")
	var ipsName, amsiName, amsiPid int32
	for k, end := t.members(f.ips); k < end; k = t.nodes[k+1].next {
		v := k + 1
		switch t.keyName(k) {
		case "localPort":
			f.srcPort = v
		case "remoteIp":
			f.dstIP = v
		case "remotePort":
			f.dstPort = v
		case "executableName":
			ipsName = v
		case "executablePath":
			f.pExe = v
		case "executablePid":
			f.pPid = v
		}
	}
	for k, end := t.members(f.amsi); k < end; k = t.nodes[k+1].next {
		v := k + 1
		switch t.keyName(k) {
		case "processName":
			amsiName = v
		case "processId":
			amsiPid = v
		case "processPath":
			f.pWorkDir = v
		case "parentProcessPath":
			f.ppExe = v
		case "parentProcessId":
			f.ppPid = v
		}
	}
	f.pName = t.firstStr(ipsName, amsiName)
	if _, ok := intValue(t.valueText(f.pPid)); !ok {
		f.pPid = amsiPid
	}
}

func isString(v []byte) bool { return len(v) > 0 && v[0] == '"' }

// isStr reports whether node n is present and a string.
func (t *tape) isStr(n int32) bool { return n != 0 && t.nodes[n].kind == '"' }

// firstStr returns the first of nodes a, b that is a string, or 0.
func (t *tape) firstStr(a, b int32) int32 {
	if t.isStr(a) {
		return a
	}
	if t.isStr(b) {
		return b
	}
	return 0
}

// ecsSeverity maps a severity string like the official script's CEF map.
func ecsSeverity(v []byte) (int, bool) {
	if !isString(v) {
		return 0, false
	}
	t := jsonText(v)
	for _, s := range severityMap {
		if textIs(t, s.name) {
			return s.cef, true
		}
	}
	return 0, false
}

// splitUser splits DOMAIN\user at the first backslash, as the integration's
// grok ^(?:%{DATA:domain}\\)?%{GREEDYDATA:user}$ does. "" and "n/a" give
// nothing.
func splitUser(s []byte) (domain, user []byte) {
	if len(s) == 0 || string(s) == "n/a" {
		return nil, nil
	}
	for i, c := range s {
		if c == '\\' {
			domain, user = s[:i], s[i+1:]
			if len(domain) == 0 {
				domain = nil
			}
			if len(user) == 0 {
				user = nil
			}
			return domain, user
		}
	}
	return nil, s
}
