package s3

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// normalize drops nulls and empty containers (Parquet stores them as
// absent) and turns numbers into float64, for comparing a record with its
// Parquet row.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, fv := range x {
			if n := normalize(fv); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, normalize(e))
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return v
}

func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return normalize(v)
}

// readParquet returns the rows of a Parquet file as JSON.
func readParquet(t testing.TB, b []byte) [][]byte {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	r := parquet.NewReader(f)
	var out [][]byte
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			break
		}
		j, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// TestParquetRoundTrip: OCSF records written as one Parquet object read
// back (parquet-go) value for value, including a field whose kind varies
// between records (stored as JSON) and nested lists of objects.
func TestParquetRoundTrip(t *testing.T) {
	enc, err := encoding.New("ocsf", encoding.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, r := range outtest.Records(t, "pq", 200) {
		d, err := enc.Append(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	docs = append(docs,
		[]byte(`{"class_uid":2004,"varies":1,"nested":[{"a":[1,2]},{"b":"x"}],"empty":{},"mixed_list":[1,"two"]}`),
		[]byte(`{"class_uid":2004,"varies":"one","big":12345678901234567890}`))
	var buf bytes.Buffer
	if err := parquetObject(&buf, docs); err != nil {
		t.Fatal(err)
	}
	rows := readParquet(t, buf.Bytes())
	if len(rows) != len(docs) {
		t.Fatalf("%d rows, want %d", len(rows), len(docs))
	}
	for i := range docs {
		want, got := decodeJSON(t, docs[i]), decodeJSON(t, rows[i])
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("row %d:\n got %s\nwant %s", i, rows[i], docs[i])
		}
	}
	// the same records give the same bytes (a retried object overwrites itself)
	var again bytes.Buffer
	if err := parquetObject(&again, docs); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Fatalf("not deterministic (%v)", err)
	}
}

// TestSecurityLakeKeys: with layout security_lake each OCSF class goes to
// its own custom source, under the Security Lake partitions.
func TestSecurityLakeKeys(t *testing.T) {
	c := DefaultConfig()
	c.Bucket, c.Region, c.Layout, c.Object, c.Format, c.AccountID = "aws-security-data-lake-eu-west-1-abc", "eu-west-1", "security_lake", "parquet", "ocsf", "123456789012"
	c.AccessKeyID, c.SecretAccessKey = "AKIDEXAMPLE", "secret"
	c.Sources = map[int]string{2004: "sophos-detections"}
	s := newSink(t, c)
	recs := outtest.Records(t, "sl", 30)
	w, be, objs := s.prepare(recs)
	if be.ErrOrNil() != nil {
		t.Fatal(be)
	}
	classes := map[string]map[int64]bool{}
	for _, o := range objs {
		dir := o.key[:strings.LastIndex(o.key, "/")+1]
		if !strings.HasPrefix(dir, "ext/") || !strings.HasSuffix(dir, "/region=eu-west-1/accountId=123456789012/eventDay=20240514/") || !strings.HasSuffix(o.key, ".parquet") {
			t.Fatalf("key %s", o.key)
		}
		if classes[dir] == nil {
			classes[dir] = map[int64]bool{}
		}
		for _, i := range o.items {
			classes[dir][w.classes[i]] = true
		}
	}
	for dir, cl := range classes {
		if len(cl) != 1 {
			t.Fatalf("%s holds classes %v: one class per custom source", dir, cl)
		}
		if cl[2004] && !strings.HasPrefix(dir, "ext/sophos-detections/") {
			t.Fatalf("class 2004 under %s, want the configured source", dir)
		}
	}
	t.Logf("prefixes %v", classes)
}
