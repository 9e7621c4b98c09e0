package recordcodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func sample(t testing.TB) pipeline.Record {
	raw := []byte(`{"id":"5e8f1c2a-0001","type":"Event::Endpoint::Threat::Detected","severity":"high","name":"Malware detected: 'EICAR' at 'C:\\eicar.com'","group":"MALWARE","when":"2024-05-01T10:11:12.123Z","created_at":"2024-05-01T10:11:13.456Z","location":"WIN-ÄÖÜ-01","source":"CORP\\jdoe","endpoint_id":"ep-1","endpoint_type":"computer"}`)
	r, err := pipeline.NewRecord(pipeline.Events, "tenant-1", raw)
	if err != nil {
		t.Fatal(err)
	}
	r.RawChecked = false // not encoded: a decoded record's Raw is checked again by whoever needs it
	return r
}

func TestRoundTrip(t *testing.T) {
	full := sample(t)
	cases := map[string]pipeline.Record{
		"full":      full,
		"zero":      {},
		"empty raw": {ID: "x", Raw: []byte{}},
		"nil raw":   {ID: "x"},
		"binary":    {Stream: "odd\x00stream", Tenant: strings.Repeat("t", 300), Raw: []byte{0, 0xff, 0x80, 1}},
		"long raw":  {Stream: pipeline.Alerts, ID: "big", Raw: bytes.Repeat([]byte("a"), 70000)},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			b := Append([]byte("prefix"), &r)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatal("Append dropped dst")
			}
			if got, want := len(b)-len("prefix"), Size(&r); got != want {
				t.Fatalf("Size=%d, Append wrote %d", want, got)
			}
			got, err := Decode(b[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip differs:\n got %#v\nwant %#v", got, r)
			}
			if (got.Raw == nil) != (r.Raw == nil) {
				t.Fatalf("nil-ness of Raw lost: got %v want %v", got.Raw == nil, r.Raw == nil)
			}
		})
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	r := sample(t)
	b := Append(nil, &r)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'X'
	}
	if !reflect.DeepEqual(got, sample(t)) {
		t.Fatal("decoded record changed when its input was overwritten")
	}
}

func TestDecodeErrors(t *testing.T) {
	r := sample(t)
	good := Append(nil, &r)
	cases := map[string][]byte{
		"empty":          nil,
		"version":        append([]byte{2}, good[1:]...),
		"no count":       {Version},
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"long length":    {Version, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"overlong count": {Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"missing fields": {Version, 5, 0, 0},
	}
	for name, b := range cases {
		_, err := Decode(b)
		if err == nil {
			t.Errorf("%s: Decode accepted %x", name, b)
			continue
		}
		wantVersion := name == "version"
		if errors.Is(err, ErrVersion) != wantVersion || errors.Is(err, ErrCorrupt) == wantVersion {
			t.Errorf("%s: wrong error class: %v", name, err)
		}
	}
}

// TestFieldCountEvolution: a record from a later build with an extra field
// decodes (the field is skipped); one from an older build with fewer fields
// decodes with the missing ones empty.
func TestFieldCountEvolution(t *testing.T) {
	r := sample(t)
	b := Append(nil, &r)
	b[1] = numFields + 1
	b = binary.AppendUvarint(b, 3)
	b = append(b, "new"...)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("extra field changed the record: %#v", got)
	}

	old := []byte{Version, 3}
	for _, s := range []string{"alert", "t1", "id-9"} {
		old = binary.AppendUvarint(old, uint64(len(s)))
		old = append(old, s...)
	}
	got, err = Decode(old)
	if err != nil {
		t.Fatal(err)
	}
	want := pipeline.Record{Stream: pipeline.Alerts, Tenant: "t1", ID: "id-9"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("short record: got %#v want %#v", got, want)
	}
}

func FuzzRecordCodec(f *testing.F) {
	r := sample(f)
	f.Add(Append(nil, &r), "event\x00tenant\x00id", []byte(`{"id":1}`))
	f.Add([]byte{Version, 0}, "", []byte(nil))
	f.Add([]byte{Version, 14, 0xff}, "a\x00b\x00c\x00d\x00e\x00f\x00g\x00h\x00i\x00j\x00k\x00l\x00m", []byte{})
	f.Fuzz(func(t *testing.T, garbage []byte, fields string, raw []byte) {
		// Arbitrary bytes: an error or a record that survives another round trip.
		if got, err := Decode(garbage); err == nil {
			again, err := Decode(Append(nil, &got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-encoding a decoded record failed: %v\n%#v\n%#v", err, got, again)
			}
		}
		// Arbitrary field values: exact round trip.
		parts := strings.SplitN(fields, "\x00", 13)
		parts = append(parts, make([]string, 13-len(parts))...)
		in := pipeline.Record{
			Stream: pipeline.Stream(parts[0]), Tenant: parts[1], ID: parts[2], Type: parts[3],
			Severity: parts[4], Name: parts[5], Group: parts[6], When: parts[7], CreatedAt: parts[8],
			Host: parts[9], User: parts[10], EndpointID: parts[11], EndpointType: parts[12], Raw: raw,
		}
		b := Append(nil, &in)
		if len(b) != Size(&in) {
			t.Fatalf("Size %d != len %d", Size(&in), len(b))
		}
		out, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("round trip differs:\n got %#v\nwant %#v", out, in)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	r := sample(b)
	buf := Append(nil, &r)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], &r)
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}
