// Package samples gives the transform tests the reference sample pages (a
// copy of shared/reference/samples) as records, the way the source builds
// them: each raw item kept as its own bytes.
package samples

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Tenant is the samples' customer_id.
const Tenant = "3f8a2c71-5d1e-4b9a-8c07-6e2f19d4a5b8"

//go:embed events_page.json
var eventsPage []byte

//go:embed alerts_page.json
var alertsPage []byte

// Items returns the raw items of the sample page for stream (compacted
// copies: the API sends compact JSON).
func Items(stream pipeline.Stream) [][]byte {
	page := eventsPage
	if stream == pipeline.Alerts {
		page = alertsPage
	}
	var p struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(page, &p); err != nil {
		panic(fmt.Sprintf("samples: %v", err))
	}
	out := make([][]byte, len(p.Items))
	for i, it := range p.Items {
		b, err := compact(it)
		if err != nil {
			panic(fmt.Sprintf("samples: %v", err))
		}
		out[i] = b
	}
	return out
}

func compact(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Records returns the sample page for stream as records.
func Records(stream pipeline.Stream) []*pipeline.Record {
	var out []*pipeline.Record
	for _, raw := range Items(stream) {
		r, err := pipeline.NewRecord(stream, Tenant, raw)
		if err != nil {
			panic(fmt.Sprintf("samples: %v", err))
		}
		out = append(out, &r)
	}
	return out
}

// All returns the events then the alerts.
func All() []*pipeline.Record {
	return append(Records(pipeline.Events), Records(pipeline.Alerts)...)
}
