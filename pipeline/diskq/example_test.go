package diskq_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/diskq"
	"github.com/sophos-connect/sophos-connect/pipeline/recordcodec"
)

// A sink's feeder appends encoded records; its drainer reads them, delivers
// them and acknowledges what was delivered.
func Example() {
	dir, _ := os.MkdirTemp("", "diskq-example-")
	defer os.RemoveAll(dir)
	q, err := diskq.Open(filepath.Join(dir, "buffer", "siem"), diskq.Options{MaxBytes: 1 << 30})
	if err != nil {
		panic(err)
	}
	defer q.Close()
	if rec := q.Recovery(); !rec.Clean() {
		fmt.Println("recovered:", rec.Damage)
	}

	// Feeder: once Append returns, the records count as delivered upstream.
	var batch [][]byte
	for _, id := range []string{"a1", "a2", "a3"} {
		r := pipeline.Record{Stream: pipeline.Alerts, Tenant: "t1", ID: id, Raw: []byte(`{"id":"` + id + `"}`)}
		batch = append(batch, recordcodec.Append(nil, &r))
	}
	if err := q.Append(context.Background(), batch); err != nil {
		panic(err)
	}

	// Drainer.
	es, err := q.Next(context.Background(), 500)
	if err != nil {
		panic(err)
	}
	for _, e := range es {
		r, err := recordcodec.Decode(e.Payload)
		if err != nil {
			panic(err)
		}
		fmt.Println(e.Pos, r.Stream, r.ID, string(r.Raw))
	}
	if err := q.Ack(es[len(es)-1].Pos); err != nil {
		panic(err)
	}
	st := q.Stats()
	fmt.Println("pending:", st.Entries, st.Bytes)
	// Output:
	// 1 alert a1 {"id":"a1"}
	// 2 alert a2 {"id":"a2"}
	// 3 alert a3 {"id":"a3"}
	// pending: 0 0
}
