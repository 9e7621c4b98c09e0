package otlp

import (
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// The protobuf request is appended by hand, field by field, into reused
// buffers: building a LogsData message of 1000 LogRecords (each with a body,
// ten attributes and their AnyValues) and marshalling it allocated some 25
// objects per record and cost more than the rest of the sink. The bytes
// decode to exactly the message builder.request makes (TestProtoMatchesMessage);
// JSON still goes through that message and protojson.
//
// Field numbers, from opentelemetry/proto/logs/v1, common/v1, resource/v1:
const (
	fLogsDataResourceLogs  = 1 // LogsData.resource_logs
	fResourceLogsResource  = 1 // ResourceLogs.resource
	fResourceLogsScopeLogs = 2 // ResourceLogs.scope_logs
	fResourceAttributes    = 1 // Resource.attributes
	fScopeLogsScope        = 1 // ScopeLogs.scope
	fScopeLogsLogRecords   = 2 // ScopeLogs.log_records
	fScopeName             = 1 // InstrumentationScope.name
	fRecordTime            = 1 // LogRecord.time_unix_nano (fixed64)
	fRecordSeverityNumber  = 2 // LogRecord.severity_number
	fRecordSeverityText    = 3 // LogRecord.severity_text
	fRecordBody            = 5 // LogRecord.body
	fRecordAttributes      = 6 // LogRecord.attributes
	fRecordObservedTime    = 11
	fRecordEventName       = 12
	fKeyValueKey           = 1 // KeyValue.key
	fKeyValueValue         = 2 // KeyValue.value
	fAnyValueString        = 1 // AnyValue.string_value (a oneof: written even when "")
)

// protoScratch holds the buffers of appendProto between requests.
type protoScratch struct {
	tenants []tenantRecords
	rec     []byte // one LogRecord
	recs    []byte // a tenant's LogRecords
	inner   []byte // a ResourceLogs
}

type tenantRecords struct {
	tenant string
	items  []int // positions in the span
}

// appendProto appends the protobuf LogsData of the span's records: one
// ResourceLogs per tenant, in the order tenants first appear (as request).
func (b *builder) appendProto(dst []byte, sc *protoScratch, batch []*pipeline.Record, e *httpout.Encoded, sp httpout.Span, now time.Time) []byte {
	observed := uint64(now.UnixNano())
	groups := sc.tenants[:0]
	for i := sp.Lo; i < sp.Hi; i++ {
		t := batch[e.Index[i]].Tenant
		g := len(groups) - 1
		for g >= 0 && groups[g].tenant != t {
			g--
		}
		if g < 0 {
			groups = append(groups, tenantRecords{tenant: t, items: sc.itemsFor(len(groups))})
			g = len(groups) - 1
		}
		groups[g].items = append(groups[g].items, i)
	}
	sc.tenants = groups
	for _, g := range groups {
		// ScopeLogs: the scope, then the records
		recs := protowire.AppendTag(sc.recs[:0], fScopeLogsScope, protowire.BytesType)
		recs = protowire.AppendVarint(recs, uint64(protowire.SizeTag(fScopeName)+protowire.SizeBytes(len(ScopeName))))
		recs = appendString(recs, fScopeName, ScopeName)
		for _, i := range g.items {
			sc.rec = appendLogRecord(sc.rec[:0], batch[e.Index[i]], e.Record(i), observed)
			recs = protowire.AppendTag(recs, fScopeLogsLogRecords, protowire.BytesType)
			recs = protowire.AppendBytes(recs, sc.rec)
		}
		sc.recs = recs
		// ResourceLogs: the resource, then the one ScopeLogs
		inner := protowire.AppendTag(sc.inner[:0], fResourceLogsResource, protowire.BytesType)
		inner = protowire.AppendBytes(inner, b.appendResource(sc.rec[:0], g.tenant))
		inner = protowire.AppendTag(inner, fResourceLogsScopeLogs, protowire.BytesType)
		inner = protowire.AppendBytes(inner, recs)
		sc.inner = inner
		dst = protowire.AppendTag(dst, fLogsDataResourceLogs, protowire.BytesType)
		dst = protowire.AppendBytes(dst, inner)
	}
	return dst
}

// itemsFor is the reused item slice of the n-th tenant group.
func (sc *protoScratch) itemsFor(n int) []int {
	if n < cap(sc.tenants) {
		return sc.tenants[:n+1][n].items[:0]
	}
	return nil
}

// appendResource appends a Resource's fields (as builder.resource).
func (b *builder) appendResource(dst []byte, tenant string) []byte {
	dst = appendKeyValue(dst, fResourceAttributes, ResServiceName, b.serviceName)
	if tenant != "" {
		dst = appendKeyValue(dst, fResourceAttributes, ResTenant, tenant)
	}
	for _, kv := range b.extra {
		dst = appendKeyValue(dst, fResourceAttributes, kv.Key, kv.Value.GetStringValue())
	}
	return dst
}

// appendLogRecord appends a LogRecord's fields (as logRecord).
func appendLogRecord(dst []byte, r *pipeline.Record, body []byte, observed uint64) []byte {
	if t := r.WhenTime(); !t.IsZero() && t.Unix() > 0 {
		dst = protowire.AppendTag(dst, fRecordTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, uint64(t.UnixNano()))
	}
	if n := Severity(r.Severity); n != 0 {
		dst = protowire.AppendTag(dst, fRecordSeverityNumber, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(n))
	}
	dst = appendString(dst, fRecordSeverityText, r.Severity)
	// body: AnyValue{string_value}
	dst = protowire.AppendTag(dst, fRecordBody, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(len(body))))
	dst = protowire.AppendTag(dst, fAnyValueString, protowire.BytesType)
	dst = protowire.AppendBytes(dst, body)
	for _, a := range [...]struct{ k, v string }{
		{AttrID, r.ID}, {AttrDatastream, string(r.Stream)}, {AttrType, r.Type}, {AttrName, r.Name},
		{AttrGroup, r.Group}, {AttrHost, r.Host}, {AttrUser, r.User}, {AttrEndpointID, r.EndpointID},
		{AttrEndpointType, r.EndpointType}, {AttrCreatedAt, r.CreatedAt},
	} {
		if a.v != "" {
			dst = appendKeyValue(dst, fRecordAttributes, a.k, a.v)
		}
	}
	dst = protowire.AppendTag(dst, fRecordObservedTime, protowire.Fixed64Type)
	dst = protowire.AppendFixed64(dst, observed)
	return appendString(dst, fRecordEventName, r.Type)
}

// appendKeyValue appends field num: KeyValue{key, AnyValue{string_value}}.
func appendKeyValue(dst []byte, num protowire.Number, k, v string) []byte {
	value := protowire.SizeTag(fAnyValueString) + protowire.SizeBytes(len(v))
	size := protowire.SizeTag(fKeyValueKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(fKeyValueValue) + protowire.SizeBytes(value)
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	dst = appendString(dst, fKeyValueKey, k)
	dst = protowire.AppendTag(dst, fKeyValueValue, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(value))
	dst = protowire.AppendTag(dst, fAnyValueString, protowire.BytesType)
	return protowire.AppendString(dst, v)
}

// appendString appends a proto3 string field (nothing when empty).
func appendString(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}
