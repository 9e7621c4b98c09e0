package elasticsearchtest

import (
	"bytes"
	"encoding/json"
)

// updatedSource computes the source an update item leaves: the partial doc
// merged into the stored source, or the upsert when the document is
// missing. noop means the merge changed nothing (detect_noop).
func updatedSource(d *doc, it *bulkItem) (src []byte, created, noop bool, derr *docError) {
	var body struct {
		Doc         json.RawMessage `json:"doc"`
		Upsert      json.RawMessage `json:"upsert"`
		DocAsUpsert bool            `json:"doc_as_upsert"`
		Script      json.RawMessage `json:"script"`
	}
	dec := json.NewDecoder(bytes.NewReader(it.source))
	if err := dec.Decode(&body); err != nil {
		return nil, false, false, &docError{status: 400, typ: "x_content_parse_exception", reason: "[1:1] failed to parse update request: " + err.Error()}
	}
	if len(body.Script) > 0 {
		return nil, false, false, &docError{status: 400, typ: "illegal_argument_exception", reason: "elasticsearchtest does not run update scripts"}
	}
	if d == nil {
		switch {
		case len(body.Upsert) > 0:
			return body.Upsert, true, false, nil
		case body.DocAsUpsert && len(body.Doc) > 0:
			return body.Doc, true, false, nil
		}
		return nil, false, false, &docError{status: 404, typ: "document_missing_exception", reason: "[" + it.id + "]: document missing"}
	}
	if len(body.Doc) == 0 {
		return nil, false, false, &docError{status: 400, typ: "action_request_validation_exception", reason: "Validation Failed: 1: script or doc is missing;"}
	}
	var cur, part map[string]any
	if len(d.source) > 0 {
		if err := json.Unmarshal(d.source, &cur); err != nil {
			cur = nil
		}
	}
	if cur == nil {
		cur = map[string]any{}
	}
	if err := json.Unmarshal(body.Doc, &part); err != nil {
		return nil, false, false, &docError{status: 400, typ: "x_content_parse_exception", reason: "[1:1] doc must be an object: " + err.Error()}
	}
	before, _ := json.Marshal(cur)
	merge(cur, part)
	after, _ := json.Marshal(cur)
	if bytes.Equal(before, after) {
		return nil, false, true, nil
	}
	return after, false, false, nil
}

// merge deep-merges src into dst (objects merge, everything else replaces).
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}
