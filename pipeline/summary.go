package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// summaryMark is where the last pass summary counted up to.
type summaryMark struct {
	at                    time.Time
	passes                int
	records, dlq, dropped int64
	perSink               []int64
}

// summarize writes the INFO line an operator reads to know the collector
// is working: what the passes since the last line pulled and delivered per
// sink, and what failed. At most one line per SummaryEvery (a minute by
// default), so a fast pull_time does not flood the log; force (the end of
// a -once run) writes it anyway. Pages still in delivery when a pass ends
// are counted in the next line.
func (r *runner) summarize(force bool) {
	m := &r.summary
	m.passes++
	now := time.Now()
	every := r.o.SummaryEvery
	if every <= 0 {
		every = time.Minute
	}
	if !force && !m.at.IsZero() && now.Sub(m.at) < every {
		return
	}
	cur := summaryMark{at: now, records: r.stats.records.Load(), dlq: r.stats.dlq.Load(), dropped: r.stats.dropped.Load()}
	var sinks []string
	for i, w := range r.workers {
		n := w.delivered.Load()
		cur.perSink = append(cur.perSink, n)
		if i < len(m.perSink) {
			n -= m.perSink[i]
		}
		sinks = append(sinks, fmt.Sprintf("%s %d", w.spec.Name, n))
	}
	r.mu.Lock()
	tenants := map[string]bool{}
	for _, p := range r.parts {
		tenants[p.Tenant] = true
	}
	r.mu.Unlock()
	failures := "none"
	if names := r.failedNames(); len(names) > 0 {
		failures = fmt.Sprintf("%d partition(s): %s", len(names), strings.Join(names[:min(len(names), 5)], ", "))
		if len(names) > 5 {
			failures += ", …"
		}
	}
	span := "pass"
	if m.passes > 1 {
		span = fmt.Sprintf("%d passes", m.passes)
	}
	r.log.Info(fmt.Sprintf("summary of the last %s: %d tenant(s), %d record(s) pulled; delivered per sink: %s; %d dead-lettered, %d dropped by stages; failures: %s",
		span, len(tenants), cur.records-m.records, strings.Join(sinks, ", "), cur.dlq-m.dlq, cur.dropped-m.dropped, failures))
	*m = cur
}
