package otlp

import (
	"encoding/json"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// decodePartialSuccess reads the protobuf ExportLogsServiceResponse
// { ExportLogsPartialSuccess partial_success = 1 { int64
// rejected_log_records = 1; string error_message = 2; } } by hand: the
// generated type lives in the collector service package, which would pull
// gRPC into the product.
func decodePartialSuccess(b []byte) (rejected int, msg string) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, ""
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, ""
			}
			rejected, msg = decodePartial(v)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, ""
		}
		b = b[n:]
	}
	return rejected, msg
}

func decodePartial(b []byte) (rejected int, msg string) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, ""
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, ""
			}
			if int64(v) > 0 {
				rejected = int(int64(v))
			}
			b = b[n:]
		case num == 2 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, ""
			}
			msg = string(v)
			b = b[n:]
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, ""
			}
			b = b[n:]
		}
	}
	return rejected, msg
}

// statusMessage is the message of a failure body: a google.rpc.Status
// { int32 code = 1; string message = 2; ... } in protobuf or JSON.
func statusMessage(ctype string, raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	if isJSON(ctype, raw) {
		var st struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &st) == nil {
			return st.Message
		}
		return ""
	}
	if ctype != "" && !strings.Contains(ctype, "protobuf") {
		return "" // text: the caller shows a snippet
	}
	for b := raw; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		if num == 2 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return ""
			}
			return string(v)
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		b = b[n:]
	}
	return ""
}
