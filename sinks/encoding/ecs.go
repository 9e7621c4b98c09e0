package encoding

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ecsEncoder writes, for each record, the document the ingest pipeline of
// Elastic's sophos_central integration (data streams sophos_central.alert
// and sophos_central.event) builds from the same item: the same ECS fields
// and values, event.kind as an array, the sophos_central.<stream>.* tree
// with the integration's names, nesting and types, and the pipeline's
// final clean-up (null, "" and empty objects and arrays dropped). The
// processors are applied in the pipeline's order with Elasticsearch's
// semantics; a value a processor cannot convert is reported in
// error.message with event.kind pipeline_error, as the pipeline does.
//
// The pipelines are compiled by hand: each processor is a call on fixed
// slots of the document (sdoc, ecsdoc.go) with the item's members found
// in one pass per object (nameIndex), not a processor interpreted over
// paths and a document of linked nodes. ecsInterp (ecs_interp_test.go, odoc and
// ingest's processors) is that interpreter, kept as the oracle: the two write the
// same bytes for every item (TestECSMatchesInterpreter).
//
// Options: preserve_original_event keeps event.original (the item as a
// JSON string) and preserve_duplicate_custom_fields the sophos_central.*
// fields copied to ECS fields, as the integration's options of the same
// names do (both add their tag to tags). ecs_extras adds fields the
// integration does not set: event.module, event.dataset, event.severity
// (the official script's CEF severity), host.name/id/type (location,
// endpoint id and type), host.os.platform, related.user, related.hosts
// and sophos_central.tenant_id.
type ecsEncoder struct {
	t    tape
	d    sdoc
	opts Options
	errs int    // error.message entries
	sc   []byte // scalar's scratch
	key  []byte // an escaped member name, decoded
	m    []int  // grok match scratch

	// the members the pipelines read, by object (nameIndex.find)
	top                                  [nTop]int32
	data, hmpa, ips, remedy, amsi, srcIn [24]int32
	tid, umid, esid, uuid                [8]int32

	fp     Fingerprinter
	parsed parsedItem // the item AppendFingerprint parsed into t
}

func newECSEncoder(opts Options) *ecsEncoder {
	e := &ecsEncoder{opts: opts}
	if !opts.PreserveDuplicateCustomFields {
		e.d.ghost = &ecsDupGhosts
	}
	return e
}

// ecsDupGhosts marks the fields both pipelines remove at their end
// without preserve_duplicate_custom_fields (sdoc.ghost).
var ecsDupGhosts = func() (g [maxSlots]bool) {
	for _, id := range append(alertDupSlots, eventDupSlots...) {
		g[id] = true
	}
	return g
}()

// AppendFingerprint implements FingerprintEncoder.
func (e *ecsEncoder) AppendFingerprint(dst []byte, r *pipeline.Record) ([]byte, bool) {
	return fingerprint(&e.fp, &e.t, &e.parsed, dst, r)
}

func (e *ecsEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		return appendXDRECS(dst, r, e.opts, "")
	}
	parsed := e.parsed.is(r)
	e.parsed = parsedItem{}
	if !parsed && !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("ecs: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.d.reset(&e.t)
	e.errs = 0
	topNames.findItem(&e.t, e.top[:], &e.key)
	alert := r.Stream == pipeline.Alerts
	e.common(r, alert)
	if alert {
		e.alert()
	} else {
		e.event()
	}
	e.finish(r, alert)
	return e.d.write(dst), nil
}

// The item's members the pipelines read (topNames).
const (
	tDescription = iota
	tWhen
	tCreatedAt
	tType
	tID
	tData
	tCustomerID
	tSource
	tSeverity
	tThreat
	tThreatCleanable
	tEventServiceEventID
	tLocation
	tName
	tAppSha256
	tAmsi
	tIps
	tSourceInfo
	tUserID
	tEndpointID
	tEndpointType
	tGroup
	tOrigin
	tAppCerts
	tRemedy
	nTop
)

var topNames = newNameIndex("description", "when", "created_at", "type", "id", "data", "customer_id", "source",
	"severity", "threat", "threat_cleanable", "event_service_event_id", "location", "name", "appSha256",
	"amsi_threat_data", "ips_threat_data", "source_info", "user_id", "endpoint_id", "endpoint_type", "group",
	"origin", "appCerts", "core_remedy_items")

