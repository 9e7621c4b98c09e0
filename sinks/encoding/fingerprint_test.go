package encoding

import (
	"crypto/sha1"
	"encoding/base64"
	"github.com/sophos-connect/sophos-connect/pipeline"
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

// TestFingerprintEncoderParsesOnce holds the formats that give the _id
// from their own parse (FingerprintEncoder) to Fingerprinter and to their
// Append alone: the same _id, the same document after AppendFingerprint,
// a record other than the one fingerprinted parsed afresh, and no
// allocation for the pair.
func TestFingerprintEncoderParsesOnce(t *testing.T) {
	var recs []*pipeline.Record
	for _, pg := range goldenPages {
		recs = append(recs, pageRecords(t, pg.file, pg.stream)...)
	}
	bad, _ := pipeline.NewRecord(pipeline.Events, "t", []byte(`{"id":"x"}`))
	bad.Raw = []byte(`{"id":`) // not JSON: no _id, and Append fails
	for _, format := range []string{"integration", "ecs"} {
		enc := mustNew(t, format, Options{}).(FingerprintEncoder)
		plain := mustNew(t, format, Options{})
		var f Fingerprinter
		for i, r := range recs {
			wantID, wantOK := f.Append(nil, r.Raw)
			id, ok := enc.AppendFingerprint(nil, r)
			if ok != wantOK || string(id) != string(wantID) {
				t.Fatalf("%s record %d: _id %q %v, want %q %v", format, i, id, ok, wantID, wantOK)
			}
			// Append of another record after the fingerprint parses that one
			other := recs[(i+1)%len(recs)]
			want, _ := plain.Append(nil, other)
			got, _ := enc.Append(nil, other)
			if string(got) != string(want) {
				t.Fatalf("%s: Append of another record after AppendFingerprint:\n got %s\nwant %s", format, got, want)
			}
			enc.AppendFingerprint(nil, r)
			want, _ = plain.Append(nil, r)
			got, _ = enc.Append(nil, r)
			if string(got) != string(want) {
				t.Fatalf("%s record %d after AppendFingerprint:\n got %s\nwant %s", format, i, got, want)
			}
		}
		if _, ok := enc.AppendFingerprint(nil, &bad); ok {
			t.Fatalf("%s: an _id for an item that is not JSON", format)
		}
		if _, err := enc.Append(nil, &bad); err == nil {
			t.Fatalf("%s: no error for an item that is not JSON", format)
		}
		var buf []byte
		sample := recs[:12] // the sample pages (an extra item's bad "when" costs time.Parse's error)
		allocs := testing.AllocsPerRun(100, func() {
			for _, r := range sample {
				buf, _ = enc.AppendFingerprint(buf[:0], r)
				buf, _ = enc.Append(buf[:0], r)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per %d records, want 0", format, allocs, len(sample))
		}
	}
}
