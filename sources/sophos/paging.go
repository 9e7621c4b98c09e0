package sophos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// keyPages is the "pages" object of key-based paging (Common, Endpoint).
type keyPages struct {
	FromKey string `json:"fromKey"`
	NextKey string `json:"nextKey"`
	Size    int    `json:"size"`
	Total   int    `json:"total"`
	Items   int    `json:"items"`
	MaxSize int    `json:"maxSize"`
}

// keyPage is one page of a key-paged list.
type keyPage[T any] struct {
	Items []T      `json:"items"`
	Pages keyPages `json:"pages"`
}

// pageAll fetches every page: fetch(key) returns a page given pageFromKey
// ("" for the first). It stops at the first page without nextKey, and
// refuses a nextKey seen before (a server loop).
func pageAll[T any](ctx context.Context, what string, fetch func(ctx context.Context, key string) (*keyPage[T], error)) ([]T, error) {
	var out []T
	seen := map[string]bool{}
	key := ""
	for range maxPages {
		p, err := fetch(ctx, key)
		if err != nil {
			return out, err
		}
		out = append(out, p.Items...)
		if p.Pages.NextKey == "" || len(p.Items) == 0 {
			return out, nil
		}
		if seen[p.Pages.NextKey] {
			return out, fmt.Errorf("sophos: %s: the API returned nextKey %q twice: stopping to avoid a loop", what, p.Pages.NextKey)
		}
		seen[p.Pages.NextKey] = true
		key = p.Pages.NextKey
	}
	return out, fmt.Errorf("sophos: %s: more than %d pages", what, maxPages)
}

// setCSV sets a comma-separated parameter when vals is not empty.
func setCSV(q url.Values, key string, vals []string) {
	if len(vals) == 0 {
		return
	}
	s := ""
	for i, v := range vals {
		if i > 0 {
			s += ","
		}
		s += v
	}
	q.Set(key, s)
}

// withRaw is embedded by the typed API objects: the object as received, so
// fields the struct does not name stay reachable.
type withRaw struct {
	Raw json.RawMessage `json:"-"`
}

// rawOf returns a copy of b (the decoder reuses nothing, but the caller's
// body may be big: keep only the object).
func rawOf(b []byte) json.RawMessage { return append(json.RawMessage(nil), b...) }
