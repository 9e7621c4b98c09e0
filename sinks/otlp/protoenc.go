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
	recs    []recordMeta // a tenant's records, in order
	res     []byte       // a Resource
}

type tenantRecords struct {
	tenant string
	items  []int // positions in the span
}

// recordMeta is what the sizing pass learns of a record for the writing
// pass: every message's length precedes it, so the sizes come first and
// each byte is then written once, in place (no message is built apart
// and copied into its parent).
type recordMeta struct {
	size     int    // the LogRecord's encoded size
	when     uint64 // time_unix_nano; 0: none
	severity uint64 // severity_number
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
	scope := protowire.SizeTag(fScopeName) + protowire.SizeBytes(len(ScopeName)) // InstrumentationScope
	for _, g := range groups {
		// sizes: the records, their ScopeLogs, the Resource, the ResourceLogs
		metas := sc.recs[:0]
		scopeLogs := protowire.SizeTag(fScopeLogsScope) + protowire.SizeBytes(scope)
		for _, i := range g.items {
			m := logRecordMeta(batch[e.Index[i]], e.Ends[i]-e.Start(i))
			metas = append(metas, m)
			scopeLogs += protowire.SizeTag(fScopeLogsLogRecords) + protowire.SizeBytes(m.size)
		}
		sc.recs = metas
		sc.res = b.appendResource(sc.res[:0], g.tenant)
		resourceLogs := protowire.SizeTag(fResourceLogsResource) + protowire.SizeBytes(len(sc.res)) +
			protowire.SizeTag(fResourceLogsScopeLogs) + protowire.SizeBytes(scopeLogs)
		// ResourceLogs: the resource, then the one ScopeLogs
		dst = appendTag(dst, fLogsDataResourceLogs, protowire.BytesType)
		dst = appendVarint(dst, uint64(resourceLogs))
		dst = appendTag(dst, fResourceLogsResource, protowire.BytesType)
		dst = appendBytes(dst, sc.res)
		dst = appendTag(dst, fResourceLogsScopeLogs, protowire.BytesType)
		dst = appendVarint(dst, uint64(scopeLogs))
		// ScopeLogs: the scope, then the records
		dst = appendTag(dst, fScopeLogsScope, protowire.BytesType)
		dst = appendVarint(dst, uint64(scope))
		dst = appendString(dst, fScopeName, ScopeName)
		for k, i := range g.items {
			dst = appendTag(dst, fScopeLogsLogRecords, protowire.BytesType)
			dst = appendVarint(dst, uint64(metas[k].size))
			dst = appendLogRecord(dst, batch[e.Index[i]], e.Record(i), metas[k], observed)
		}
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

// fixed64Field is the size of a fixed64 field numbered under 16.
const fixed64Field = 1 + 8

// attrNames are a record's attributes (as logRecord), appended in this
// order, those with a value only; attrKeys their KeyValue.key fields and
// the value's tag, appended once.
var (
	attrNames = [...]string{AttrID, AttrDatastream, AttrType, AttrName, AttrGroup, AttrHost, AttrUser,
		AttrEndpointID, AttrEndpointType, AttrCreatedAt}
	attrKeys = func() (keys [len(attrNames)][]byte) {
		for i, k := range attrNames {
			keys[i] = appendTag(appendString(nil, fKeyValueKey, k), fKeyValueValue, protowire.BytesType)
		}
		return keys
	}()
)

func attrValues(r *pipeline.Record) [len(attrNames)]string {
	return [...]string{r.ID, string(r.Stream), r.Type, r.Name, r.Group, r.Host, r.User, r.EndpointID, r.EndpointType, r.CreatedAt}
}

// sizeAttr is the size of attribute i's KeyValue with value v.
func sizeAttr(i int, v string) int {
	return len(attrKeys[i]) + protowire.SizeBytes(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(len(v)))
}

// appendAttr appends attribute i with value v (as appendKeyValue).
func appendAttr(dst []byte, i int, v string) []byte {
	dst = appendTag(dst, fRecordAttributes, protowire.BytesType)
	dst = appendVarint(dst, uint64(sizeAttr(i, v)))
	dst = append(dst, attrKeys[i]...)
	dst = appendVarint(dst, uint64(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(len(v))))
	dst = appendTag(dst, fAnyValueString, protowire.BytesType)
	return appendStr(dst, v)
}

// logRecordMeta sizes the LogRecord appendLogRecord appends for r with a
// body of bodyLen bytes.
func logRecordMeta(r *pipeline.Record, bodyLen int) recordMeta {
	var m recordMeta
	if t := r.WhenTime(); !t.IsZero() && t.Unix() > 0 {
		m.when = uint64(t.UnixNano())
		m.size += fixed64Field
	}
	if m.severity = uint64(Severity(r.Severity)); m.severity != 0 {
		m.size += protowire.SizeTag(fRecordSeverityNumber) + protowire.SizeVarint(m.severity)
	}
	m.size += sizeString(fRecordSeverityText, r.Severity)
	m.size += protowire.SizeTag(fRecordBody) + protowire.SizeBytes(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(bodyLen))
	for i, v := range attrValues(r) {
		if v != "" {
			m.size += protowire.SizeTag(fRecordAttributes) + protowire.SizeBytes(sizeAttr(i, v))
		}
	}
	m.size += fixed64Field // observed_time_unix_nano
	m.size += sizeString(fRecordEventName, r.Type)
	return m
}

// appendLogRecord appends a LogRecord's fields (as logRecord), m from
// logRecordMeta.
func appendLogRecord(dst []byte, r *pipeline.Record, body []byte, m recordMeta, observed uint64) []byte {
	if m.when != 0 {
		dst = appendTag(dst, fRecordTime, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, m.when)
	}
	if m.severity != 0 {
		dst = appendTag(dst, fRecordSeverityNumber, protowire.VarintType)
		dst = appendVarint(dst, m.severity)
	}
	dst = appendString(dst, fRecordSeverityText, r.Severity)
	// body: AnyValue{string_value}
	dst = appendTag(dst, fRecordBody, protowire.BytesType)
	dst = appendVarint(dst, uint64(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(len(body))))
	dst = appendTag(dst, fAnyValueString, protowire.BytesType)
	dst = appendBytes(dst, body)
	for i, v := range attrValues(r) {
		if v != "" {
			dst = appendAttr(dst, i, v)
		}
	}
	dst = appendTag(dst, fRecordObservedTime, protowire.Fixed64Type)
	dst = protowire.AppendFixed64(dst, observed)
	return appendString(dst, fRecordEventName, r.Type)
}

// sizeKeyValue is the size of KeyValue{k, AnyValue{string_value: v}}.
func sizeKeyValue(k, v string) int {
	value := protowire.SizeTag(fAnyValueString) + protowire.SizeBytes(len(v))
	return protowire.SizeTag(fKeyValueKey) + protowire.SizeBytes(len(k)) + protowire.SizeTag(fKeyValueValue) + protowire.SizeBytes(value)
}

// sizeString is the size appendString appends.
func sizeString(num protowire.Number, s string) int {
	if s == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(s))
}

// appendKeyValue appends field num: KeyValue{key, AnyValue{string_value}}.
func appendKeyValue(dst []byte, num protowire.Number, k, v string) []byte {
	dst = appendTag(dst, num, protowire.BytesType)
	dst = appendVarint(dst, uint64(sizeKeyValue(k, v)))
	dst = appendString(dst, fKeyValueKey, k)
	dst = appendTag(dst, fKeyValueValue, protowire.BytesType)
	dst = appendVarint(dst, uint64(protowire.SizeTag(fAnyValueString)+protowire.SizeBytes(len(v))))
	dst = appendTag(dst, fAnyValueString, protowire.BytesType)
	return appendStr(dst, v)
}

// appendTag, appendVarint, appendBytes and appendStr are protowire's,
// with the one-byte case inlined: a request is ~60 tags and lengths per
// record, nearly all under 128, and protowire's calls were a quarter of
// the encoding's instructions.
func appendTag(dst []byte, num protowire.Number, typ protowire.Type) []byte {
	return appendVarint(dst, protowire.EncodeTag(num, typ))
}

func appendVarint(dst []byte, v uint64) []byte {
	if v < 0x80 {
		return append(dst, byte(v))
	}
	return protowire.AppendVarint(dst, v)
}

func appendBytes(dst, b []byte) []byte {
	return append(appendVarint(dst, uint64(len(b))), b...)
}

func appendStr(dst []byte, s string) []byte {
	return append(appendVarint(dst, uint64(len(s))), s...)
}

// appendString appends a proto3 string field (nothing when empty).
func appendString(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = appendTag(dst, num, protowire.BytesType)
	return appendStr(dst, s)
}
