package encoding

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// rawEncoder writes the API item byte for byte with "datastream" and
// "tenant_id" appended as its last members. An item that already has one of
// those keys keeps it: the appended member then repeats the key and, for
// last-wins JSON readers, takes precedence.
type rawEncoder struct{}

func (rawEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	raw := r.Raw
	if !r.RawChecked && !rawjson.Valid(raw) {
		return dst, fmt.Errorf("raw: record %q: %w", r.ID, rawjson.ErrSyntax)
	}
	end := len(raw) - 1
	for end >= 0 && raw[end] != '}' {
		end--
	}
	if end < 0 || raw[rawjson.SkipSpace(raw, 0)] != '{' {
		return dst, fmt.Errorf("raw: record %q: item is not a JSON object", r.ID)
	}
	// Empty object: nothing before the closing brace but '{' and space.
	empty := rawjson.SkipSpace(raw, rawjson.SkipSpace(raw, 0)+1) == end
	dst = append(dst, raw[:end]...)
	if !empty {
		dst = append(dst, ',')
	}
	dst = append(dst, `"datastream":`...)
	dst = rawjson.AppendString(dst, string(r.Stream))
	dst = append(dst, `,"tenant_id":`...)
	dst = rawjson.AppendString(dst, r.Tenant)
	return append(dst, '}'), nil
}
