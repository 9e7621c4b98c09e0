package elasticsearchtest

import "strings"

// filterPath is the filter_path query parameter: comma-separated dotted
// patterns where * matches one key segment (prefix* and *suffix too).
// nil includes everything.
type filterPath [][]string

func parseFilterPath(q string) filterPath {
	if strings.TrimSpace(q) == "" {
		return nil
	}
	var f filterPath
	for _, p := range strings.Split(q, ",") {
		if p = strings.TrimSpace(p); p != "" && !strings.HasPrefix(p, "-") {
			f = append(f, strings.Split(p, "."))
		}
	}
	return f
}

const (
	matchNone = iota
	matchSome // a pattern goes deeper: some descendants are included
	matchAll  // the whole subtree is included
)

// match tells how much of the value at path the filter includes.
func (f filterPath) match(path ...string) int {
	if f == nil {
		return matchAll
	}
	best := matchNone
	for _, p := range f {
		n := min(len(p), len(path))
		ok := true
		for i := 0; i < n; i++ {
			if !globMatch(p[i], path[i]) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if len(p) <= len(path) {
			return matchAll
		}
		best = matchSome
	}
	return best
}

func (f filterPath) has(path ...string) bool { return f.match(path...) == matchAll }

// itemFilter is what the filter keeps of a bulk item of one op type.
type itemFilter struct {
	any                                                            bool
	index, id, version, result, shards, seqNo, primaryTerm, status bool
	err                                                            bool
	errType, errReason, errUUID, errShard, errIndex, errCaused     bool
}

func newItemFilter(f filterPath, op string) itemFilter {
	var it itemFilter
	if f.match("items", op) == matchNone {
		return it
	}
	it.any = true
	it.index = f.has("items", op, "_index")
	it.id = f.has("items", op, "_id")
	it.version = f.has("items", op, "_version")
	it.result = f.has("items", op, "result")
	it.shards = f.match("items", op, "_shards") != matchNone
	it.seqNo = f.has("items", op, "_seq_no")
	it.primaryTerm = f.has("items", op, "_primary_term")
	it.status = f.has("items", op, "status")
	it.err = f.match("items", op, "error") != matchNone
	it.errType = f.has("items", op, "error", "type")
	it.errReason = f.has("items", op, "error", "reason")
	it.errUUID = f.has("items", op, "error", "index_uuid")
	it.errShard = f.has("items", op, "error", "shard")
	it.errIndex = f.has("items", op, "error", "index")
	it.errCaused = f.match("items", op, "error", "caused_by") != matchNone
	return it
}
