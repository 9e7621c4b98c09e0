package emulator

import (
	"encoding/base64"
	"time"
)

// incident is everything drawn from an item's key: both the event and the
// alert rendering of one key read the same values, so an alert and its
// event twin tell the same story.
type incident struct {
	et        *evType
	ep        *endpoint
	sev       string
	a, b, c   uint64 // detail words
	whenBack  int64
	whenHasMs bool
	bson      bool
}

func (t *tenant) incident(key uint64, alert bool) incident {
	r := newRnd(key)
	var in incident
	if alert {
		in.et = &evTypes[alertIdx[r.pickWeighted(alertWeights, alertTotal)]]
	} else {
		in.et = &evTypes[eventIdx[r.pickWeighted(eventWeights, eventTotal)]]
	}
	if in.et.winOnly && len(t.winHosts) > 0 {
		in.ep = t.hosts[t.winHosts[r.intn(len(t.winHosts))]]
	} else {
		in.ep = t.hosts[r.intn(len(t.hosts))]
	}
	in.sev = in.et.sev[r.intn(len(in.et.sev))]
	in.a, in.b, in.c = r.next(), r.next(), r.next()
	in.whenBack = int64(r.intn(4000))
	in.whenHasMs = r.chance(0.15)
	in.bson = r.chance(0.5)
	return in
}

// whenMs is the device time: shortly before created_at, usually whole seconds.
func (in *incident) whenMs(created int64) int64 {
	w := created - in.whenBack
	if !in.whenHasMs {
		w -= w % 1000
	}
	return w
}

func (in *incident) paths() []pathT {
	switch in.ep.platform {
	case "macOS":
		return macPathsJ
	case "linux":
		return linuxPathsJ
	}
	return winPathsJ
}

func (in *incident) appendPath(b []byte) []byte {
	ps := in.paths()
	p := ps[in.b%uint64(len(ps))]
	b = append(b, p.pre...)
	if p.user {
		b = append(b, in.ep.login...)
		b = append(b, p.post...)
	}
	return b
}

// hasThreat reports whether the item names a threat.
func (in *incident) hasThreat() bool {
	switch in.et.kind {
	case kDetected, kCleanedUp, kCleanupFailed, kPuaDetected, kPuaCleanupFailed, kIPS, kAMSI, kCryptoGuard:
		return true
	}
	return false
}

// appendThreat appends the threat name (escaped, no quotes).
func (in *incident) appendThreat(b []byte) []byte {
	switch in.et.kind {
	case kPuaDetected, kPuaCleanupFailed:
		return append(b, puaJ[in.a%uint64(len(puaJ))]...)
	case kIPS:
		b = append(b, "IPS/Inbound/"...)
		return appendInt(b, int64(7700000+in.a%100000))
	case kAMSI:
		return append(b, amsiNames[in.a%uint64(len(amsiNames))]...)
	case kCryptoGuard:
		return append(b, "CryptoGuard"...)
	}
	return append(b, malwareJ[in.a%uint64(len(malwareJ))]...)
}

// ips holds the values of an IPS detection.
type ips struct {
	localPort, remotePort, pid int64
	remote                     [4]int
	exe                        int
	sig                        int
	detType                    int64
	rmac                       uint64
}

var ipsPorts = []int64{445, 1433, 443, 80, 3389, 8080, 135}

func (in *incident) ips() ips {
	v := ips{
		localPort:  ipsPorts[in.c%uint64(len(ipsPorts))],
		remotePort: int64(49152 + (in.c>>8)%16000),
		pid:        int64(1000 + (in.c>>24)%8000),
		exe:        int((in.b >> 8) % uint64(len(ipsExecutables))),
		sig:        int((in.b >> 16) % uint64(len(ipsSignatures))),
		detType:    int64((in.b >> 24) % 2),
		rmac:       in.c >> 12,
	}
	nets := [][2]int{{198, 51}, {203, 0}, {45, 155}, {185, 220}}
	n := nets[(in.a>>20)%4]
	v.remote = [4]int{n[0], n[1], int((in.a >> 28) % 256), int(1 + (in.a>>36)%254)}
	if n[0] == 203 {
		v.remote[2] = 113
	} else if n[0] == 198 {
		v.remote[2] = 100
	}
	return v
}