// The slots both pipelines use.
var (
	sECSVersion     = sp("ecs.version")
	sEventKind      = sp("event.kind")
	sEventCategory  = sp("event.category")
	sEventType      = sp("event.type")
	sEventOriginal  = sp("event.original")
	sTags           = sp("tags")
	sMessage        = sp("message")
	sTimestamp      = sp("@timestamp")
	sEventCreated   = sp("event.created")
	sEventCode      = sp("event.code")
	sEventID        = sp("event.id")
	sEventAction    = sp("event.action")
	sSourceIP       = sp("source.ip")
	sSourcePort     = sp("source.port")
	sRelatedIP      = sp("related.ip")
	sProcessName    = sp("process.name")
	sProcessPID     = sp("process.pid")
	sProcessExe     = sp("process.executable")
	sProcessSHA256  = sp("process.hash.sha256")
	sProcessParent  = sp("process.parent.executable")
	sProcessWorkDir = sp("process.working_directory")
	sThreatFeed     = sp("threat.feed.name")
	sUserID         = sp("user.id")
	sOrganizationID = sp("organization.id")
	sUserDomain     = sp("user.domain")
	sUserName       = sp("user.name")
	sDestinationIP  = sp("destination.ip")
	sDestPort       = sp("destination.port")
	sRelatedHash    = sp("related.hash")
	sErrorMessage   = sp("error.message")
	sTemp           = sp("temp")
	sTempLocalMAC   = sp("temp.local_mac")
	sTempRemoteMAC  = sp("temp.remote_mac")
	sEventModule    = sp("event.module")
	sEventDataset   = sp("event.dataset")
	sEventSeverity  = sp("event.severity")
	sHostName       = sp("host.name")
	sRelatedHosts   = sp("related.hosts")
	sHostPlatform   = sp("host.os.platform")
	sHostID         = sp("host.id")
	sHostType       = sp("host.type")
	sRelatedUser    = sp("related.user")
	sTenantID       = sp("sophos_central.tenant_id")
)

// common is what both pipelines do first.
func (e *ecsEncoder) common(r *pipeline.Record, alert bool) {
	d := &e.d
	d.set(sECSVersion, litECSVersion)
	if alert {
		d.appendTo(sEventKind, litAlert, false)
	} else {
		d.appendTo(sEventKind, litEvent, false)
	}
	d.appendTo(sEventCategory, litHost, false)
	d.appendTo(sEventType, litInfo, false)
	if e.opts.PreserveOriginalEvent {
		d.set(sEventOriginal, d.text(r.Raw))
		d.appendTo(sTags, litPreserveOriginalEvent, true)
	}
	if e.opts.PreserveDuplicateCustomFields {
		d.appendTo(sTags, litPreserveDuplicateCustomFields, true)
	}
}

func spa(path string) slot { return sp(al + path) }
func spe(path string) slot { return sp(ev + path) }

// The alert pipeline's members of data and below.
const (
	dEndpointID = iota
	dEndpointType
	dSourceInfo
	dHmpa
	dIps
	dCertificates
	dRemedy
	dJavaID
	dPlatform
	dInsertedAt
	dSourceAppID
	dThreatID
	dThreatStatus
	dUserMatchID
	dCreatedAt
	dESID
	dUUID
	dMakeActionableAt
	dPolicyType
	dAppID
)

var dataNames = newNameIndex("endpoint_id", "endpoint_type", "source_info", "hmpa_exploit", "ips_threat",
	"certificates", "core_remedy_items", "endpoint_java_id", "endpoint_platform", "inserted_at", "source_app_id",
	"threat_id", "threat_status", "user_match_id", "created_at", "event_service_id", "user_match_uuid",
	"make_actionable_at", "policy_type", "app_id")

const (
	hProcessName = iota
	hProcessPID
	hUID
	hFamilyID
	hProcessVersion
	hThumbprint
	hProcessPath
	hType
	hVersion
)

var hmpaNames = newNameIndex("process_name", "process_pid", "uid", "family_id", "process_version", "thumbprint",
	"process_path", "type", "version")

const (
	iExecutableName = iota
	iRemoteIP
	iExecutablePID
	iLocalPort
	iDetectionType
	iRemotePort
	iExecutablePath
	iRawData
	iExecutableVersion
	iTechSupportID
)

var alertIPSNames = newNameIndex("executable_name", "remote_ip", "executable_pid", "local_port", "detection_type",
	"remote_port", "executable_path", "raw_data", "executable_version", "tech_support_id")

var ipNames = newNameIndex("ip")

const (
	rTotalItems = iota
	rItems
)

var remedyNames = newNameIndex("totalItems", "items")

const (
	oTimestamp = iota
	oMachine
	oProcess
	oCounter
	oTime
	oDate
	oTimeSecond
)

var objectIDNames = newNameIndex("timestamp", "machineIdentifier", "processIdentifier", "counter", "time", "date", "timeSecond")

const (
	xData = iota
	xType
)

var dataTypeNames = newNameIndex("data", "type")

