package encoding

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// ecsInterp is the ecs encoder as an interpreter of the pipelines'
// processors over a document built per record (odoc_test.go, ingest_interp_test.go): the
// oracle the ecs encoder (ecs.go) is held to, byte for byte
// (TestECSMatchesInterpreter), and the reference its comments point to.
type ecsInterp struct {
	t    tape
	d    odoc
	p    ingest
	opts Options
}

func newECSInterp(opts Options) *ecsInterp {
	e := &ecsInterp{opts: opts}
	e.p.d, e.p.t = &e.d, &e.t
	return e
}

func (e *ecsInterp) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	if !r.Stream.SIEM() {
		return appendXDRECS(dst, r, e.opts, "")
	}
	if !e.t.parseItem(r.Raw) {
		return dst, fmt.Errorf("ecs: record %q: %w", r.ID, itemError(r.Raw))
	}
	e.d.reset(&e.t)
	e.p.newRecord()
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

// common is what both pipelines do first.
func (e *ecsInterp) common(r *pipeline.Record, alert bool) {
	d := &e.d
	d.set("ecs.version", litECSVersion)
	if alert {
		d.appendTo("event.kind", litAlert, false)
	} else {
		d.appendTo("event.kind", litEvent, false)
	}
	d.appendTo("event.category", litHost, false)
	d.appendTo("event.type", litInfo, false)
	if e.opts.PreserveOriginalEvent {
		d.set("event.original", d.text(r.Raw))
		d.appendTo("tags", litPreserveOriginalEvent, true)
	}
	if e.opts.PreserveDuplicateCustomFields {
		d.appendTo("tags", litPreserveDuplicateCustomFields, true)
	}
}