// appendTSID appends a technical support id like 2024051408.81245573.2.
func appendTSID(b []byte, whenMs int64, c uint64) []byte {
	t := time.UnixMilli(whenMs).UTC()
	b = t.AppendFormat(b, "2006010215")
	b = append(b, '.')
	b = appendInt(b, int64(10000000+c%90000000))
	b = append(b, '.')
	return appendInt(b, int64(1+c%3))
}

func appendMAC(b []byte, v uint64) []byte {
	const hexU = "0123456789ABCDEF"
	for i := 0; i < 6; i++ {
		if i > 0 {
			b = append(b, ':')
		}
		x := byte(v >> (8 * i))
		b = append(b, hexU[x>>4], hexU[x&0xF])
	}
	return b
}

// appendRawData appends the multi-line IPS rawData text (escaped).
func (in *incident) appendRawData(b []byte, v ips) []byte {
	s := ipsSignatures[v.sig]
	b = append(b, "Message       "...)
	b = append(b, s.msg...)
	if s.cve != "" {
		b = append(b, `\nReference     `...)
		b = append(b, s.cve...)
	}
	b = append(b, `\nPacket type   TCP\nLocal IP:     `...)
	b = append(b, in.ep.ipv4...)
	b = append(b, `\nLocal Port:   `...)
	b = appendInt(b, v.localPort)
	b = append(b, `\nLocal MAC:    `...)
	b = append(b, in.ep.mac...)
	b = append(b, `\nRemote IP:    `...)
	b = appendIP(b, v.remote[0], v.remote[1], v.remote[2], v.remote[3])
	b = append(b, `\nRemote Port:  `...)
	b = appendInt(b, v.remotePort)
	b = append(b, `\nRemote MAC:   `...)
	return appendMAC(b, v.rmac)
}

// appendText appends the event name / alert description (escaped).
func (in *incident) appendText(b []byte, whenMs int64) []byte {
	quoted := func(b []byte, prefix string) []byte {
		b = append(b, prefix...)
		b = append(b, '\'')
		b = in.appendThreat(b)
		b = append(b, "' at '"...)
		b = in.appendPath(b)
		return append(b, '\'')
	}
	switch in.et.kind {
	case kDetected:
		return quoted(b, "Malware detected: ")
	case kCleanedUp:
		return quoted(b, "Malware cleaned up: ")
	case kCleanupFailed:
		return quoted(b, "Manual cleanup required: ")
	case kPuaDetected:
		return quoted(b, "PUA detected: ")
	case kPuaCleanupFailed:
		return quoted(b, "Manual PUA cleanup required: ")
	case kIPS:
		v := in.ips()
		b = append(b, "Malicious inbound network traffic blocked from a remote computer at "...)
		b = appendIP(b, v.remote[0], v.remote[1], v.remote[2], v.remote[3])
		b = append(b, " (Technical Support reference: "...)
		b = appendTSID(b, whenMs, in.c)
		return append(b, ')')
	case kAMSI:
		b = append(b, "AMSI Protection blocked a threat: "...)
		b = in.appendThreat(b)
		b = append(b, " at "...)
		return append(b, amsiProcesses[in.b%uint64(len(amsiProcesses))].path...)
	case kCryptoGuard:
		b = append(b, "CryptoGuard detected ransomware in "...)
		return in.appendCGPath(b)
	case kUpdateSuccess:
		return append(b, "Update succeeded"...)
	case kUpdateFailure:
		return append(b, updFailJ[in.a%uint64(len(updFailJ))]...)
	case kOutOfDate:
		if in.ep.kind == "server" {
			return append(b, "Server out of date"...)
		}
		return append(b, "Computer out of date"...)
	case kWebControl:
		b = append(b, '\'')
		b = append(b, urlJ[in.a%uint64(len(urlJ))]...)
		b = append(b, "' blocked due to category '"...)
		b = append(b, catJ[in.b%uint64(len(catJ))]...)
		return append(b, '\'')
	case kWebFiltering:
		b = append(b, `Access was blocked to \"`...)
		b = append(b, urlJ[in.a%uint64(len(urlJ))]...)
		b = append(b, `\" because of \"Malicious content\"`...)
		return b
	case kAppAllowed:
		a := controlledApps[in.a%uint64(len(controlledApps))]
		b = append(b, "Controlled application allowed: "...)
		b = append(b, a.name...)
		b = append(b, " ("...)
		b = append(b, a.category...)
		return append(b, ')')
	case kServiceNotRunning:
		return append(b, "One or more Sophos services are missing or not running."...)
	case kCompliant:
		return append(b, "Device compliant with policy 'Default device compliance'"...)
	case kNonCompliant:
		b = append(b, "Device not compliant: "...)
		return append(b, nonCompJ[in.a%uint64(len(nonCompJ))]...)
	case kDeviceAlerted:
		d := devices[in.a%uint64(len(devices))]
		b = append(b, "Peripheral allowed: '"...)
		b = append(b, d.name...)
		b = append(b, "' ("...)
		b = append(b, d.kind...)
		return append(b, ')')
	case kScanComplete:
		return append(b, "Scan 'Sophos Cloud Scheduled Scan' completed"...)
	case kUserAutoCreated:
		b = append(b, "New user added automatically: "...)
		if in.ep.personName != "" {
			return appendEscaped(b, in.ep.personName)
		}
		return append(b, in.ep.sourceJ...)
	}
	return b
}