var (
	aDescription      = spa("description")
	aWhen             = spa("when")
	aCreatedAt        = spa("created_at")
	aType             = spa("type")
	aID               = spa("id")
	aEndpointID       = spa("data.endpoint.id")
	aEndpointType     = spa("data.endpoint.type")
	aSourceInfoIP     = spa("data.source_info_ip")
	aHmpaProcessName  = spa("data.hmpa_exploit.process_name")
	aHmpaProcessPID   = spa("data.hmpa_exploit.process_pid")
	aIPSExeName       = spa("data.ips_threat.executable.name")
	aCustomerID       = spa("customer_id")
	aCertificates     = spa("data.certificates")
	aSourceDomain     = spa("source.domain.name")
	aSourceUser       = spa("source.user.name")
	aSourceOriginal   = spa("source.original")
	aSeverity         = spa("severity")
	aRemedyTotal      = spa("data.core_remedy.total_items")
	aRemedyItems      = spa("data.core_remedy.items")
	aJavaID           = spa("data.endpoint.java_id")
	aPlatform         = spa("data.endpoint.platform")
	aHmpaUID          = spa("data.hmpa_exploit.uid")
	aHmpaFamilyID     = spa("data.hmpa_exploit.family_id")
	aHmpaVersion      = spa("data.hmpa_exploit.process_version")
	aHmpaThumbprint   = spa("data.hmpa_exploit.thumbprint")
	aHmpaPath         = spa("data.hmpa_exploit.process_path")
	aHmpaType         = spa("data.hmpa_exploit.type")
	aHmpaExpVersion   = spa("data.hmpa_exploit.version")
	aInsertedAt       = spa("data.inserted_at")
	aIPSRemoteIP      = spa("data.ips_threat.remote.ip")
	aIPSExePID        = spa("data.ips_threat.executable.pid")
	aIPSLocalPort     = spa("data.ips_threat.local_port")
	aIPSDetectionType = spa("data.ips_threat.detection_type")
	aIPSRemotePort    = spa("data.ips_threat.remote.port")
	aIPSExePath       = spa("data.ips_threat.executable.path")
	aRawOriginal      = spa("data.ips_threat.raw_data.original")
	aRawLocalMAC      = spa("data.ips_threat.raw_data.local.mac")
	aRawRemoteMAC     = spa("data.ips_threat.raw_data.remote.mac")
	aRawSHA256        = spa("data.ips_threat.raw_data.sha_256")
	aIPSExeVersion    = spa("data.ips_threat.executable.version")
	aIPSTechSupportID = spa("data.ips_threat.tech_support_id")
	aSourceAppID      = spa("data.source_app_id")
	aThreatStatus     = spa("data.threat_status")
	aUMIDDate         = spa("data.user_match_id.date")
	aUMIDTimeSec      = spa("data.user_match_id.time_sec")
	aDataCreatedAt    = spa("data.created_at")
	aThreatValue      = spa("threat.value")
	aThreatCleanable  = spa("threat.cleanable")
	aESEventID        = spa("event_service_event_id")
	aLocation         = spa("location")
	aESIDData         = spa("data.event_service_id.data")
	aESIDType         = spa("data.event_service_id.type")
	aUUIDData         = spa("data.user_match_uuid.data")
	aUUIDType         = spa("data.user_match_uuid.type")
	aMakeActionableAt = spa("data.make_actionable_at")
	aPolicyType       = spa("data.policy_type")
	aAppID            = spa("data.app_id")

	aThreatID    = newObjectIDSlots(al + "data.threat_id.")
	aUserMatchID = newObjectIDSlots(al + "data.user_match_id.")

	alertRawDataSlots = grokSlots(alertRawData)
	alertDupSlots     = sps(alertDuplicates)
)

// objectIDSlots are objectIDPaths' slots.
type objectIDSlots struct{ timestamp, machine, process, counter, time, date, timeSec slot }

func newObjectIDSlots(prefix string) *objectIDSlots {
	p := newObjectIDPaths(prefix)
	return &objectIDSlots{sp(p.timestamp), sp(p.machine), sp(p.process), sp(p.counter), sp(p.time), sp(p.date), sp(p.timeSec)}
}

// grokSlots are each pattern's capture slots, in its fields' order.
func grokSlots(pats []grokPattern) [][]slot {
	out := make([][]slot, len(pats))
	for i, g := range pats {
		for _, f := range g.fields {
			out[i] = append(out[i], sp(f.path))
		}
	}
	return out
}

