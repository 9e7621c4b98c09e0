package emulator

import (
	"encoding/json"
	"testing"
)

func TestCatalogueCoversEveryType(t *testing.T) {
	for _, stream := range []string{"alert", "event"} {
		items := Catalogue(stream, 3, 1)
		types := CatalogueTypes(stream)
		seen := map[string]int{}
		for _, it := range items {
			var m map[string]any
			if err := json.Unmarshal(it.Item, &m); err != nil {
				t.Fatalf("%s %s: %v\n%s", stream, it.Type, err, it.Item)
			}
			if m["type"] != it.Type {
				t.Errorf("%s: item type %v, catalogue says %s", stream, m["type"], it.Type)
			}
			seen[it.Type]++
		}
		for _, typ := range types {
			if seen[typ] != 3 {
				t.Errorf("%s: type %s seen %d times, want 3", stream, typ, seen[typ])
			}
		}
		if len(items) != 3*len(types) {
			t.Errorf("%s: %d items for %d types", stream, len(items), len(types))
		}
	}
}
