package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
)

// ocsfID is the Sophos id of an OCSF record (metadata.uid).
func ocsfID(t testing.TB, doc []byte) string {
	var d struct {
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Metadata.UID
}

// rawObjects reads every object under prefix back: key → its bytes.
func (w *seaweed) rawObjects(prefix string) map[string][]byte {
	w.t.Helper()
	c := w.client()
	ctx := context.Background()
	out := map[string][]byte{}
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, o := range page.Contents {
			res, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(testBucket), Key: o.Key})
			if err != nil {
				w.t.Fatal(err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				w.t.Fatal(err)
			}
			out[*o.Key] = b
		}
	}
	return out
}

// pyarrowRows reads a Parquet file with pyarrow (an independent reader)
// and returns its rows as JSON. Without python3 and pyarrow the test is
// skipped, or fails under CI (.ci/run installs pyarrow from PyPI).
func pyarrowRows(t *testing.T, b []byte) [][]byte {
	t.Helper()
	if err := exec.Command("python3", "-c", "import pyarrow.parquet").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pyarrow is missing: test/services/python3.sh installs it (pip install pyarrow)")
		}
		t.Skip("no pyarrow: `python3 -m pip install pyarrow` to check the Parquet objects with an independent reader")
	}
	path := filepath.Join(t.TempDir(), "o.parquet")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", `import json, sys, pyarrow.parquet as pq
for row in pq.read_table(sys.argv[1]).to_pylist():
    print(json.dumps(row, default=str))`, path).Output()
	if err != nil {
		t.Fatalf("pyarrow: %v", err)
	}
	return bytes.Split(bytes.TrimSpace(out), []byte("\n"))
}

var lakeKey = regexp.MustCompile(`^ext/sophos-central-(\d+)/region=us-east-1/accountId=123456789012/eventDay=20240514/[0-9a-f]{24}-\d+\.parquet$`)

// TestSecurityLakeReadBack writes OCSF records in the Security Lake layout
// to SeaweedFS and reads every object back with the SDK, then with
// parquet-go and with pyarrow: every record once, value for value, under
// ext/<source>/region=/accountId=/eventDay=/, one OCSF class per source.
func TestSecurityLakeReadBack(t *testing.T) {
	w := startSeaweed(t)
	c := w.config()
	c.Layout, c.Object, c.Format, c.Region, c.AccountID = "security_lake", "parquet", "ocsf", "us-east-1", "123456789012"
	s := started(t, c)
	recs := outtest.Records(t, "lake", 600)
	if err := s.Write(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, r := range recs {
		d, err := s.enc.Append(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		want[r.ID] = d
	}
	objs := w.rawObjects("ext/")
	if len(objs) == 0 {
		t.Fatal("no objects")
	}
	seen := map[string]int{}
	for key, b := range objs {
		m := lakeKey.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("key %s is not in the Security Lake layout", key)
		}
		goRows, pyRows := readParquet(t, b), pyarrowRows(t, b)
		if len(goRows) != len(pyRows) {
			t.Fatalf("%s: parquet-go %d rows, pyarrow %d", key, len(goRows), len(pyRows))
		}
		for i := range goRows {
			id := ocsfID(t, goRows[i])
			seen[id]++
			orig := want[id]
			if orig == nil {
				t.Fatalf("%s: unknown record %q", key, id)
			}
			var cl struct {
				ClassUID json.Number `json:"class_uid"`
			}
			json.Unmarshal(orig, &cl)
			if cl.ClassUID.String() != m[1] {
				t.Fatalf("%s holds class %s", key, cl.ClassUID)
			}
			exp := decodeJSON(t, orig)
			if got := decodeJSON(t, goRows[i]); !reflect.DeepEqual(exp, got) {
				t.Fatalf("%s row %d (parquet-go):\n got %s\nwant %s", key, i, goRows[i], orig)
			}
			if got := decodeJSON(t, pyRows[i]); !reflect.DeepEqual(exp, got) {
				t.Fatalf("%s row %d (pyarrow):\n got %s\nwant %s", key, i, pyRows[i], orig)
			}
		}
	}
	for _, r := range recs {
		if seen[r.ID] != 1 {
			t.Fatalf("%s read back %d times", r.ID, seen[r.ID])
		}
	}
	t.Logf("%d records in %d objects: %v", len(recs), len(objs), keysOf(objs))
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