// alert is the sophos_central.alert pipeline (ecsInterp.alert, step for
// step).
func (e *ecsEncoder) alert() {
	d, t, top := &e.d, &e.t, &e.top
	data := top[tData]
	dataNames.find(t, data, e.data[:], &e.key)
	dt := &e.data
	hmpaNames.find(t, dt[dHmpa], e.hmpa[:], &e.key)
	alertIPSNames.find(t, dt[dIps], e.ips[:], &e.key)
	ipNames.find(t, dt[dSourceInfo], e.srcIn[:], &e.key)
	remedyNames.find(t, dt[dRemedy], e.remedy[:], &e.key)
	hm, ips := &e.hmpa, &e.ips

	e.rename(top[tDescription], aDescription)
	d.copyField(sMessage, aDescription)
	if e.date(top[tWhen], aWhen, iso8601) {
		d.copyField(sTimestamp, aWhen)
	}
	e.date(top[tCreatedAt], aCreatedAt, iso8601)
	d.copyField(sEventCreated, aCreatedAt)
	e.rename(top[tType], aType)
	d.copyField(sEventCode, aType)
	e.rename(top[tID], aID)
	d.copyField(sEventID, aID)

	e.rename(dt[dEndpointID], aEndpointID)
	e.rename(dt[dEndpointType], aEndpointType)
	e.convert(e.srcIn[0], aSourceInfoIP, toIP)
	d.copyField(sSourceIP, aSourceInfoIP)
	e.appendMustache(sRelatedIP, sSourceIP)

	e.rename(hm[hProcessName], aHmpaProcessName)
	d.copyField(sProcessName, aHmpaProcessName)
	e.convert(hm[hProcessPID], aHmpaProcessPID, toLong)
	d.copyField(sProcessPID, aHmpaProcessPID)

	e.rename(ips[iExecutableName], aIPSExeName)
	d.copyField(sProcessExe, aIPSExeName)
	e.rename(top[tCustomerID], aCustomerID)
	d.copyField(sOrganizationID, aCustomerID)
	e.rename(dt[dCertificates], aCertificates)

	source := top[tSource]
	e.splitSource(source, aSourceDomain, aSourceUser)
	e.rename(source, aSourceOriginal)
	d.copyField(sUserDomain, aSourceDomain)
	d.copyField(sUserName, aSourceUser)
	e.rename(top[tSeverity], aSeverity)

	e.convert(e.remedy[rTotalItems], aRemedyTotal, toLong)
	e.remedyItems(e.remedy[rItems], aRemedyItems)

	e.rename(dt[dJavaID], aJavaID)
	e.rename(dt[dPlatform], aPlatform)
	e.convert(hm[hUID], aHmpaUID, toString)
	e.rename(hm[hFamilyID], aHmpaFamilyID)
	e.rename(hm[hProcessVersion], aHmpaVersion)
	e.rename(hm[hThumbprint], aHmpaThumbprint)
	e.rename(hm[hProcessPath], aHmpaPath)
	e.rename(hm[hType], aHmpaType)
	e.rename(hm[hVersion], aHmpaExpVersion)
	e.date(dt[dInsertedAt], aInsertedAt, unixMs)

	e.convert(ips[iRemoteIP], aIPSRemoteIP, toIP)
	d.copyField(sDestinationIP, aIPSRemoteIP)
	e.appendMustache(sRelatedIP, sDestinationIP)
	e.rename(ips[iExecutablePID], aIPSExePID)
	e.convert(ips[iLocalPort], aIPSLocalPort, toLong)
	e.convert(ips[iDetectionType], aIPSDetectionType, toLong)
	e.convert(ips[iRemotePort], aIPSRemotePort, toLong)
	d.copyField(sDestPort, aIPSRemotePort)
	e.rename(ips[iExecutablePath], aIPSExePath)

	rawData := ips[iRawData]
	e.grok(rawData, "raw_data", alertRawData, alertRawDataSlots)
	e.rename(rawData, aRawOriginal)
	e.mac(sTempLocalMAC, aRawLocalMAC)
	e.mac(sTempRemoteMAC, aRawRemoteMAC)
	e.appendMustache(sRelatedHash, aRawSHA256)

	e.rename(ips[iExecutableVersion], aIPSExeVersion)
	e.rename(ips[iTechSupportID], aIPSTechSupportID)
	e.rename(dt[dSourceAppID], aSourceAppID)

	tid, umid := dt[dThreatID], dt[dUserMatchID]
	objectIDNames.find(t, tid, e.tid[:], &e.key)
	objectIDNames.find(t, umid, e.umid[:], &e.key)
	e.objectID(tid, &e.tid, aThreatID, true)
	e.rename(dt[dThreatStatus], aThreatStatus)
	e.objectID(umid, &e.umid, aUserMatchID, false)
	// The pipeline tests threat_id.date before parsing user_match_id.date.
	switch {
	case e.present(tid) && t.kind(tid) != '{':
		e.fail("runtime error") // the condition's script error, as above
	case e.present(e.tid[oDate]):
		if e.present(umid) && t.kind(umid) != '{' {
			s, _ := e.scalar(umid)
			e.fail("cannot resolve [date] from object of type [", javaType(t.kind(umid), s), "] as part of path [json.data.user_match_id.date]")
		} else if !e.date(e.umid[oDate], aUMIDDate, unixMs) && !e.present(e.umid[oDate]) {
			e.fail("field [date] not present as part of path [json.data.user_match_id.date]")
		}
	}
	if !e.present(umid) || t.kind(umid) == '{' {
		e.date(e.umid[oTimeSecond], aUMIDTimeSec, unixSec)
	}
	e.date(dt[dCreatedAt], aDataCreatedAt, unixMs)

	e.rename(top[tThreat], aThreatValue)
	e.convert(top[tThreatCleanable], aThreatCleanable, toBoolean)
	e.rename(top[tEventServiceEventID], aESEventID)
	e.rename(top[tLocation], aLocation)
	dataTypeNames.find(t, dt[dESID], e.esid[:], &e.key)
	e.rename(e.esid[xData], aESIDData)
	e.convert(e.esid[xType], aESIDType, toLong)
	dataTypeNames.find(t, dt[dUUID], e.uuid[:], &e.key)
	e.rename(e.uuid[xData], aUUIDData)
	e.convert(e.uuid[xType], aUUIDType, toLong)
	e.date(dt[dMakeActionableAt], aMakeActionableAt, unixMs)
	e.convert(dt[dPolicyType], aPolicyType, toLong)
	e.rename(dt[dAppID], aAppID)

	if !e.opts.PreserveDuplicateCustomFields {
		d.removeAll(alertDupSlots)
	}
}

