package sophos

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// decodedPage is a SIEM response: {"has_more":bool,"items":[…],"next_cursor":"…"}.
type decodedPage struct {
	Records []pipeline.Record
	Cursor  string
	HasMore bool
}

// decodePage walks a SIEM page in place: each item stays a slice of body
// (no copy, no reflection) and is normalized by pipeline.NewRecord. Like
// encoding/json, duplicate keys keep the last value and space around the
// value is allowed; anything else malformed is an error saying what.
func decodePage(body []byte, stream pipeline.Stream, tenant string, capHint int) (decodedPage, error) {
	var p decodedPage
	end, err := rawjson.SkipValue(body, 0) // validates the whole document once
	if err != nil {
		return p, fmt.Errorf("body is not valid JSON: %w", err)
	}
	if rawjson.SkipSpace(body, end) != len(body) {
		return p, fmt.Errorf("body has data after the JSON value (offset %d)", end)
	}
	if body[rawjson.SkipSpace(body, 0)] != '{' {
		return p, fmt.Errorf("body is not a JSON object")
	}
	var items, cursor, hasMore []byte
	_ = rawjson.EachMember(body, func(key, value []byte) bool { // syntax checked above
		switch {
		case rawjson.KeyEquals(key, "items"):
			items = value
		case rawjson.KeyEquals(key, "next_cursor"):
			cursor = value
		case rawjson.KeyEquals(key, "has_more"):
			hasMore = value
		}
		return true
	})
	switch {
	case items == nil:
		return p, fmt.Errorf(`page has no "items"`)
	case items[0] != '[':
		return p, fmt.Errorf(`"items" is not an array`)
	case cursor == nil:
		return p, fmt.Errorf(`page has no "next_cursor"`)
	case cursor[0] != '"':
		return p, fmt.Errorf(`"next_cursor" is not a string`)
	}
	if c, err := rawjson.Unquote(nil, cursor); err == nil {
		p.Cursor = string(c)
	}
	switch string(hasMore) {
	case "", "false": // absent: nothing more now
	case "true":
		p.HasMore = true
	default:
		return p, fmt.Errorf(`"has_more" is not a boolean`)
	}
	p.Records = make([]pipeline.Record, 0, capHint)
	n := 0
	var itemErr error
	_ = rawjson.EachElement(items, func(item []byte) bool {
		if item[0] != '{' {
			itemErr = fmt.Errorf("item %d is not a JSON object", n)
			return false
		}
		r, err := pipeline.NewRecord(stream, tenant, item)
		if err != nil {
			itemErr = fmt.Errorf("item %d: %w", n, err)
			return false
		}
		p.Records = append(p.Records, r)
		n++
		return true
	})
	if itemErr != nil {
		return decodedPage{}, itemErr
	}
	return p, nil
}
