package encoding

import (
	"crypto/sha1"
	"encoding/base64"
	"testing"
)

// TestFingerprintDocsExample is the fingerprint processor's example in the
// Elasticsearch reference (fields: [user]): the same traversal over the
// object must give the documented "WbSUPW4zY1PBPehh2AA/sSxiRjw=".
func TestFingerprintDocsExample(t *testing.T) {
	var f Fingerprinter
	if !f.t.parseItem([]byte(`{"user":{"last_name":"Smith","first_name":"John","date_of_birth":"1980-01-15","is_active":true}}`)) {
		t.Fatal("parse")
	}
	f.h = sha1.New()
	for k, end := f.t.itemMembers(); k < end; k = f.t.nodes[k+1].next {
		if f.t.keyIs(k, "user") && !f.hashValue(k+1) {
			t.Fatal("hash")
		}
	}
	if got := base64.StdEncoding.EncodeToString(f.h.Sum(nil)); got != "WbSUPW4zY1PBPehh2AA/sSxiRjw=" {
		t.Fatalf("got %s", got)
	}
}

func TestFingerprintIntegrationID(t *testing.T) {
	var f Fingerprinter
	// created_at, id, when: 0 created_at 0 id 0 when, SHA-1, base64
	item := `{"when":"2022-11-24T07:07:48.000Z","id":"8bbd989a-6cab-407f-a586-c5064b94f76a","x":1,"created_at":"2022-11-24T07:07:52.094Z"}`
	h := sha1.New()
	h.Write([]byte("\x002022-11-24T07:07:52.094Z\x008bbd989a-6cab-407f-a586-c5064b94f76a\x002022-11-24T07:07:48.000Z"))
	want := base64.StdEncoding.EncodeToString(h.Sum(nil))
	got, ok := f.Append(nil, []byte(item))
	if !ok || string(got) != want {
		t.Fatalf("got %s %v, want %s", got, ok, want)
	}
	// missing and null fields are skipped; none at all gives no id
	h.Reset()
	h.Write([]byte("\x00only-id"))
	want = base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got, ok := f.Append(nil, []byte(`{"id":"only-id","when":null}`)); !ok || string(got) != want {
		t.Fatalf("got %s %v, want %s", got, ok, want)
	}
	if _, ok := f.Append(nil, []byte(`{"name":"x"}`)); ok {
		t.Fatal("an id from no fields")
	}
	// an Integer is 4 little-endian bytes, a Long 8
	h.Reset()
	h.Write([]byte{0, 7, 0, 0, 0})
	want = base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got, _ := f.Append(nil, []byte(`{"id":7}`)); string(got) != want {
		t.Fatalf("Integer: got %s, want %s", got, want)
	}
	h.Reset()
	h.Write([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0})
	want = base64.StdEncoding.EncodeToString(h.Sum(nil))
	if got, _ := f.Append(nil, []byte(`{"id":4294967296}`)); string(got) != want {
		t.Fatalf("Long: got %s, want %s", got, want)
	}
}
