package encoding

// ECSVersion is the Elastic Common Schema version the ecs documents name,
// that of the integration version matched (IntegrationVersion).
const ECSVersion = "8.11.0"

// IntegrationVersion is the version of Elastic's sophos_central
// integration whose ingest pipelines the ecs encoder reproduces (see
// testdata/integration/README.md for the fixtures and what differs).
const IntegrationVersion = "1.12.0 – 1.16.0 (ECS 8.11.0)"

// The literals the ecs pipelines set.
var (
	litECSVersion                    = lit(`"` + ECSVersion + `"`)
	litAlert                         = lit(`"alert"`)
	litEvent                         = lit(`"event"`)
	litHost                          = lit(`"host"`)
	litInfo                          = lit(`"info"`)
	litPreserveOriginalEvent         = lit(`"preserve_original_event"`)
	litPreserveDuplicateCustomFields = lit(`"preserve_duplicate_custom_fields"`)
	litPipelineError                 = lit(`"pipeline_error"`)
	litSophosCentral                 = lit(`"sophos_central"`)
	litSophosCentralAlert            = lit(`"sophos_central.alert"`)
	litSophosCentralEvent            = lit(`"sophos_central.event"`)
)

const al = "sophos_central.alert."

var alertRawData = []grokPattern{
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.alert.data.ips_threat.raw_data.message}\nReference\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.reference}\nPacket type\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.local.ip}(\nLocal Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.local.port:long})?(\nLocal MAC:\s*%{MAC:temp.local_mac})?(\n)?(Remote IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.remote.ip})?(\n)?(Remote Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.remote.port:long})?(\n)?(Remote MAC:\s*%{MAC:temp.remote_mac})?(\n)?(PID:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.pid})?(\n)?(Executable:\s*%{PATH:sophos_central.alert.data.ips_threat.raw_data.executable})?\n(Version:\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.version})?\n+(Signer:\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.signer})?\n(SHA-256:\s*%{WORD:sophos_central.alert.data.ips_threat.raw_data.sha_256})?$`),
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.alert.data.ips_threat.raw_data.message}\nReference\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.reference}\nPacket type\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.local.ip}\nLocal Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.local.port:long}\nLocal MAC:\s*%{MAC:temp.local_mac}\nRemote IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.remote.ip}\nRemote Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.remote.port:long}\nRemote MAC:\s*%{MAC:temp.remote_mac}$`),
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.alert.data.ips_threat.raw_data.message}\nPacket type\s*%{DATA:sophos_central.alert.data.ips_threat.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.local.ip}(\nLocal Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.local.port:long})?(\nLocal MAC:\s*%{MAC:temp.local_mac})?(\n)?(Remote IP:\s*%{IP:sophos_central.alert.data.ips_threat.raw_data.remote.ip})?(\n)?(Remote Port:\s*%{NUMBER:sophos_central.alert.data.ips_threat.raw_data.remote.port:long})?(\n)?(Remote MAC:\s*%{MAC:temp.remote_mac})?$`),
	compileGrok(`^%{GREEDYDATA:sophos_central.alert.data.ips_threat.raw_data.message}$`),
}

type objectIDPaths struct{ timestamp, machine, process, counter, time, date, timeSec string }

func newObjectIDPaths(prefix string) *objectIDPaths {
	return &objectIDPaths{prefix + "timestamp", prefix + "machine_identifier", prefix + "process_identifier",
		prefix + "counter", prefix + "time", prefix + "date", prefix + "time_sec"}
}

// alertDuplicates are the sophos_central.alert fields the pipeline removes
// unless preserve_duplicate_custom_fields: their values are in ECS fields.
var alertDuplicates = []string{
	al + "when", al + "description", al + "created_at", al + "type", al + "id",
	al + "data.source_info_ip", al + "data.hmpa_exploit.process_name", al + "data.hmpa_exploit.process_pid",
	al + "data.ips_threat.executable.name", al + "customer_id", al + "source.domain.name",
	al + "source.user.name", al + "data.ips_threat.remote.ip", al + "data.ips_threat.remote.port",
}

const ev = "sophos_central.event."

var eventRawData = []grokPattern{
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.event.ips_threat_data.raw_data.message}\nReference\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.reference}\nPacket type\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.local.ip}(\nLocal Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.local.port:long})?(\nLocal MAC:\s*%{MAC:temp.local_mac})?(\n)?(Remote IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.remote.ip})?(\n)?(Remote Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.remote.port:long})?(\n)?(Remote MAC:\s*%{MAC:temp.remote_mac})?(\n)?(PID:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.pid})?(\n)?(Executable:\s*%{PATH:sophos_central.event.ips_threat_data.raw_data.executable})?\n(Version:\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.version})?\n+(Signer:\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.signer})?\n(SHA-256:\s*%{WORD:sophos_central.event.ips_threat_data.raw_data.sha_256})?$`),
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.event.ips_threat_data.raw_data.message}\nReference\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.reference}\nPacket type\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.local.ip}\nLocal Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.local.port:long}\nLocal MAC:\s*%{MAC:temp.local_mac}\nRemote IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.remote.ip}\nRemote Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.remote.port:long}\nRemote MAC:\s*%{MAC:temp.remote_mac}$`),
	compileGrok(`^Message\s*%{GREEDYDATA:sophos_central.event.ips_threat_data.raw_data.message}\nPacket type\s*%{DATA:sophos_central.event.ips_threat_data.raw_data.packet_type}\nLocal IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.local.ip}(\nLocal Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.local.port:long})?(\nLocal MAC:\s*%{MAC:temp.local_mac})?(\n)?(Remote IP:\s*%{IP:sophos_central.event.ips_threat_data.raw_data.remote.ip})?(\n)?(Remote Port:\s*%{NUMBER:sophos_central.event.ips_threat_data.raw_data.remote.port:long})?(\n)?(Remote MAC:\s*%{MAC:temp.remote_mac})?$`),
	compileGrok(`^%{GREEDYDATA:sophos_central.event.ips_threat_data.raw_data.message}$`),
}

var eventDuplicates = []string{
	ev + "created_at", ev + "id", ev + "name", ev + "app_sha256",
	ev + "amsi_threat_data.parent_process.path", ev + "amsi_threat_data.process.name",
	ev + "amsi_threat_data.process.path", ev + "amsi_threat_data.parent_process.id",
	ev + "ips_threat_data.executable.pid", ev + "ips_threat_data.executable.path", ev + "source_info.ip",
	ev + "ips_threat_data.local_port", ev + "threat", ev + "user_id", ev + "customer_id",
	ev + "source.domain.name", ev + "source.user.name", ev + "ips_threat_data.remote.ip",
	ev + "ips_threat_data.remote.port", ev + "when",
}

func isString(v []byte) bool { return len(v) > 0 && v[0] == '"' }

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