// alert is the sophos_central.alert pipeline.
func (e *ecsInterp) alert() {
	d, p := &e.d, &e.p
	p.rename(p.top("description"), al+"description")
	d.copyField("message", al+"description")
	if p.date(p.top("when"), al+"when", iso8601) {
		d.copyField("@timestamp", al+"when")
	}
	p.date(p.top("created_at"), al+"created_at", iso8601)
	d.copyField("event.created", al+"created_at")
	p.rename(p.top("type"), al+"type")
	d.copyField("event.code", al+"type")
	p.rename(p.top("id"), al+"id")
	d.copyField("event.id", al+"id")

	data := p.top("data")
	p.rename(p.in(data, "endpoint_id"), al+"data.endpoint.id")
	p.rename(p.in(data, "endpoint_type"), al+"data.endpoint.type")
	p.convert(p.in(p.in(data, "source_info"), "ip"), al+"data.source_info_ip", toIP)
	d.copyField("source.ip", al+"data.source_info_ip")
	p.appendMustache("related.ip", "source.ip")

	hmpa := p.in(data, "hmpa_exploit")
	p.rename(p.in(hmpa, "process_name"), al+"data.hmpa_exploit.process_name")
	d.copyField("process.name", al+"data.hmpa_exploit.process_name")
	p.convert(p.in(hmpa, "process_pid"), al+"data.hmpa_exploit.process_pid", toLong)
	d.copyField("process.pid", al+"data.hmpa_exploit.process_pid")

	ips := p.in(data, "ips_threat")
	p.rename(p.in(ips, "executable_name"), al+"data.ips_threat.executable.name")
	d.copyField("process.executable", al+"data.ips_threat.executable.name")
	p.rename(p.top("customer_id"), al+"customer_id")
	d.copyField("organization.id", al+"customer_id")
	p.rename(p.in(data, "certificates"), al+"data.certificates")

	source := p.top("source")
	p.splitSource(source, al+"source.domain.name", al+"source.user.name")
	p.rename(source, al+"source.original")
	d.copyField("user.domain", al+"source.domain.name")
	d.copyField("user.name", al+"source.user.name")
	p.rename(p.top("severity"), al+"severity")

	remedy := p.in(data, "core_remedy_items")
	p.convert(p.in(remedy, "totalItems"), al+"data.core_remedy.total_items", toLong)
	e.remedyItems(p.in(remedy, "items"), al+"data.core_remedy.items")

	p.rename(p.in(data, "endpoint_java_id"), al+"data.endpoint.java_id")
	p.rename(p.in(data, "endpoint_platform"), al+"data.endpoint.platform")
	p.convert(p.in(hmpa, "uid"), al+"data.hmpa_exploit.uid", toString)
	p.rename(p.in(hmpa, "family_id"), al+"data.hmpa_exploit.family_id")
	p.rename(p.in(hmpa, "process_version"), al+"data.hmpa_exploit.process_version")
	p.rename(p.in(hmpa, "thumbprint"), al+"data.hmpa_exploit.thumbprint")
	p.rename(p.in(hmpa, "process_path"), al+"data.hmpa_exploit.process_path")
	p.rename(p.in(hmpa, "type"), al+"data.hmpa_exploit.type")
	p.rename(p.in(hmpa, "version"), al+"data.hmpa_exploit.version")
	p.date(p.in(data, "inserted_at"), al+"data.inserted_at", unixMs)

	p.convert(p.in(ips, "remote_ip"), al+"data.ips_threat.remote.ip", toIP)
	d.copyField("destination.ip", al+"data.ips_threat.remote.ip")
	p.appendMustache("related.ip", "destination.ip")
	p.rename(p.in(ips, "executable_pid"), al+"data.ips_threat.executable.pid")
	p.convert(p.in(ips, "local_port"), al+"data.ips_threat.local_port", toLong)
	p.convert(p.in(ips, "detection_type"), al+"data.ips_threat.detection_type", toLong)
	p.convert(p.in(ips, "remote_port"), al+"data.ips_threat.remote.port", toLong)
	d.copyField("destination.port", al+"data.ips_threat.remote.port")
	p.rename(p.in(ips, "executable_path"), al+"data.ips_threat.executable.path")

	rawData := p.in(ips, "raw_data")
	p.grok(rawData, "raw_data", alertRawData)
	p.rename(rawData, al+"data.ips_threat.raw_data.original")
	p.mac("temp.local_mac", al+"data.ips_threat.raw_data.local.mac")
	p.mac("temp.remote_mac", al+"data.ips_threat.raw_data.remote.mac")
	p.appendMustache("related.hash", al+"data.ips_threat.raw_data.sha_256")

	p.rename(p.in(ips, "executable_version"), al+"data.ips_threat.executable.version")
	p.rename(p.in(ips, "tech_support_id"), al+"data.ips_threat.tech_support_id")
	p.rename(p.in(data, "source_app_id"), al+"data.source_app_id")

	tid := p.in(data, "threat_id")
	e.objectID(tid, threatIDPaths, true)
	p.rename(p.in(data, "threat_status"), al+"data.threat_status")
	umid := p.in(data, "user_match_id")
	e.objectID(umid, userMatchIDPaths, false)
	// The pipeline tests threat_id.date before parsing user_match_id.date.
	switch {
	case p.present(tid) && e.t.kind(tid) != '{':
		p.fail("runtime error") // the condition's script error, as above
	case p.present(p.in(tid, "date")):
		if p.present(umid) && e.t.kind(umid) != '{' {
			s, _ := p.scalar(umid)
			p.fail("cannot resolve [date] from object of type [", javaType(e.t.kind(umid), s), "] as part of path [json.data.user_match_id.date]")
		} else if !p.date(p.in(umid, "date"), al+"data.user_match_id.date", unixMs) && !p.present(p.in(umid, "date")) {
			p.fail("field [date] not present as part of path [json.data.user_match_id.date]")
		}
	}
	if !p.present(umid) || e.t.kind(umid) == '{' {
		p.date(p.in(umid, "timeSecond"), al+"data.user_match_id.time_sec", unixSec)
	}
	p.date(p.in(data, "created_at"), al+"data.created_at", unixMs)

	p.rename(p.top("threat"), al+"threat.value")
	p.convert(p.top("threat_cleanable"), al+"threat.cleanable", toBoolean)
	p.rename(p.top("event_service_event_id"), al+"event_service_event_id")
	p.rename(p.top("location"), al+"location")
	esid := p.in(data, "event_service_id")
	p.rename(p.in(esid, "data"), al+"data.event_service_id.data")
	p.convert(p.in(esid, "type"), al+"data.event_service_id.type", toLong)
	uuid := p.in(data, "user_match_uuid")
	p.rename(p.in(uuid, "data"), al+"data.user_match_uuid.data")
	p.convert(p.in(uuid, "type"), al+"data.user_match_uuid.type", toLong)
	p.date(p.in(data, "make_actionable_at"), al+"data.make_actionable_at", unixMs)
	p.convert(p.in(data, "policy_type"), al+"data.policy_type", toLong)
	p.rename(p.in(data, "app_id"), al+"data.app_id")

	if !e.opts.PreserveDuplicateCustomFields {
		d.removeAll(alertDuplicates)
	}
}

