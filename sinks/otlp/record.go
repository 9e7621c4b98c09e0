package otlp

import (
	"sort"
	"strings"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// ScopeName is the instrumentation scope of every LogRecord.
const ScopeName = "github.com/sophos-connect/sophos-connect/sinks/otlp"

// recordOverhead is roughly what a LogRecord costs besides its body (the
// attributes, times and framing); max_bytes counts it per record.
const recordOverhead = 512

// Attribute names (stable: dashboards and queries rely on them).
const (
	AttrID           = "log.record.uid" // OpenTelemetry semantic conventions
	AttrDatastream   = "sophos.datastream"
	AttrType         = "sophos.type"
	AttrName         = "sophos.name"
	AttrGroup        = "sophos.group"
	AttrHost         = "host.name"
	AttrUser         = "user.name"
	AttrEndpointID   = "sophos.endpoint.id"
	AttrEndpointType = "sophos.endpoint.type"
	AttrCreatedAt    = "sophos.created_at"
	ResTenant        = "sophos.tenant.id"
	ResServiceName   = "service.name"
)

// Severity maps a Sophos severity to OpenTelemetry's severity number:
// low INFO (9), medium WARN (13), high ERROR (17), critical FATAL (21);
// anything else UNSPECIFIED (0). severity_text keeps the value as sent.
func Severity(s string) logspb.SeverityNumber {
	if n := severityOf(s); n != logspb.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED || s == "" {
		return n // as sent: lower case
	}
	return severityOf(strings.ToLower(s))
}

func severityOf(s string) logspb.SeverityNumber {
	switch s {
	case "low", "info", "informational", "none":
		return logspb.SeverityNumber_SEVERITY_NUMBER_INFO
	case "medium":
		return logspb.SeverityNumber_SEVERITY_NUMBER_WARN
	case "high":
		return logspb.SeverityNumber_SEVERITY_NUMBER_ERROR
	case "critical":
		return logspb.SeverityNumber_SEVERITY_NUMBER_FATAL
	}
	return logspb.SeverityNumber_SEVERITY_NUMBER_UNSPECIFIED
}

// builder turns a span of encoded records into one LogsData (the same
// message on the wire as ExportLogsServiceRequest): one ResourceLogs per
// tenant, in the order tenants first appear.
type builder struct {
	serviceName string
	extra       []*commonpb.KeyValue // resource_attributes, sorted by key
}

func newBuilder(c Config) builder {
	b := builder{serviceName: c.ServiceName}
	keys := make([]string, 0, len(c.ResourceAttributes))
	for k := range c.ResourceAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.extra = append(b.extra, str(k, c.ResourceAttributes[k]))
	}
	return b
}

func (b *builder) empty() *logspb.LogsData { return &logspb.LogsData{} }

func (b *builder) request(batch []*pipeline.Record, e *httpout.Encoded, sp httpout.Span, now time.Time) *logspb.LogsData {
	out := &logspb.LogsData{}
	scopes := map[string]*logspb.ScopeLogs{}
	observed := uint64(now.UnixNano())
	for i := sp.Lo; i < sp.Hi; i++ {
		r := batch[e.Index[i]]
		sl := scopes[r.Tenant]
		if sl == nil {
			sl = &logspb.ScopeLogs{Scope: &commonpb.InstrumentationScope{Name: ScopeName}}
			scopes[r.Tenant] = sl
			out.ResourceLogs = append(out.ResourceLogs, &logspb.ResourceLogs{
				Resource:  &resourcepb.Resource{Attributes: b.resource(r.Tenant)},
				ScopeLogs: []*logspb.ScopeLogs{sl},
			})
		}
		sl.LogRecords = append(sl.LogRecords, logRecord(r, e.Record(i), observed))
	}
	return out
}

func (b *builder) resource(tenant string) []*commonpb.KeyValue {
	attrs := make([]*commonpb.KeyValue, 0, 2+len(b.extra))
	attrs = append(attrs, str(ResServiceName, b.serviceName))
	if tenant != "" {
		attrs = append(attrs, str(ResTenant, tenant))
	}
	return append(attrs, b.extra...)
}

// logRecord is one record: body the encoded record, the common fields as
// attributes (only those the item has).
func logRecord(r *pipeline.Record, body []byte, observed uint64) *logspb.LogRecord {
	lr := &logspb.LogRecord{
		ObservedTimeUnixNano: observed,
		SeverityNumber:       Severity(r.Severity),
		SeverityText:         r.Severity,
		EventName:            r.Type,
		Body:                 &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: string(body)}},
	}
	if t := r.WhenTime(); !t.IsZero() && t.Unix() > 0 {
		lr.TimeUnixNano = uint64(t.UnixNano())
	}
	attrs := make([]*commonpb.KeyValue, 0, 10)
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, str(k, v))
		}
	}
	add(AttrID, r.ID)
	add(AttrDatastream, string(r.Stream))
	add(AttrType, r.Type)
	add(AttrName, r.Name)
	add(AttrGroup, r.Group)
	add(AttrHost, r.Host)
	add(AttrUser, r.User)
	add(AttrEndpointID, r.EndpointID)
	add(AttrEndpointType, r.EndpointType)
	add(AttrCreatedAt, r.CreatedAt)
	lr.Attributes = attrs
	return lr
}

func str(k, v string) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
}
