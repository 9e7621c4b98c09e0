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

func TestCatalogueXDR(t *testing.T) {
	for _, tt := range []struct{ stream, key string }{{"detection", "detectionRule"}, {"case", "status"}} {
		items := Catalogue(tt.stream, 2, 1)
		types := CatalogueTypes(tt.stream)
		seen := map[string]int{}
		attached := 0
		for _, it := range items {
			var m map[string]any
			if err := json.Unmarshal(it.Item, &m); err != nil {
				t.Fatalf("%s: %v\n%s", tt.stream, err, it.Item)
			}
			if m[tt.key] != it.Type {
				t.Errorf("%s: %s %v, catalogue says %s", tt.stream, tt.key, m[tt.key], it.Type)
			}
			if _, ok := m["detections"]; ok {
				attached++
			}
			seen[it.Type]++
		}
		for _, typ := range types {
			if seen[typ] != 2 {
				t.Errorf("%s: %s seen %d times, want 2", tt.stream, typ, seen[typ])
			}
		}
		if tt.stream == "case" && (attached == 0 || attached == len(items)) {
			t.Errorf("cases: %d of %d with detections attached, want some of each", attached, len(items))
		}
	}
}
