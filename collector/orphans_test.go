package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline/diskq"
)

// TestMoveBufferIntoABusyBuffer: adopting an orphaned buffer into a sink
// whose own buffer still holds records appends the orphan's records after
// them (nothing is overwritten or lost) and removes the orphan; into an
// empty one it is a rename.
func TestMoveBufferIntoABusyBuffer(t *testing.T) {
	for _, busy := range []bool{true, false} {
		t.Run(fmt.Sprintf("busy=%v", busy), func(t *testing.T) {
			dir := t.TempDir()
			from, to := filepath.Join(dir, "old"), filepath.Join(dir, "new")
			fill := func(path, prefix string, n int) {
				q, err := diskq.Open(path, diskq.Options{})
				if err != nil {
					t.Fatal(err)
				}
				var p [][]byte
				for i := range n {
					p = append(p, []byte(fmt.Sprintf("%s-%d", prefix, i)))
				}
				if err := q.Append(context.Background(), p); err != nil {
					t.Fatal(err)
				}
				q.Close()
			}
			fill(from, "old", 2500)
			want := 2500
			if busy {
				fill(to, "new", 30)
				want += 30
			}
			if err := moveBuffer(from, to); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(from); !os.IsNotExist(err) {
				t.Fatalf("the orphan is still there: %v", err)
			}
			q, err := diskq.Open(to, diskq.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			var got []string
			for {
				es, err := q.Read(1000)
				if err != nil {
					t.Fatal(err)
				}
				if len(es) == 0 {
					break
				}
				for _, e := range es {
					got = append(got, string(e.Payload))
				}
			}
			if len(got) != want || got[len(got)-1] != "old-2499" || (busy && got[0] != "new-0") || (!busy && got[0] != "old-0") {
				t.Fatalf("%d records (first %q, last %q), want %d in order", len(got), got[0], got[len(got)-1], want)
			}
		})
	}
}
