package elasticsearchtest

import (
	"strconv"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(dst []byte, s string) []byte { return rawjson.AppendString(dst, s) }

func appendInt(dst []byte, v int64) []byte { return strconv.AppendInt(dst, v, 10) }

// unquoteKey returns the text of a raw JSON key, decoding escapes only
// when present (the common case allocates nothing beyond the string).
func unquoteKey(raw []byte) []byte {
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' {
			out, err := unquote(raw)
			if err != nil {
				return inner
			}
			return out
		}
	}
	return inner
}

func unquote(raw []byte) ([]byte, error) { return rawjson.Unquote(nil, raw) }
