package sophos

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// decodedPage is a SIEM response: {"has_more":bool,"items":[…],"next_cursor":"…"}.
type decodedPage struct {
	Records  []pipeline.Record
	Rejected []pipeline.Rejected // malformed items: dead-lettered, the rest of the page goes on
	Cursor   string
	HasMore  bool
}

// decodePage walks a SIEM page in place, in one pass (pipeline.DecodeRecord
// validates each item while reading its fields): each item stays a slice of body
// (no copy, no reflection). Like encoding/json, duplicate keys keep the last
// value and space around the value is allowed; anything else malformed is an
// error saying what.
func decodePage(body []byte, stream pipeline.Stream, tenant string, capHint int) (decodedPage, error) {
	var p decodedPage
	i := rawjson.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		if !rawjson.Valid(body) {
			_, err := rawjson.SkipValue(body, 0)
			return p, fmt.Errorf("body is not valid JSON: %w", err)
		}
		return p, errors.New("body is not a JSON object")
	}
	var (
		items, cursor, hasMore []byte // raw values (last occurrence)
		synErr                 error
	)
	p.Records = make([]pipeline.Record, 0, capHint)
	i = rawjson.SkipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		i++
	} else {
		for {
			i = rawjson.SkipSpace(body, i)
			if i >= len(body) || body[i] != '"' {
				synErr = fmt.Errorf("expected object key at offset %d", i)
				break
			}
			ke, err := rawjson.SkipValue(body, i)
			if err != nil {
				synErr = err
				break
			}
			key := body[i:ke]
			i = rawjson.SkipSpace(body, ke)
			if i >= len(body) || body[i] != ':' {
				synErr = fmt.Errorf("expected ':' at offset %d", i)
				break
			}
			vs := rawjson.SkipSpace(body, i+1)
			var ve int
			if rawjson.KeyEquals(key, "items") && vs < len(body) && body[vs] == '[' {
				p.Records, p.Rejected = p.Records[:0], nil
				if ve, err = decodeItems(body, vs, stream, tenant, &p.Records, &p.Rejected); err != nil {
					synErr = err
					break
				}
				items = body[vs:ve]
			} else {
				if ve, err = rawjson.SkipValue(body, vs); err != nil {
					synErr = err
					break
				}
				switch v := body[vs:ve]; {
				case rawjson.KeyEquals(key, "items"):
					items, p.Records, p.Rejected = v, p.Records[:0], nil
				case rawjson.KeyEquals(key, "next_cursor"):
					cursor = v
				case rawjson.KeyEquals(key, "has_more"):
					hasMore = v
				}
			}
			i = rawjson.SkipSpace(body, ve)
			if i < len(body) && body[i] == '}' {
				i++
				break
			}
			if i >= len(body) || body[i] != ',' {
				synErr = fmt.Errorf("expected ',' or '}' at offset %d", i)
				break
			}
			i++
		}
	}
	if synErr == nil && rawjson.SkipSpace(body, i) != len(body) {
		synErr = fmt.Errorf("data after the JSON value at offset %d", i)
	}
	if synErr != nil {
		if !errors.Is(synErr, rawjson.ErrSyntax) {
			synErr = fmt.Errorf("%w: %v", rawjson.ErrSyntax, synErr)
		}
		return decodedPage{}, fmt.Errorf("body is not valid JSON: %w", synErr)
	}
	switch {
	case items == nil:
		return decodedPage{}, errors.New(`page has no "items"`)
	case items[0] != '[':
		return decodedPage{}, errors.New(`"items" is not an array`)
	case cursor == nil:
		return decodedPage{}, errors.New(`page has no "next_cursor"`)
	case cursor[0] != '"':
		return decodedPage{}, errors.New(`"next_cursor" is not a string`)
	}
	p.Cursor = rawjson.String(cursor)
	switch string(hasMore) {
	case "", "false": // absent: nothing more now
	case "true":
		p.HasMore = true
	default:
		return decodedPage{}, errors.New(`"has_more" is not a boolean`)
	}
	return p, nil
}

// decodeItems walks the array at body[start] ('['), appending a record per
// item to recs. It returns the offset after the array; a syntax error (the
// body is broken: item boundaries are unknown) is returned, while an item
// that is well-formed JSON but not a usable record (not an object, no id)
// goes to rejected with its raw bytes, so the rest of the page is delivered.
func decodeItems(body []byte, start int, stream pipeline.Stream, tenant string, recs *[]pipeline.Record, rejected *[]pipeline.Rejected) (int, error) {
	i := rawjson.SkipSpace(body, start+1)
	if i < len(body) && body[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		es := rawjson.SkipSpace(body, i)
		var ee int
		if es < len(body) && body[es] == '{' {
			// One pass: validate the item and read its fields together.
			r, end, err := pipeline.DecodeRecord(stream, tenant, body, es)
			if errors.Is(err, rawjson.ErrTooDeep) {
				// Carried past whole and set aside: one hostile item must not
				// hold back the page (and with it the partition) for good.
				if end, err = rawjson.SkipAnyDepth(body, es); err != nil {
					return end, err
				}
				*rejected = append(*rejected, pipeline.Rejected{Raw: validUTF8(body[es:end]), Reason: fmt.Sprintf("malformed API item %d: %v (it cannot be normalised)", n, rawjson.ErrTooDeep)})
				ee = end
				goto next
			}
			if errors.Is(err, rawjson.ErrSyntax) {
				return end, err
			}
			ee = end
			if err != nil {
				*rejected = append(*rejected, pipeline.Rejected{ID: r.ID, Raw: validUTF8(body[es:ee]), Reason: fmt.Sprintf("malformed API item %d: %v", n, err)})
			} else {
				*recs = append(*recs, r)
			}
		} else {
			var err error
			if ee, err = rawjson.SkipValue(body, es); errors.Is(err, rawjson.ErrTooDeep) {
				ee, err = rawjson.SkipAnyDepth(body, es)
			}
			if err != nil {
				return ee, err
			}
			*rejected = append(*rejected, pipeline.Rejected{Raw: validUTF8(body[es:ee]), Reason: fmt.Sprintf("malformed API item %d: not a JSON object", n)})
		}
	next:
		i = rawjson.SkipSpace(body, ee)
		if i < len(body) && body[i] == ']' {
			return i + 1, nil
		}
		if i >= len(body) || body[i] != ',' {
			return i, fmt.Errorf("expected ',' or ']' at offset %d", i)
		}
		i++
	}
}

// validUTF8 keeps invalid UTF-8 out of the dead-letter file too.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return pipeline.ValidUTF8(b)
}