// objectID parses a threat_id / user_match_id object (BSON ObjectId
// parts): timestamp, machineIdentifier, processIdentifier, counter and
// time; date and timeSecond for threat_id (user_match_id's come after a
// quirk, in alert).
func (e *ecsInterp) objectID(obj int32, f *objectIDPaths, threat bool) {
	p := &e.p
	if p.present(obj) && e.t.kind(obj) != '{' {
		// The API sends these ids as strings too. The pipeline's date
		// processors test ctx.json?.data?.<id>?.<part> != null, a script
		// error on a string; its converts skip (ignore_missing).
		n := 3
		if threat {
			n = 4
		}
		for range n {
			p.fail("runtime error")
		}
		return
	}
	p.date(p.in(obj, "timestamp"), f.timestamp, unixSec)
	p.convert(p.in(obj, "machineIdentifier"), f.machine, toLong)
	p.convert(p.in(obj, "processIdentifier"), f.process, toLong)
	p.convert(p.in(obj, "counter"), f.counter, toLong)
	p.date(p.in(obj, "time"), f.time, unixMs)
	if threat {
		p.date(p.in(obj, "date"), f.date, unixMs)
		p.date(p.in(obj, "timeSecond"), f.timeSec, unixSec)
	}
}

var threatIDPaths, userMatchIDPaths = newObjectIDPaths(al + "data.threat_id."), newObjectIDPaths(al + "data.user_match_id.")

// remedyItems is the pipelines' foreach renames of core_remedy_items.items
// (sophosPid, suspendResult, processPath to snake case) and its rename.
func (e *ecsInterp) remedyItems(items int32, path string) {
	if !e.p.present(items) {
		return
	}
	if e.t.kind(items) == '[' {
		e.d.set(path, val{kind: oItems, tape: items})
		return
	}
	e.d.set(path, tapeVal(items))
}

