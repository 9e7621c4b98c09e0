package reconcile

import (
	"context"
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// RepairSource is a pipeline.Source of repaired records: one page per
// tenant, pulled once. Delivered through the normal pipeline (stages,
// sinks, buffers, dead letters, the ledger), with MemoryCheckpoints so no
// real checkpoint moves.
type RepairSource struct {
	pages map[string][]pipeline.Record // tenant -> records
	names map[string]string
}

// NewRepairSource holds records by tenant (names: tenant display names).
func NewRepairSource(byTenant map[string][]pipeline.Record, names map[string]string) *RepairSource {
	return &RepairSource{pages: byTenant, names: names}
}

// Partitions lists the tenants with repaired alerts.
func (s *RepairSource) Partitions(ctx context.Context) ([]pipeline.Partition, error) {
	var out []pipeline.Partition
	for t, recs := range s.pages {
		if len(recs) > 0 {
			out = append(out, pipeline.Partition{Tenant: t, TenantName: s.names[t], Stream: pipeline.Alerts})
		}
	}
	return out, nil
}

// Fetch returns the tenant's repaired records as one page.
func (s *RepairSource) Fetch(ctx context.Context, p pipeline.Partition, pos pipeline.Position) (*pipeline.Page, error) {
	recs := s.pages[p.Tenant]
	n := 0
	for _, r := range recs {
		n += len(r.Raw)
	}
	return &pipeline.Page{Partition: p, Records: recs, Cursor: "repair", Bytes: n}, nil
}

// MemoryCheckpoints is a pipeline.Checkpointer that keeps nothing: a repair
// must not move the collector's cursors.
type MemoryCheckpoints struct {
	mu  sync.Mutex
	cps map[string]pipeline.Checkpoint
}

func (m *MemoryCheckpoints) Get(key string) (pipeline.Checkpoint, bool) {
	return pipeline.Checkpoint{}, false
}
func (m *MemoryCheckpoints) Set(key string, c pipeline.Checkpoint) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cps == nil {
		m.cps = map[string]pipeline.Checkpoint{}
	}
	m.cps[key] = c
}
func (m *MemoryCheckpoints) Flush() error { return nil }
func (m *MemoryCheckpoints) DurableGet(key string) (pipeline.Checkpoint, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cps[key]
	return c, ok
}
func (m *MemoryCheckpoints) Durable() map[string]pipeline.Checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]pipeline.Checkpoint{}
	for k, v := range m.cps {
		out[k] = v
	}
	return out
}