func (in *incident) appendCGPath(b []byte) []byte {
	i := in.b % uint64(len(cgPathsJ))
	p := cgPathsJ[i]
	b = append(b, p.pre...)
	if p.user {
		b = append(b, in.ep.login...)
		b = append(b, p.post...)
	}
	return b
}

// appendRemedy appends core_remedy_items for a cleanup (success or
// failure): the file, and on Windows often the process and a Run key too.
func (in *incident) appendRemedy(b []byte, ok bool) []byte {
	result := "FAILED_TO_DELETE"
	if ok {
		result = "SUCCESS"
	}
	n := 1
	if in.ep.platform == "windows" {
		n += int(in.c>>40) % 3
	}
	b = append(b, `{"items":[{"type":"file","result":"`...)
	b = append(b, result...)
	b = append(b, `","suspendResult":"NOT_APPLICABLE","descriptor":"`...)
	b = in.appendPath(b)
	b = append(b, `","processPath":"","sophosPid":""}`...)
	if n >= 2 {
		b = append(b, `,{"type":"process","result":"`...)
		b = append(b, result...)
		b = append(b, `","suspendResult":"SUCCESS","descriptor":"`...)
		b = in.appendPath(b)
		b = append(b, `","processPath":"`...)
		b = in.appendPath(b)
		b = append(b, `","sophosPid":"`...)
		b = appendInt(b, int64(1000+in.c%9000))
		b = append(b, ':')
		b = appendInt(b, int64(133570000000000000+(in.a>>8)%9999999999))
		b = append(b, `"}`...)
	}
	if n >= 3 {
		b = append(b, `,{"type":"regkey","result":"`...)
		b = append(b, result...)
		b = append(b, `","suspendResult":"NOT_APPLICABLE","descriptor":"HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\`...)
		b = appendHexKey(b, in.b>>4, 6)
		b = append(b, `","processPath":"","sophosPid":""}`...)
	}
	b = append(b, `],"totalItems":`...)
	b = appendInt(b, int64(n))
	return append(b, '}')
}

// userNA reports whether the item's source is "n/a" (system events).
func (in *incident) userNA() bool {
	switch in.et.kind {
	case kUpdateSuccess, kUpdateFailure, kOutOfDate, kScanComplete, kCompliant, kNonCompliant:
		return true
	}
	return false
}

// appendEvent appends one SIEM event object.
func (t *tenant) appendEvent(b []byte, it item) []byte {
	in := t.incident(it.key, it.alert)
	ep := in.ep
	when := in.whenMs(it.ms)
	b = append(b, `{"when":"`...)
	b = appendISO(b, when)
	b = append(b, `","id":"`...)
	b = appendUUID(b, it.hi, it.lo)
	b = append(b, `","customer_id":"`...)
	b = append(b, t.id...)
	b = append(b, `","severity":"`...)
	b = append(b, in.sev...)
	b = append(b, `","created_at":"`...)
	b = appendISO(b, it.ms)
	b = append(b, `","source_info":{"ip":"`...)
	b = append(b, ep.ipv4...)
	b = append(b, `"},"endpoint_type":"`...)
	b = append(b, ep.kind...)
	b = append(b, `","endpoint_id":"`...)
	b = append(b, ep.id...)
	b = append(b, '"')
	if in.hasThreat() {
		switch in.c % 5 {
		case 0, 1:
			b = append(b, `,"origin":null`...)
		case 2:
			b = append(b, `,"origin":"SAV"`...)
		case 3:
			b = append(b, `,"origin":"ML"`...)
		}
	}
	b = append(b, `,"type":"`...)
	b = append(b, in.et.typ...)
	b = append(b, `","location":"`...)
	b = append(b, ep.hostJ...)
	b = append(b, `","source":"`...)
	if in.userNA() {
		b = append(b, `n/a"`...)
	} else {
		b = append(b, ep.sourceJ...)
		b = append(b, `","user_id":"`...)
		b = append(b, ep.userID...)
		b = append(b, '"')
	}
	b = append(b, `,"group":"`...)
	b = append(b, in.et.group...)
	b = append(b, '"')
	if in.hasThreat() {
		b = append(b, `,"threat":"`...)
		b = in.appendThreat(b)
		b = append(b, '"')
	}
	switch in.et.kind {
	case kCleanedUp, kCleanupFailed:
		b = append(b, `,"core_remedy_items":`...)
		b = in.appendRemedy(b, in.et.kind == kCleanedUp)
	case kIPS:
		v := in.ips()
		x := ipsExecutables[v.exe]
		b = append(b, `,"ips_threat_data":{"localPort":`...)
		b = appendIntString(b, v.localPort)
		b = append(b, `,"executableVersion":"`...)
		b = append(b, x.version...)
		b = append(b, `","executablePid":`...)
		b = appendIntString(b, v.pid)
		b = append(b, `,"techSupportId":"`...)
		b = appendTSID(b, when, in.c)
		b = append(b, `","detectionType":`...)
		b = appendInt(b, v.detType)
		b = append(b, `,"executableName":"`...)
		b = append(b, x.name...)
		b = append(b, `","rawData":"`...)
		b = in.appendRawData(b, v)
		b = append(b, `","remoteIp":"`...)
		b = appendIP(b, v.remote[0], v.remote[1], v.remote[2], v.remote[3])
		b = append(b, `","executablePath":"`...)
		b = append(b, x.path...)
		b = append(b, `","remotePort":`...)
		b = appendIntString(b, v.remotePort)
		b = append(b, '}')
	case kAMSI:
		p := amsiProcesses[in.b%uint64(len(amsiProcesses))]
		b = append(b, `,"amsi_threat_data":{"processId":`...)
		b = appendIntString(b, int64(1000+in.c%9000))
		b = append(b, `,"processName":"`...)
		b = append(b, p.name...)
		b = append(b, `","processPath":"`...)
		b = append(b, p.path...)
		b = append(b, `","parentProcessId":`...)
		b = appendIntString(b, int64(1000+(in.c>>16)%9000))
		b = append(b, `,"parentProcessPath":"`...)
		b = append(b, p.parent...)
		b = append(b, `"}`...)
	case kAppAllowed:
		a := controlledApps[in.a%uint64(len(controlledApps))]
		b = append(b, `,"appSha256":"`...)
		b = appendHexKey(b, in.b, 64)
		b = append(b, `","appCerts":[{"signer":"`...)
		b = append(b, a.signer...)
		b = append(b, `","thumbprint":"`...)
		b = appendHexKey(b, in.c, 64)
		b = append(b, '"', '}')
		if in.c%2 == 0 {
			// The intermediate CA of the signing chain.
			b = append(b, `,{"signer":"DigiCert Trusted G4 Code Signing RSA4096 SHA384 2021 CA1","thumbprint":"`...)
			b = appendHexKey(b, in.a^0xCA, 64)
			b = append(b, '"', '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"name":"`...)
	b = in.appendText(b, when)
	return append(b, `"}`...)
}

// appendObjectID appends a BSON ObjectId either as 24 hex digits or as the
// expanded object some Central versions emit.
func appendObjectID(b []byte, key uint64, secs int64, asObject bool) []byte {
	if !asObject {
		b = append(b, '"')
		b = appendHex(b, uint64(secs)&0xFFFFFFFF, 8)
		b = appendHex(b, key, 16)
		return append(b, '"')
	}
	b = append(b, `{"timestamp":`...)
	b = appendInt(b, secs)
	b = append(b, `,"machineIdentifier":`...)
	b = appendInt(b, int64(key%16777216))
	b = append(b, `,"processIdentifier":`...)
	b = appendInt(b, int64((key>>24)%32768))
	b = append(b, `,"counter":`...)
	b = appendInt(b, int64((key>>40)%16777216))
	b = append(b, `,"time":`...)
	b = appendInt(b, secs*1000)
	b = append(b, `,"date":`...)
	b = appendInt(b, secs*1000)
	b = append(b, `,"timeSecond":`...)
	b = appendInt(b, secs)
	return append(b, '}')
}

// appendAlert appends one SIEM alert object.
func (t *tenant) appendAlert(b []byte, it item) []byte {
	in := t.incident(it.key, true)
	ep := in.ep
	when := in.whenMs(it.ms)
	dataMs := it.ms - int64(in.c%80)
	b = append(b, `{"description":"`...)
	b = in.appendText(b, when)
	b = append(b, `","source":"`...)
	if in.userNA() {
		b = append(b, "n/a"...)
	} else {
		b = append(b, ep.sourceJ...)
	}
	b = append(b, `","severity":"`...)
	b = append(b, in.sev...)
	b = append(b, `","data":{`...)
	if in.bson {
		b = append(b, `"policy_type":`...)
		b = appendInt(b, int64(in.et.policyType))
		b = append(b, `,"user_match_uuid":{"type":3,"data":"`...)
		uh, ul := uuidOf(in.a ^ 0x55)
		b = appendB64UUID(b, uh, ul)
		b = append(b, `"},"make_actionable_at":`...)
		b = appendInt(b, dataMs+int64(3600_000+in.a%600_000))
		b = append(b, `,"certificates":[]`...)
		b = t.appendAlertExtras(b, &in, it, when, true)
		b = append(b, `,"created_at":`...)
		b = appendInt(b, dataMs)
		b = append(b, `,"endpoint_id":"`...)
		b = append(b, ep.id...)
		b = append(b, `","endpoint_java_id":"`...)
		b = append(b, ep.id...)
		b = append(b, `","endpoint_platform":"`...)
		b = append(b, ep.platform...)
		b = append(b, `","endpoint_type":"`...)
		b = append(b, ep.kind...)
		b = append(b, `","event_service_id":{"type":3,"data":"`...)
		b = appendB64UUID(b, it.hi, it.lo)
		b = append(b, `"},"inserted_at":`...)
		b = appendInt(b, dataMs)
		b = append(b, `,"source_app_id":"CORE","source_info":{"ip":"`...)
		b = append(b, ep.ipv4...)
		b = append(b, `"}`...)
		if in.hasThreat() {
			b = append(b, `,"threat_id":`...)
			b = appendObjectID(b, in.a, dataMs/1000, true)
		}
		b = append(b, `,"threat_status":"NONE","user_match_id":`...)
		b = appendObjectID(b, mix64(ep.lo), t.startMs/1000-int64(ep.lo%(90*86400)), true)
	} else {
		b = append(b, `"source_info":{"ip":"`...)
		b = append(b, ep.ipv4...)
		b = append(b, `"},"endpoint_id":"`...)
		b = append(b, ep.id...)
		b = append(b, `","inserted_at":`...)
		b = appendInt(b, dataMs)
		b = append(b, `,"created_at":`...)
		b = appendInt(b, dataMs)
		b = append(b, `,"endpoint_type":"`...)
		b = append(b, ep.kind...)
		b = append(b, `","user_match_id":`...)
		b = appendObjectID(b, mix64(ep.lo), t.startMs/1000-int64(ep.lo%(90*86400)), false)
		b = append(b, `,"endpoint_java_id":"`...)
		b = append(b, ep.id...)
		b = append(b, '"')
		if in.hasThreat() {
			b = append(b, `,"threat_id":`...)
			b = appendObjectID(b, in.a, dataMs/1000, false)
		}
		b = append(b, `,"endpoint_platform":"`...)
		b = append(b, ep.platform...)
		b = append(b, `","event_service_id":"`...)
		b = appendUUID(b, it.hi, it.lo)
		b = append(b, '"')
		b = t.appendAlertExtras(b, &in, it, when, false)
	}
	b = append(b, `},"customer_id":"`...)
	b = append(b, t.id...)
	b = append(b, `","created_at":"`...)
	b = appendISO(b, it.ms)
	b = append(b, `","threat":`...)
	if in.hasThreat() {
		b = append(b, '"')
		b = in.appendThreat(b)
		b = append(b, `","threat_cleanable":`...)
		if in.et.kind == kDetected && in.c%3 == 0 {
			b = append(b, "true"...)
		} else {
			b = append(b, "false"...)
		}
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"event_service_event_id":"`...)
	b = appendUUID(b, it.hi, it.lo)
	b = append(b, `","when":"`...)
	b = appendISO(b, when)
	b = append(b, `","type":"`...)
	b = append(b, in.et.typ...)
	b = append(b, `","location":"`...)
	b = append(b, ep.hostJ...)
	b = append(b, `","id":"`...)
	b = appendUUID(b, it.hi, it.lo)
	return append(b, `"}`...)
}

// appendAlertExtras appends the type-specific data members of an alert.
func (t *tenant) appendAlertExtras(b []byte, in *incident, it item, when int64, _ bool) []byte {
	switch in.et.kind {
	case kCleanupFailed:
		b = append(b, `,"core_remedy_items":`...)
		b = in.appendRemedy(b, false)
	case kCryptoGuard:
		cg := cryptoguardProcesses[in.b%uint64(len(cryptoguardProcesses))]
		b = append(b, `,"hmpa_exploit":{"uid":"`...)
		xh, xl := uuidOf(in.c ^ 0x11)
		b = appendUUID(b, xh, xl)
		b = append(b, `","family_id":"`...)
		fh, fl := uuidOf(in.a % 7)
		b = appendUUID(b, fh, fl)
		b = append(b, `","process_name":"`...)
		b = append(b, cg.name...)
		b = append(b, `","process_version":"`...)
		b = append(b, cg.version...)
		b = append(b, `","thumbprint":"`...)
		b = appendHexKey(b, in.c, 64)
		b = append(b, `","process_path":"`...)
		b = in.appendCGPath(b)
		b = append(b, `","type":"CryptoGuard","process_pid":`...)
		b = appendIntString(b, int64(1000+in.c%9000))
		b = append(b, `,"version":"2.13.7"}`...)
	case kIPS:
		v := in.ips()
		x := ipsExecutables[v.exe]
		b = append(b, `,"ips_threat":{"executable_name":"`...)
		b = append(b, x.name...)
		b = append(b, `","remote_ip":"`...)
		b = appendIP(b, v.remote[0], v.remote[1], v.remote[2], v.remote[3])
		b = append(b, `","executable_pid":`...)
		b = appendIntString(b, v.pid)
		b = append(b, `,"local_port":`...)
		b = appendIntString(b, v.localPort)
		b = append(b, `,"detection_type":`...)
		b = appendInt(b, v.detType)
		b = append(b, `,"remote_port":`...)
		b = appendIntString(b, v.remotePort)
		b = append(b, `,"executable_path":"`...)
		b = append(b, x.path...)
		b = append(b, `","raw_data":"`...)
		b = in.appendRawData(b, v)
		b = append(b, `","executable_version":"`...)
		b = append(b, x.version...)
		b = append(b, `","tech_support_id":"`...)
		b = appendTSID(b, when, in.c)
		b = append(b, `"}`...)
	}
	return b
}

// groupKey is base64 of "1,<type>,<policy type>,<threat>".
func (in *incident) groupKey() string {
	var raw []byte
	raw = append(raw, "1,"...)
	raw = append(raw, in.et.typ...)
	raw = append(raw, ',')
	raw = appendInt(raw, int64(in.et.policyType))
	raw = append(raw, ',')
	if in.hasThreat() {
		// The threat is stored escaped; unescape the only escapes tables use.
		raw = append(raw, unescapeJSON(in.appendThreat(nil))...)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// unescapeJSON reverses appendEscaped for table strings.
func unescapeJSON(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
			switch b[i] {
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			case 'r':
				out = append(out, '\r')
			default:
				out = append(out, b[i])
			}
			continue
		}
		out = append(out, b[i])
	}
	return out
}