// event is the sophos_central.event pipeline.
func (e *ecsInterp) event() {
	d, p := &e.d, &e.p
	p.date(p.top("created_at"), ev+"created_at", iso8601)
	d.copyField("event.created", ev+"created_at")
	p.rename(p.top("id"), ev+"id")
	d.copyField("event.id", ev+"id")
	p.rename(p.top("name"), ev+"name")
	d.copyField("event.action", ev+"name")
	p.rename(p.top("appSha256"), ev+"app_sha256")
	d.copyField("process.hash.sha256", ev+"app_sha256")

	amsi := p.top("amsi_threat_data")
	p.rename(p.in(amsi, "parentProcessPath"), ev+"amsi_threat_data.parent_process.path")
	d.copyField("process.parent.executable", ev+"amsi_threat_data.parent_process.path")
	p.rename(p.in(amsi, "processName"), ev+"amsi_threat_data.process.name")
	d.copyField("process.name", ev+"amsi_threat_data.process.name")
	p.rename(p.in(amsi, "processPath"), ev+"amsi_threat_data.process.path")
	d.copyField("process.working_directory", ev+"amsi_threat_data.process.path")
	p.rename(p.in(amsi, "parentProcessId"), ev+"amsi_threat_data.parent_process.id")

	ips := p.top("ips_threat_data")
	p.convert(p.in(ips, "executablePid"), ev+"ips_threat_data.executable.pid", toLong)
	d.copyField("process.pid", ev+"ips_threat_data.executable.pid")
	p.rename(p.in(ips, "executableName"), ev+"ips_threat_data.executable.name")
	p.rename(p.in(ips, "executablePath"), ev+"ips_threat_data.executable.path")
	d.copyField("process.executable", ev+"ips_threat_data.executable.path")
	p.convert(p.in(p.top("source_info"), "ip"), ev+"source_info.ip", toIP)
	d.copyField("source.ip", ev+"source_info.ip")
	p.appendMustache("related.ip", ev+"source_info.ip")
	p.convert(p.in(ips, "localPort"), ev+"ips_threat_data.local_port", toLong)
	d.copyField("source.port", ev+"ips_threat_data.local_port")
	p.rename(p.top("threat"), ev+"threat")
	d.copyField("threat.feed.name", ev+"threat")
	p.rename(p.top("user_id"), ev+"user_id")
	d.copyField("user.id", ev+"user_id")
	p.rename(p.top("customer_id"), ev+"customer_id")
	d.copyField("organization.id", ev+"customer_id")
	p.convert(p.in(ips, "remoteIp"), ev+"ips_threat_data.remote.ip", toIP)
	d.copyField("destination.ip", ev+"ips_threat_data.remote.ip")
	p.appendMustache("related.ip", ev+"ips_threat_data.remote.ip")
	p.convert(p.in(ips, "remotePort"), ev+"ips_threat_data.remote.port", toLong)
	d.copyField("destination.port", ev+"ips_threat_data.remote.port")
	if p.date(p.top("when"), ev+"when", iso8601) {
		d.copyField("@timestamp", ev+"when")
	}

	p.rename(p.top("endpoint_id"), ev+"endpoint.id")
	p.rename(p.top("endpoint_type"), ev+"endpoint.type")
	p.rename(p.top("location"), ev+"location")
	p.rename(p.top("group"), ev+"group")
	p.rename(p.top("origin"), ev+"origin")
	p.rename(p.top("appCerts"), ev+"app_certs")
	p.rename(p.in(ips, "techSupportId"), ev+"ips_threat_data.tech_support_id")
	p.convert(p.in(ips, "detectionType"), ev+"ips_threat_data.detection_type", toLong)
	p.rename(p.in(ips, "executableVersion"), ev+"ips_threat_data.executable.version")

	source := p.top("source")
	p.splitSource(source, ev+"source.domain.name", ev+"source.user.name")
	p.rename(source, ev+"source.original")
	d.copyField("user.domain", ev+"source.domain.name")
	d.copyField("user.name", ev+"source.user.name")
	p.rename(p.in(amsi, "processId"), ev+"amsi_threat_data.process.id")

	remedy := p.top("core_remedy_items")
	e.remedyItems(p.in(remedy, "items"), ev+"core_remedy.items")
	p.convert(p.in(remedy, "totalItems"), ev+"core_remedy.total_items", toLong)
	p.rename(p.top("severity"), ev+"severity")
	p.rename(p.top("type"), ev+"type")

	rawData := p.in(ips, "rawData")
	p.grok(rawData, "rawData", eventRawData)
	p.rename(rawData, ev+"ips_threat_data.raw_data.original")
	p.mac("temp.local_mac", ev+"ips_threat_data.raw_data.local.mac")
	p.mac("temp.remote_mac", ev+"ips_threat_data.raw_data.remote.mac")
	p.appendMustache("related.hash", ev+"ips_threat_data.raw_data.sha_256")

	if !e.opts.PreserveDuplicateCustomFields {
		d.removeAll(eventDuplicates)
	}
}

// finish is what both pipelines do last, then the extras.
func (e *ecsInterp) finish(r *pipeline.Record, alert bool) {
	d := &e.d
	if e.p.errs > 0 {
		d.appendTo("event.kind", litPipelineError, true)
	}
	d.remove("temp")
	if _, ok := d.get("@timestamp"); !ok {
		// Elastic Agent stamps the time it read the item; the pipeline
		// keeps that when `when` does not parse. created_at is the
		// stable stand-in (data streams need @timestamp).
		d.copyField("@timestamp", "event.created")
	}
	if e.opts.ECSExtras {
		e.extras(r, alert)
	}
}

