package encoding

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// officialJSONEncoder writes the official script's JSON line (reference
// §10.5): json.dumps(record, ensure_ascii=False) after null dropping, the
// key renames and the name mapping.
//
// Two deliberate differences, both for input the API does not send: a float
// beyond the double range is written as the API wrote it (Python would write
// Infinity, which is not JSON), and a lone UTF-16 surrogate escape becomes
// U+FFFD (Python would fail to write the line at all).
type officialJSONEncoder struct{ o *official }

func (e *officialJSONEncoder) Append(dst []byte, r *pipeline.Record) ([]byte, error) {
	o := e.o
	if err := o.load(r); err != nil {
		return dst, fmt.Errorf("official-json: record %q: %w", r.ID, err)
	}
	o.ents = o.updateCEFKeys(o.ents, &o.entsSeen)
	o.updateFields()
	dst = append(dst, '{')
	first := true
	for i := range o.ents {
		ent := &o.ents[i]
		if ent.dead {
			continue
		}
		if !first {
			dst = append(dst, ',', ' ')
		}
		first = false
		dst = appendJSONString(dst, plainText(o.key(ent)))
		dst = append(dst, ':', ' ')
		dst = o.appendJSONVal(dst, ent)
	}
	return append(dst, '}'), nil
}