// objectID parses a threat_id / user_match_id object obj whose members
// are m (ecsInterp.objectID).
func (e *ecsEncoder) objectID(obj int32, m *[8]int32, f *objectIDSlots, threat bool) {
	if e.present(obj) && e.t.kind(obj) != '{' {
		n := 3
		if threat {
			n = 4
		}
		for range n {
			e.fail("runtime error")
		}
		return
	}
	e.date(m[oTimestamp], f.timestamp, unixSec)
	e.convert(m[oMachine], f.machine, toLong)
	e.convert(m[oProcess], f.process, toLong)
	e.convert(m[oCounter], f.counter, toLong)
	e.date(m[oTime], f.time, unixMs)
	if threat {
		e.date(m[oDate], f.date, unixMs)
		e.date(m[oTimeSecond], f.timeSec, unixSec)
	}
}

// remedyItems is the foreach renames of core_remedy_items.items and its
// rename.
func (e *ecsEncoder) remedyItems(items int32, id slot) {
	if !e.present(items) {
		return
	}
	if e.t.kind(items) == '[' {
		e.d.set(id, val{kind: oItems, tape: items})
		return
	}
	e.d.set(id, tapeVal(items))
}

// The event pipeline's members of amsi_threat_data and ips_threat_data.
const (
	mParentProcessPath = iota
	mProcessName
	mProcessPath
	mParentProcessID
	mProcessID
)

var amsiNames = newNameIndex("parentProcessPath", "processName", "processPath", "parentProcessId", "processId")

const (
	jExecutablePID = iota
	jExecutableName
	jExecutablePath
	jLocalPort
	jRemoteIP
	jRemotePort
	jTechSupportID
	jDetectionType
	jExecutableVersion
	jRawData
)

var eventIPSNames = newNameIndex("executablePid", "executableName", "executablePath", "localPort", "remoteIp",
	"remotePort", "techSupportId", "detectionType", "executableVersion", "rawData")

var (
	eCreatedAt      = spe("created_at")
	eID             = spe("id")
	eName           = spe("name")
	eAppSHA256      = spe("app_sha256")
	eAmsiParentPath = spe("amsi_threat_data.parent_process.path")
	eAmsiName       = spe("amsi_threat_data.process.name")
	eAmsiPath       = spe("amsi_threat_data.process.path")
	eAmsiParentID   = spe("amsi_threat_data.parent_process.id")
	eIPSExePID      = spe("ips_threat_data.executable.pid")
	eIPSExeName     = spe("ips_threat_data.executable.name")
	eIPSExePath     = spe("ips_threat_data.executable.path")
	eSourceInfoIP   = spe("source_info.ip")
	eIPSLocalPort   = spe("ips_threat_data.local_port")
	eThreat         = spe("threat")
	eUserID         = spe("user_id")
	eCustomerID     = spe("customer_id")
	eIPSRemoteIP    = spe("ips_threat_data.remote.ip")
	eIPSRemotePort  = spe("ips_threat_data.remote.port")
	eWhen           = spe("when")
	eEndpointID     = spe("endpoint.id")
	eEndpointType   = spe("endpoint.type")
	eLocation       = spe("location")
	eGroup          = spe("group")
	eOrigin         = spe("origin")
	eAppCerts       = spe("app_certs")
	eIPSTechSupport = spe("ips_threat_data.tech_support_id")
	eIPSDetection   = spe("ips_threat_data.detection_type")
	eIPSExeVersion  = spe("ips_threat_data.executable.version")
	eSourceDomain   = spe("source.domain.name")
	eSourceUser     = spe("source.user.name")
	eSourceOriginal = spe("source.original")
	eAmsiID         = spe("amsi_threat_data.process.id")
	eRemedyItems    = spe("core_remedy.items")
	eRemedyTotal    = spe("core_remedy.total_items")
	eSeverity       = spe("severity")
	eType           = spe("type")
	eRawOriginal    = spe("ips_threat_data.raw_data.original")
	eRawLocalMAC    = spe("ips_threat_data.raw_data.local.mac")
	eRawRemoteMAC   = spe("ips_threat_data.raw_data.remote.mac")
	eRawSHA256      = spe("ips_threat_data.raw_data.sha_256")

	eventRawDataSlots = grokSlots(eventRawData)
	eventDupSlots     = sps(eventDuplicates)
)