// extras adds the fields behind ecs_extras.
func (e *ecsInterp) extras(r *pipeline.Record, alert bool) {
	d, p := &e.d, &e.p
	d.set("event.module", litSophosCentral)
	if alert {
		d.set("event.dataset", litSophosCentralAlert)
	} else {
		d.set("event.dataset", litSophosCentralEvent)
	}
	if sev, ok := ecsSeverity(e.t.valueText(p.top("severity"))); ok {
		d.set("event.severity", intVal(int64(sev)))
	}
	loc := p.top("location")
	if p.present(loc) && e.t.kind(loc) == '"' {
		d.set("host.name", tapeVal(loc))
		d.appendTo("related.hosts", tapeVal(loc), true)
	}
	epID, epType := p.top("endpoint_id"), p.top("endpoint_type")
	if alert {
		data := p.top("data")
		epID, epType = p.in(data, "endpoint_id"), p.in(data, "endpoint_type")
		if pl := p.in(data, "endpoint_platform"); p.present(pl) && e.t.kind(pl) == '"' {
			d.set("host.os.platform", tapeVal(pl))
		}
	}
	if p.present(epID) && e.t.kind(epID) == '"' {
		d.set("host.id", tapeVal(epID))
	}
	if p.present(epType) && e.t.kind(epType) == '"' {
		d.set("host.type", tapeVal(epType))
	}
	if v, ok := d.get("user.name"); ok {
		d.appendTo("related.user", v, true)
	}
	if r.Tenant != "" {
		d.set("sophos_central.tenant_id", d.textString(r.Tenant))
	}
}

// The ecs encoder (ecs.go, slots) is the pipelines compiled by hand; the
// interpreter (here, odoc_test.go and ingest_interp_test.go) runs them processor by
// processor and is what the fixtures were first matched with. The tests
// here require the same bytes from both on the fixtures, the golden and
// diff seeds and random items shaped like the API's (every member the
// pipelines read, with values of every type, repeated, escaped, missing).

// ecsOptionSets are every combination of the options ecs reads.
var ecsOptionSets = func() []Options {
	var out []Options
	for i := range 8 {
		out = append(out, Options{PreserveOriginalEvent: i&1 != 0, PreserveDuplicateCustomFields: i&2 != 0, ECSExtras: i&4 != 0})
	}
	return out
}()

// ecsShape is the objects the pipelines read members of, by dotted path
// ("" is the item), and the member names read.
var ecsShape = map[string][]string{
	"":                       topNames.names,
	"data":                   dataNames.names,
	"data.hmpa_exploit":      hmpaNames.names,
	"data.ips_threat":        alertIPSNames.names,
	"data.source_info":       ipNames.names,
	"source_info":            ipNames.names,
	"data.core_remedy_items": remedyNames.names,
	"core_remedy_items":      remedyNames.names,
	"data.threat_id":         objectIDNames.names,
	"data.user_match_id":     objectIDNames.names,
	"data.event_service_id":  dataTypeNames.names,
	"data.user_match_uuid":   dataTypeNames.names,
	"amsi_threat_data":       amsiNames.names,
	"ips_threat_data":        eventIPSNames.names,
}

