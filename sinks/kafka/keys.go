package kafka

import (
	"fmt"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// keySpec says where a message key comes from.
type keySpec struct {
	field string   // id, tenant, type, stream; "" with path == nil: no key
	path  []string // a dotted path into the raw API item
}

// parseKey accepts id, tenant, type, stream, a dotted raw-item path
// (data.endpoint_id) or "" (no key: records spread round-robin).
func parseKey(s string) (keySpec, error) {
	switch s {
	case "":
		return keySpec{}, nil
	case "id", "tenant", "type", "stream":
		return keySpec{field: s}, nil
	}
	path := strings.Split(s, ".")
	for _, p := range path {
		if p == "" || strings.TrimSpace(p) != p {
			return keySpec{}, fmt.Errorf("%q: use id (default), tenant, type, stream or a dotted path into the API item such as data.endpoint_id", s)
		}
	}
	return keySpec{path: path}, nil
}

// appendKey appends r's key to dst; ok is false when r has none (the field is
// empty, absent or null), and the message is then sent without a key.
func (k keySpec) appendKey(dst []byte, r *pipeline.Record) (_ []byte, ok bool) {
	var s string
	switch k.field {
	case "id":
		s = r.ID
	case "tenant":
		s = r.Tenant
	case "type":
		s = r.Type
	case "stream":
		s = string(r.Stream)
	default:
		if k.path == nil {
			return dst, false
		}
		v := rawjson.Get(r.Raw, k.path...)
		switch {
		case len(v) == 0 || string(v) == "null":
			return dst, false
		case v[0] == '"':
			out, err := rawjson.Unquote(dst, v)
			if err != nil || len(out) == len(dst) {
				return dst, false
			}
			return out, true
		default: // a number, boolean, object or array: its JSON text
			return append(dst, v...), true
		}
	}
	if s == "" {
		return dst, false
	}
	return append(dst, s...), true
}