// event is the sophos_central.event pipeline (ecsInterp.event, step for
// step).
func (e *ecsEncoder) event() {
	d, t, top := &e.d, &e.t, &e.top
	amsiNames.find(t, top[tAmsi], e.amsi[:], &e.key)
	eventIPSNames.find(t, top[tIps], e.ips[:], &e.key)
	ipNames.find(t, top[tSourceInfo], e.srcIn[:], &e.key)
	remedyNames.find(t, top[tRemedy], e.remedy[:], &e.key)
	amsi, ips := &e.amsi, &e.ips

	e.date(top[tCreatedAt], eCreatedAt, iso8601)
	d.copyField(sEventCreated, eCreatedAt)
	e.rename(top[tID], eID)
	d.copyField(sEventID, eID)
	e.rename(top[tName], eName)
	d.copyField(sEventAction, eName)
	e.rename(top[tAppSha256], eAppSHA256)
	d.copyField(sProcessSHA256, eAppSHA256)

	e.rename(amsi[mParentProcessPath], eAmsiParentPath)
	d.copyField(sProcessParent, eAmsiParentPath)
	e.rename(amsi[mProcessName], eAmsiName)
	d.copyField(sProcessName, eAmsiName)
	e.rename(amsi[mProcessPath], eAmsiPath)
	d.copyField(sProcessWorkDir, eAmsiPath)
	e.rename(amsi[mParentProcessID], eAmsiParentID)

	e.convert(ips[jExecutablePID], eIPSExePID, toLong)
	d.copyField(sProcessPID, eIPSExePID)
	e.rename(ips[jExecutableName], eIPSExeName)
	e.rename(ips[jExecutablePath], eIPSExePath)
	d.copyField(sProcessExe, eIPSExePath)
	e.convert(e.srcIn[0], eSourceInfoIP, toIP)
	d.copyField(sSourceIP, eSourceInfoIP)
	e.appendMustache(sRelatedIP, eSourceInfoIP)
	e.convert(ips[jLocalPort], eIPSLocalPort, toLong)
	d.copyField(sSourcePort, eIPSLocalPort)
	e.rename(top[tThreat], eThreat)
	d.copyField(sThreatFeed, eThreat)
	e.rename(top[tUserID], eUserID)
	d.copyField(sUserID, eUserID)
	e.rename(top[tCustomerID], eCustomerID)
	d.copyField(sOrganizationID, eCustomerID)
	e.convert(ips[jRemoteIP], eIPSRemoteIP, toIP)
	d.copyField(sDestinationIP, eIPSRemoteIP)
	e.appendMustache(sRelatedIP, eIPSRemoteIP)
	e.convert(ips[jRemotePort], eIPSRemotePort, toLong)
	d.copyField(sDestPort, eIPSRemotePort)
	if e.date(top[tWhen], eWhen, iso8601) {
		d.copyField(sTimestamp, eWhen)
	}

	e.rename(top[tEndpointID], eEndpointID)
	e.rename(top[tEndpointType], eEndpointType)
	e.rename(top[tLocation], eLocation)
	e.rename(top[tGroup], eGroup)
	e.rename(top[tOrigin], eOrigin)
	e.rename(top[tAppCerts], eAppCerts)
	e.rename(ips[jTechSupportID], eIPSTechSupport)
	e.convert(ips[jDetectionType], eIPSDetection, toLong)
	e.rename(ips[jExecutableVersion], eIPSExeVersion)

	source := top[tSource]
	e.splitSource(source, eSourceDomain, eSourceUser)
	e.rename(source, eSourceOriginal)
	d.copyField(sUserDomain, eSourceDomain)
	d.copyField(sUserName, eSourceUser)
	e.rename(amsi[mProcessID], eAmsiID)

	e.remedyItems(e.remedy[rItems], eRemedyItems)
	e.convert(e.remedy[rTotalItems], eRemedyTotal, toLong)
	e.rename(top[tSeverity], eSeverity)
	e.rename(top[tType], eType)

	rawData := ips[jRawData]
	e.grok(rawData, "rawData", eventRawData, eventRawDataSlots)
	e.rename(rawData, eRawOriginal)
	e.mac(sTempLocalMAC, eRawLocalMAC)
	e.mac(sTempRemoteMAC, eRawRemoteMAC)
	e.appendMustache(sRelatedHash, eRawSHA256)

	if !e.opts.PreserveDuplicateCustomFields {
		d.removeAll(eventDupSlots)
	}
}

// finish is what both pipelines do last, then the extras.
func (e *ecsEncoder) finish(r *pipeline.Record, alert bool) {
	d := &e.d
	if e.errs > 0 {
		d.appendTo(sEventKind, litPipelineError, true)
	}
	d.kill(sTemp)
	if _, ok := d.get(sTimestamp); !ok {
		// see ecsInterp.finish: created_at stands in for Agent's time
		d.copyField(sTimestamp, sEventCreated)
	}
	if e.opts.ECSExtras {
		e.extras(r, alert)
	}
}

