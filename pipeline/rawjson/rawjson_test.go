package rawjson

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestEachMemberKeepsOrder(t *testing.T) {
	obj := []byte(` { "b" : 1, "a":{"x":[1,2,{"y":null}]}, "c":"s\"q", "e\u0301":true } `)
	var keys []string
	var vals []string
	if err := EachMember(obj, func(k, v []byte) bool {
		ks, err := Unquote(nil, k)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, string(ks))
		vals = append(vals, string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"b", "a", "c", "e\u0301"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	if vals[1] != `{"x":[1,2,{"y":null}]}` || vals[2] != `"s\"q"` {
		t.Fatalf("values %q", vals)
	}
}

func TestGetAndString(t *testing.T) {
	obj := []byte(`{"data":{"source_info":{"ip":"10.0.0.1"},"n":5},"name":"a\\b\u00e9\n"}`)
	if got := String(Get(obj, "data", "source_info", "ip")); got != "10.0.0.1" {
		t.Fatalf("Get = %q", got)
	}
	if got := String(Get(obj, "name")); got != "a\\bé\n" {
		t.Fatalf("String = %q", got)
	}
	if Get(obj, "data", "missing") != nil || Get(obj, "name", "x") != nil {
		t.Fatal("absent path found")
	}
	if String(Get(obj, "data", "n")) != "" {
		t.Fatal("a number is not a string")
	}
	if !KeyEquals([]byte(`"\u0069d"`), "id") || KeyEquals([]byte(`"idx"`), "id") {
		t.Fatal("KeyEquals")
	}
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `{"a":}`, `{"a":1,}`, `[1,]`, `"\x"`, `"\ud800"`, `01`, `-`, `1e`, `1.5e+3`, `tru`, `null`, ` {"a" : [ true , false ] } `, "\"a\tb\"", `{"a":1}{}`} {
		if got, want := Valid([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("Valid(%q) = %v, encoding/json says %v", s, got, want)
		}
	}
}

func TestAppendStringRoundTrips(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "ctl\x01\x1f", "uni é ☃ \u2028\u2029", "bad \xff utf8", "<html>&"} {
		enc := AppendString(nil, s)
		var back string
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, enc, err)
		}
		want := s
		if s == "bad \xff utf8" {
			want = "bad \ufffd utf8"
		}
		if back != want {
			t.Fatalf("%q -> %s -> %q", s, enc, back)
		}
		dec, err := Unquote(nil, enc)
		if err != nil || string(dec) != want {
			t.Fatalf("Unquote(%s) = %q, %v", enc, dec, err)
		}
	}
}

func TestScanStringPlain(t *testing.T) {
	for s, want := range map[string]bool{`"abc"`: true, `""`: true, `"a\nb"`: false, `"é"`: false, `"0123456789abcdefghij"`: true, `"0123456789abcdéfghij"`: false, `"0123456789\"bcdefghij"`: false} {
		end, plain, err := ScanString([]byte(s), 0)
		if err != nil || end != len(s) || plain != want {
			t.Errorf("ScanString(%s) = %d, %v, %v; want plain %v", s, end, plain, err, want)
		}
	}
}

func TestDeepNestingRefused(t *testing.T) {
	deep := make([]byte, 0, 2*maxDepth+10)
	for i := 0; i < maxDepth+5; i++ {
		deep = append(deep, '[')
	}
	for i := 0; i < maxDepth+5; i++ {
		deep = append(deep, ']')
	}
	if Valid(deep) {
		t.Fatal("nesting beyond the limit accepted")
	}
}

// FuzzRawJSON: never panics; validity agrees with encoding/json (within the
// nesting limit); string values decode as encoding/json decodes them.
func FuzzRawJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b","c":[1,2.5,-3e2],"d":{"e":null}}`, `"\u00e9\ud83d\ude00"`, `[{"x":"\n"}]`, `{"a":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 0 && data[0] == '"' {
			if end, plain, err := ScanString(data, 0); err == nil && plain && PlainView(data[:end]) != String(data[:end]) {
				t.Fatalf("plain string %q: view %q, String %q", data[:end], PlainView(data[:end]), String(data[:end]))
			}
		}
		ok := Valid(data)
		if ok != json.Valid(data) && depth(data) < maxDepth {
			t.Fatalf("Valid(%q) = %v, encoding/json disagrees", data, ok)
		}
		if !ok {
			return
		}
		var v any
		json.Unmarshal(data, &v)
		if m, isObj := v.(map[string]any); isObj {
			_ = EachMember(data, func(k, val []byte) bool {
				ks, err := Unquote(nil, k)
				if err != nil {
					t.Fatalf("key %s: %v", k, err)
				}
				if s, isStr := m[string(ks)].(string); isStr && len(val) > 0 && val[0] == '"' {
					// The last duplicate wins in encoding/json; compare only unique keys.
					n := 0
					EachMember(data, func(k2, _ []byte) bool {
						if string(k2) == string(k) {
							n++
						}
						return true
					})
					if n == 1 && String(val) != s {
						t.Fatalf("String(%s) = %q, encoding/json %q", val, String(val), s)
					}
				}
				return true
			})
		}
	})
}

func depth(b []byte) int {
	d, m := 0, 0
	for _, c := range b {
		switch c {
		case '[', '{':
			d++
			m = max(m, d)
		case ']', '}':
			d--
		}
	}
	return m
}