// ecsRandItem builds an item of the API's shape: each member the
// pipelines read present or not, its value of a random kind.
func ecsRandItem(rng *rand.Rand, rawData []string) []byte {
	strs := []string{"", "x", "n/a", `DOM\\user`, `\\u`, `u\\`, `a\\b\\c`, "line1\\nline2", `\u00e9`, "é", `\ud800`,
		"2024-05-14T08:02:11.000Z", "2024-05-14T08:02:11Z", "2024-05-14", "2024-02-30T00:00:00Z", "2024-05-14T08:02:11.123456+05:30",
		"0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "10.0.0.1", "::1", "fe80::1%1", "999.1.1.1", "80", "0x1F", "-0x10",
		"1715677912655", "1715677912", "1715677912.5", "1e3", "NaN", "0x10p1", "1_000", "true", "FALSE", "maybe", "low", "medium",
		"high", "critical", "very_high", "Event::Endpoint::Threat::Detected", "AA:bb:CC:dd:EE:ff", "aabb.ccdd.eeff", "WKS-01"}
	nums := []string{"0", "-0", "1", "443", "70000", "1715677912655", "1715677912", "2.50", "1e3", "1E-7", "-1.5e+300", "1e999",
		"12345678901234567890", "0.1", "-62135596800001", "253402300799999"}
	var value func(b *bytes.Buffer, path string, depth int)
	object := func(b *bytes.Buffer, path string, names []string, depth int) {
		b.WriteByte('{')
		first := true
		member := func(name string) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			if rng.IntN(12) == 0 && len(name) > 0 { // an escaped name
				fmt.Fprintf(b, `"\u%04x%s":`, name[0], name[1:])
			} else {
				fmt.Fprintf(b, "%q:", name)
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			value(b, p, depth+1)
		}
		for _, name := range names {
			if rng.IntN(3) == 0 {
				continue
			}
			member(name)
			if rng.IntN(15) == 0 {
				member(name) // repeated: the last counts
			}
		}
		if rng.IntN(4) == 0 {
			member("other")
		}
		b.WriteByte('}')
	}
	value = func(b *bytes.Buffer, path string, depth int) {
		if names, ok := ecsShape[path]; ok && rng.IntN(6) != 0 {
			object(b, path, names, depth)
			return
		}
		k := rng.IntN(20)
		switch {
		case (strings.HasSuffix(path, "raw_data") || strings.HasSuffix(path, "rawData")) && k < 14 && len(rawData) > 0:
			s := rawData[rng.IntN(len(rawData))]
			if rng.IntN(3) == 0 {
				s = s[:rng.IntN(len(s)+1)]
			}
			j, _ := json.Marshal(s)
			b.Write(j)
		case strings.HasSuffix(path, "items") && k < 10:
			b.WriteByte('[')
			for i, n := 0, rng.IntN(3); i < n; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(b, `{"sophosPid":"%d","suspendResult":"OK","processPath":"","type":"file","x":null}`, i)
			}
			b.WriteByte(']')
		case k < 9:
			fmt.Fprintf(b, `"%s"`, strs[rng.IntN(len(strs))])
		case k < 13:
			b.WriteString(nums[rng.IntN(len(nums))])
		case k < 15:
			b.WriteString([]string{"true", "false", "null"}[rng.IntN(3)])
		case k < 17 && depth < 4:
			b.WriteByte('[')
			for i, n := 0, rng.IntN(3); i < n; i++ {
				if i > 0 {
					b.WriteByte(',')
				}
				value(b, "-", depth+1)
			}
			b.WriteByte(']')
		case depth < 4:
			b.WriteString(`{"a":`)
			value(b, "-", depth+1)
			b.WriteString(`,"b":""}`)
		default:
			b.WriteString(`""`)
		}
	}
	var b bytes.Buffer
	object(&b, "", ecsShape[""], 0)
	return b.Bytes()
}

// fixtureRawData are the IPS raw_data texts of the integration's fixtures.
func fixtureRawData(t testing.TB) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "raw_data" || k == "rawData") {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, f := range loadFixtures(t.(*testing.T)) {
		for _, l := range f.lines {
			var v any
			if json.Unmarshal(l, &v) == nil {
				walk(v)
			}
		}
	}
	return out
}

type ecsPair struct {
	enc    *ecsEncoder
	interp *ecsInterp
	opts   Options
}

func newECSPairs() []ecsPair {
	var ps []ecsPair
	for _, o := range ecsOptionSets {
		ps = append(ps, ecsPair{newECSEncoder(o), newECSInterp(o), o})
	}
	return ps
}