// extras adds the fields behind ecs_extras.
func (e *ecsEncoder) extras(r *pipeline.Record, alert bool) {
	d, t, top := &e.d, &e.t, &e.top
	d.set(sEventModule, litSophosCentral)
	if alert {
		d.set(sEventDataset, litSophosCentralAlert)
	} else {
		d.set(sEventDataset, litSophosCentralEvent)
	}
	if sev, ok := ecsSeverity(t.valueText(top[tSeverity])); ok {
		d.set(sEventSeverity, intVal(int64(sev)))
	}
	if loc := top[tLocation]; e.present(loc) && t.kind(loc) == '"' {
		d.set(sHostName, tapeVal(loc))
		d.appendTo(sRelatedHosts, tapeVal(loc), true)
	}
	epID, epType := top[tEndpointID], top[tEndpointType]
	if alert {
		epID, epType = e.data[dEndpointID], e.data[dEndpointType]
		if pl := e.data[dPlatform]; e.present(pl) && t.kind(pl) == '"' {
			d.set(sHostPlatform, tapeVal(pl))
		}
	}
	if e.present(epID) && t.kind(epID) == '"' {
		d.set(sHostID, tapeVal(epID))
	}
	if e.present(epType) && t.kind(epType) == '"' {
		d.set(sHostType, tapeVal(epType))
	}
	if v, ok := d.get(sUserName); ok {
		d.appendTo(sRelatedUser, v, true)
	}
	if r.Tenant != "" {
		d.set(sTenantID, d.text(unsafeBytes(r.Tenant)))
	}
}

// The processors (the interpreter's, ingest_interp_test.go, on slots).

// present is the pipelines' `!= null` and ignore_missing test.
func (e *ecsEncoder) present(n int32) bool { return n != 0 && e.t.kind(n) != 'n' }

// fail adds the message made of parts to error.message.
func (e *ecsEncoder) fail(parts ...string) {
	d := &e.d
	start := len(d.buf)
	for _, part := range parts {
		d.buf = append(d.buf, part...)
	}
	d.appendTo(sErrorMessage, val{kind: oText, s: int32(start), e: int32(len(d.buf))}, false)
	e.errs++
}

// rename is rename with ignore_missing.
func (e *ecsEncoder) rename(src int32, id slot) {
	if e.present(src) {
		e.d.set(id, tapeVal(src))
	}
}

// scalar is ingest.scalar: the text a processor reads from value n.
func (e *ecsEncoder) scalar(n int32) ([]byte, bool) {
	switch e.t.kind(n) {
	case '"':
		e.sc = e.t.appendStrText(e.sc[:0], n)
		return e.sc, true
	case '{', '[', 'n':
		return e.t.text(n), false
	}
	return e.t.text(n), true
}

// convert is ingest.convert.
func (e *ecsEncoder) convert(src int32, id slot, to convType) {
	if !e.present(src) {
		return
	}
	if e.t.kind(src) != '[' {
		if v, ok := e.convertOne(src, to); ok {
			e.d.set(id, v)
		}
		return
	}
	e.d.set(id, val{kind: oArr})
	for el, end := src+1, e.t.nodes[src].next; el < end; el = e.t.nodes[el].next {
		v, ok := e.convertOne(el, to)
		if !ok {
			e.d.kill(id)
			return
		}
		e.d.addElem(id, v)
	}
}

func (e *ecsEncoder) convertOne(n int32, to convType) (val, bool) {
	if e.t.kind(n) == 'n' {
		return val{kind: oDead}, true
	}
	s, scalar := e.scalar(n)
	switch to {
	case toLong:
		if scalar {
			if i, ok := parseJavaLong(s); ok {
				return intVal(i), true
			}
		}
		e.fail("unable to convert [", unsafeString(s), "] to long")
	case toIP:
		if e.t.kind(n) == '"' {
			if _, err := netip.ParseAddr(unsafeString(s)); err == nil {
				return tapeVal(n), true
			}
		}
		e.fail("'", unsafeString(s), "' is not an IP string literal.")
	case toString:
		if e.t.kind(n) == '"' {
			return tapeVal(n), true
		}
		return e.d.text(s), true
	case toBoolean:
		if scalar {
			switch {
			case strings.EqualFold(unsafeString(s), "true"):
				return litTrue, true
			case strings.EqualFold(unsafeString(s), "false"):
				return litFalse, true
			}
		}
		e.fail("[", unsafeString(s), "] is not a boolean value, cannot convert to boolean")
	}
	return val{}, false
}

