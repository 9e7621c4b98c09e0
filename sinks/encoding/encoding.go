// Package encoding turns records into the bytes a destination receives. The
// encoders are shared by every sink:
//
//	raw            the API item byte for byte plus "datastream" and "tenant_id"
//	txt            the seed's bracketed event/alert line (reference §11.2)
//	official-json  the official SIEM script's JSON line     } byte-identical to
//	keyvalue       the official SIEM script's key-value line } the script v2.1.0
//	cef            the official SIEM script's CEF line       } (reference §10)
//	ecs            the document the ingest pipeline of Elastic's sophos_central
//	               integration builds (ecs.go)
//	integration    what Elastic Agent's httpjson input sends for the
//	               integration's pipeline to build that document (integration.go)
//	python-json    the API item as the seed's json.dump wrote it (reference §11.3)
//	ocsf           an OCSF event (OCSFVersion): Detection Finding and the
//	               classes of ocsfEventTypes (ocsf.go)
//	leef           QRadar's LEEF 2.0 (or 1.0) line (leef.go)
//	asim_alert     a Microsoft Sentinel row in the ASIM Alert Event schema (asim.go)
//
// Every encoder reads the record's raw API item in place (key order kept,
// pipeline/rawjson) and appends one record, without a line terminator, into
// the caller's buffer. Scratch space lives in the encoder and is reused, so
// steady-state encoding does not allocate; an encoder therefore serves one
// goroutine. An item that is not exactly one JSON object is an error and
// leaves dst as it was.
package encoding

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Encoder appends one record's encoding to dst and returns the extended
// buffer. Line-oriented sinks add their own line terminator; encoders never
// write one. Encoders keep no per-record state and are safe for one
// goroutine at a time (each sink owns its encoder).
type Encoder interface {
	Append(dst []byte, r *pipeline.Record) ([]byte, error)
}

// FingerprintEncoder is an Encoder that also gives a record's fingerprint
// _id (Fingerprinter's) from the parse its Append uses: a sink that needs
// both calls AppendFingerprint and then Append for the same record, and the
// item is parsed once, not twice.
type FingerprintEncoder interface {
	Encoder
	// AppendFingerprint appends r's fingerprint _id as Fingerprinter.Append
	// does (ok false when it gives none). The next Append of r (the same
	// record, its Raw unchanged) reuses the parse.
	AppendFingerprint(dst []byte, r *pipeline.Record) (out []byte, ok bool)
}

// Options tune the official script's encoders.
type Options struct {
	// CEFStrict also escapes newlines and carriage returns in CEF values
	// (\n, \r) as the CEF specification requires; the official script does not.
	// The other line formats (keyvalue, txt) then escape them the same way,
	// so no line format ever spans two lines.
	CEFStrict bool `yaml:"cef_strict"`

	// KeepDhost turns the official script's dhost FQDN cleanup off
	// (convert_dhost_field_to_valid_fqdn = false). The default (false) is the
	// script's default: the cleanup runs.
	KeepDhost bool `yaml:"keep_dhost"`

	// ECSExtras adds to format ecs the fields Elastic's integration does not
	// set (event.module/dataset/severity, host.*, related.user/hosts,
	// sophos_central.tenant_id). Default false: exactly the integration's
	// document.
	ECSExtras bool `yaml:"ecs_extras"`

	// PreserveOriginalEvent keeps the item as a JSON string in
	// event.original (formats ecs and integration), as the integration's
	// option of that name does. Default false.
	PreserveOriginalEvent bool `yaml:"preserve_original_event"`

	// PreserveDuplicateCustomFields keeps the sophos_central.* fields whose
	// values were copied to ECS fields (formats ecs and integration), as the
	// integration's option of that name does. Default false.
	PreserveDuplicateCustomFields bool `yaml:"preserve_duplicate_custom_fields"`

	// OCSF tunes format ocsf (ocsf.raw_data).
	OCSF OCSFOptions `yaml:"ocsf"`

	// LEEF tunes format leef (leef.version).
	LEEF LEEFOptions `yaml:"leef"`

	// Namespace is the data stream namespace of format integration (set by
	// the elasticsearch sink; "" means default).
	Namespace string `yaml:"-"`

	// Logger receives the official script's warnings (unmapped severity,
	// threat name that does not split), once per distinct value. Nil means
	// slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// Formats lists the accepted format names.
var Formats = []string{"raw", "ecs", "integration", "cef", "keyvalue", "official-json", "txt", "python-json", "ocsf", "leef", "asim_alert"}

// New returns a fresh encoder for format (one of Formats). Each sink
// goroutine needs its own: encoders reuse scratch buffers.
func New(format string, opts Options) (Encoder, error) {
	switch format {
	case "raw":
		return &rawEncoder{}, nil
	case "txt":
		return &txtEncoder{strict: opts.CEFStrict}, nil
	case "official-json":
		return &officialJSONEncoder{o: newOfficial(opts)}, nil
	case "keyvalue":
		return &keyvalueEncoder{o: newOfficial(opts), strict: opts.CEFStrict}, nil
	case "cef":
		return newCEFEncoder(newOfficial(opts), opts.CEFStrict), nil
	case "ecs":
		return newECSEncoder(opts), nil
	case "integration":
		return newIntegrationEncoder(opts), nil
	case "python-json":
		return &pyJSONEncoder{}, nil
	case "ocsf":
		return newOCSFEncoder(opts), nil
	case "leef":
		return newLEEFEncoder(opts)
	case "asim_alert":
		return &asimEncoder{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (valid: %s)", format, strings.Join(Formats, ", "))
}

// FormatDesc is how validate names a sink's format: the name, and for the
// SIEM-schema formats the schema and version they follow.
func FormatDesc(format string, o Options) string {
	switch format {
	case "ocsf":
		return fmt.Sprintf("ocsf (OCSF %s, Detection/Incident Finding and the README's classes, raw_data=%v)", OCSFVersion, o.OCSF.RawData)
	case "leef":
		v := o.LEEF.Version
		if v == "" {
			v = "2.0"
		}
		return "leef (LEEF " + v + ", tab-delimited, devTime " + LEEFDevTimeFormat + ")"
	case "asim_alert":
		return "asim_alert (ASIM AlertEvent 0.1 rows: examples/sentinel-dcr-asim.json, parser ASimAlertEventSophosCentral)"
	}
	return format
}