func (p ecsPair) compare(t testing.TB, r *pipeline.Record) {
	t.Helper()
	got, gerr := p.enc.Append(nil, r)
	want, werr := p.interp.Append(nil, r)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("%+v %s item %s:\nerror %v\n want %v", p.opts, r.Stream, r.Raw, gerr, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%+v %s item %s:\n got %s\nwant %s", p.opts, r.Stream, r.Raw, got, want)
	}
}

var ecsItems = flag.Int("ecs.items", 2000, "random items TestECSMatchesInterpreter compares (2000: about 10 s under -race)")

// TestECSMatchesInterpreter holds the encoder to the interpreter, byte for
// byte, for every option set and both streams.
func TestECSMatchesInterpreter(t *testing.T) {
	pairs := newECSPairs()
	var items [][]byte // the fixtures and sample items under every option set
	for _, f := range loadFixtures(t) {
		items = append(items, f.lines...)
	}
	seeds := diffSeeds(t)
	items = append(items, seeds[:12]...)
	for _, item := range items {
		for _, r := range diffRecords(item) {
			for _, p := range pairs {
				p.compare(t, r)
			}
		}
	}
	// the other seeds and random items, each record under two of them
	rng := rand.New(rand.NewPCG(3, 4))
	for _, item := range seeds[12:] {
		for _, r := range diffRecords(item) {
			pairs[rng.IntN(len(pairs))].compare(t, r)
			pairs[rng.IntN(len(pairs))].compare(t, r)
		}
	}
	rawData := fixtureRawData(t)
	n := *ecsItems
	if testing.Short() {
		n = 300
	}
	for range n {
		item := ecsRandItem(rng, rawData)
		for _, r := range diffRecords(item) {
			pairs[rng.IntN(len(pairs))].compare(t, r)
			pairs[rng.IntN(len(pairs))].compare(t, r)
		}
	}
}

// FuzzECSMatchesInterpreter is TestECSMatchesInterpreter on fuzzed items:
// go test -run XXX -fuzz FuzzECSMatchesInterpreter -fuzztime 60s ./sinks/encoding/
func FuzzECSMatchesInterpreter(f *testing.F) {
	for _, s := range diffSeeds(f) {
		f.Add(s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		f.Add(ecsRandItem(rng, nil))
	}
	pairs := newECSPairs()
	f.Fuzz(func(t *testing.T, item []byte) {
		for _, r := range diffRecords(item) {
			for _, p := range pairs {
				p.compare(t, r)
			}
		}
	})
}

// TestCanonicalISO holds the date fast path to parseISO8601 and
// appendISOMillis: what it accepts they accept and write back unchanged.
func TestCanonicalISO(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	ok := 0
	for range 200000 {
		b := []byte("2024-05-14T08:02:11.482Z")
		switch rng.IntN(4) {
		case 0: // a random instant in years 1 to 9999
			ms := minISOMillis + rng.Int64N(maxISOMillis-minISOMillis+1)
			b = appendISOMillis(nil, ms)
			b = b[1 : len(b)-1]
		default: // digits and separators changed at random
			for range 1 + rng.IntN(3) {
				b[rng.IntN(len(b))] = "0123456789-:.TZ+x"[rng.IntN(17)]
			}
		}
		if rng.IntN(50) == 0 {
			b = b[:rng.IntN(len(b))]
		}
		if !canonicalISO(b) {
			continue
		}
		ok++
		ms, parsed := parseISO8601(b)
		if !parsed || ms < minISOMillis || ms > maxISOMillis {
			t.Fatalf("%s: canonical, but parseISO8601 rejects it", b)
		}
		if w := appendISOMillis(nil, ms); string(w[1:len(w)-1]) != string(b) {
			t.Fatalf("%s: canonical, but written back as %s", b, w)
		}
	}
	if ok < 10000 {
		t.Fatalf("only %d canonical instants tried", ok)
	}
	for _, s := range []string{"0000-01-01T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2024-02-30T00:00:00.000Z", "2024-13-01T00:00:00.000Z", "2024-05-14T24:00:00.000Z"} {
		if canonicalISO([]byte(s)) {
			t.Errorf("%s: taken as canonical", s)
		}
	}
}