// date is ingest.date: it reports whether it set the field.
func (e *ecsEncoder) date(src int32, id slot, f dateFormat) bool {
	if !e.present(src) {
		return false
	}
	s, scalar := e.scalar(src)
	d := &e.d
	if f == iso8601 && canonicalISO(s) {
		// what appendISOMillis would write of it: the text itself
		start := len(d.buf)
		d.buf = append(d.buf, s...)
		d.set(id, val{kind: oText, s: int32(start), e: int32(len(d.buf))})
		return true
	}
	var ms int64
	ok := false
	if scalar {
		switch f {
		case iso8601:
			ms, ok = parseISO8601(s)
		case unixSec:
			if v, err := strconv.ParseFloat(unsafeString(s), 64); err == nil && !strings.ContainsAny(unsafeString(s), "xXnN_") {
				ms, ok = int64(v*1000), true
			}
		case unixMs:
			ms, ok = parseDecimalLong(s)
		}
	}
	if !ok || ms < minISOMillis || ms > maxISOMillis {
		e.fail("unable to parse date [", unsafeString(s), "]")
		return false
	}
	start := len(d.buf)
	d.buf = appendISOMillis(d.buf, ms)
	d.set(id, val{kind: oText, s: int32(start + 1), e: int32(len(d.buf) - 1)}) // without the quotes
	return true
}

// canonicalISO reports whether s is a valid instant written as
// appendISOMillis writes one (2024-05-14T08:02:11.482Z, what Sophos
// sends): parseISO8601 accepts it and appendISOMillis gives it back
// (TestCanonicalISO).
func canonicalISO(s []byte) bool {
	if len(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[23] != 'Z' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n2 := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	y := n2(0)*100 + n2(2)
	mo, dd := n2(5), n2(8)
	return y >= 1 && mo >= 1 && mo <= 12 && dd >= 1 && dd <= daysInMonth(y, mo) && n2(11) <= 23 && n2(14) <= 59 && n2(17) <= 59
}

// appendMustache is ingest.appendMustache.
func (e *ecsEncoder) appendMustache(id, field slot) {
	v, ok := e.d.get(field)
	if !ok || v.kind == oDead {
		return
	}
	e.d.appendTo(id, e.d.text(e.d.textOf(v)), true)
}

// splitSource is ingest.splitSource.
func (e *ecsEncoder) splitSource(src int32, domain, user slot) {
	if !e.present(src) {
		return
	}
	d := &e.d
	if e.t.kind(src) != '"' {
		s, _ := e.scalar(src)
		e.fail("field [source] of type [", javaType(e.t.kind(src), s), "] cannot be cast to [java.lang.String]")
		return
	}
	start := int32(len(d.buf))
	d.buf = e.t.appendStrText(d.buf, src)
	line := d.buf[start:]
	if i := strings.IndexByte(unsafeString(line), '\n'); i >= 0 {
		line = line[:i]
	}
	end := start + int32(len(line))
	if i := strings.IndexByte(unsafeString(line), '\\'); i >= 0 {
		d.set(domain, val{kind: oText, s: start, e: start + int32(i)})
		d.set(user, val{kind: oText, s: start + int32(i) + 1, e: end})
		return
	}
	d.set(user, val{kind: oText, s: start, e: end})
}

// grok is ingest.grok; ids[i] are pats[i]'s capture slots.
func (e *ecsEncoder) grok(src int32, name string, pats []grokPattern, ids [][]slot) {
	if !e.present(src) {
		return
	}
	if e.t.kind(src) != '"' {
		s, _ := e.scalar(src)
		e.fail("field [", name, "] of type [", javaType(e.t.kind(src), s), "] cannot be cast to [java.lang.String]")
		return
	}
	d := &e.d
	start := int32(len(d.buf))
	d.buf = e.t.appendStrText(d.buf, src)
	text := d.buf[start:]
	for pi := range pats {
		g := &pats[pi]
		m := g.match(text, e.m[:0])
		if m == nil {
			continue
		}
		e.m = m
		for i, f := range g.fields {
			if s := m[2+2*i]; s >= 0 && f.long {
				if _, ok := parseDecimalLong(text[s:m[3+2*i]]); !ok {
					e.fail("For input string: \"", unsafeString(text[s:m[3+2*i]]), "\"")
					return
				}
			}
		}
		for i, f := range g.fields {
			s, end := m[2+2*i], m[3+2*i]
			if s < 0 {
				continue
			}
			if f.long {
				n, _ := parseDecimalLong(text[s:end])
				d.set(ids[pi][i], intVal(n))
				continue
			}
			d.set(ids[pi][i], val{kind: oText, s: start + int32(s), e: start + int32(end)})
		}
		return
	}
	e.fail("Provided Grok expressions do not match field value: [", unsafeString(text), "]")
}

// mac is ingest.mac: temp's text with [:.] → - and upper case, renamed to
// id.
func (e *ecsEncoder) mac(temp, id slot) {
	d := &e.d
	v, ok := d.get(temp)
	if !ok || v.kind != oText {
		return
	}
	start := len(d.buf)
	for _, c := range d.buf[v.s:v.e] {
		switch {
		case c == ':' || c == '.':
			c = '-'
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		d.buf = append(d.buf, c)
	}
	d.kill(temp)
	d.set(id, val{kind: oText, s: int32(start), e: int32(len(d.buf))})
}
