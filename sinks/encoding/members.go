package encoding

import (
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// eachMember is rawjson.EachMember for a whole item: it also fails when
// anything but space follows the object, so every encoder accepts exactly
// the inputs rawjson.Valid accepts. fn must not stop the walk early.
func eachMember(raw []byte, fn func(k, v []byte)) error {
	var last []byte
	err := rawjson.EachMember(raw, func(k, v []byte) bool {
		last = v
		fn(k, v)
		return true
	})
	if err != nil {
		return err
	}
	var i int
	if last == nil {
		i = rawjson.SkipSpace(raw, rawjson.SkipSpace(raw, 0)+1)
	} else {
		// last is a sub-slice of raw: its end offset follows from the capacities.
		i = rawjson.SkipSpace(raw, cap(raw)-cap(last)+len(last))
	}
	if i >= len(raw) || raw[i] != '}' || rawjson.SkipSpace(raw, i+1) != len(raw) {
		return fmt.Errorf("%w: data after the item's object", rawjson.ErrSyntax)
	}
	return nil
}
