package pipeline

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/sophos-connect/sophos-connect/status"
)

// Metrics are the pipeline's Prometheus instruments. Counters are updated per
// page or per batch, never per record, so they cost nothing on the hot path.
type Metrics struct {
	Registry *prometheus.Registry

	RecordsPulled  *prometheus.CounterVec // tenant, stream
	PagesPulled    *prometheus.CounterVec // tenant, stream
	BytesPulled    *prometheus.CounterVec // tenant, stream
	FetchErrors    *prometheus.CounterVec // tenant, stream
	TenantErrors   *prometheus.CounterVec // tenant, reason: a tenant skipped in a pass
	APIErrors      *prometheus.CounterVec // status
	CheckpointAge  *prometheus.GaugeVec   // tenant, stream: seconds since the cursor was committed
	CheckpointTime *prometheus.GaugeVec   // tenant, stream: unix time of the last commit
	GapSeconds     *prometheus.CounterVec // tenant, stream: seconds of data lost to the 24 h window (gaps)
	// ReconcileMissing is, per tenant and stream, what the last
	// reconciliation found missing (alert ids; event and detection records).
	ReconcileMissing *prometheus.GaugeVec
	StageDropped     *prometheus.CounterVec // stage
	SinkDelivered    *prometheus.CounterVec // sink
	SinkRetried      *prometheus.CounterVec // sink
	SinkRejected     *prometheus.CounterVec // sink
	SinkBatches      *prometheus.CounterVec // sink
	SinkLatency      *prometheus.HistogramVec
	SinkBufferBytes  *prometheus.GaugeVec   // sink
	SinkQueued       *prometheus.GaugeVec   // sink: records routed to the sink, not yet settled
	DeadLetters      *prometheus.CounterVec // sink (or stage)
	InflightPages    prometheus.Gauge
	// PartitionFailures counts passes in which a partition failed (tenant, stream).
	PartitionFailures *prometheus.CounterVec
	// CommitFailing is 1 while checkpoint commits fail.
	CommitFailing  prometheus.Gauge
	commitErr      atomic.Value     // string
	APIConcurrency prometheus.Gauge // requests the Sophos client allows in flight

	// Distributed mode (package cluster); zero on a collector on its own.
	ClusterRebalances      prometheus.Counter // group generations this member took part in
	ClusterOwnedPartitions prometheus.Gauge
	ClusterOwnedTenants    prometheus.Gauge

	// Board is the status page's view, fed from the same places as the
	// counters (per page or batch).
	Board *status.Board

	collectors []prometheus.Collector
}

// NewMetrics creates the instruments in a fresh registry.
func NewMetrics() *Metrics {
	pt := []string{"tenant", "stream"}
	m := &Metrics{
		Registry:          prometheus.NewRegistry(),
		RecordsPulled:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_records_pulled_total", Help: "Records pulled from Sophos Central."}, pt),
		PagesPulled:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_pages_pulled_total", Help: "SIEM pages pulled."}, pt),
		BytesPulled:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_bytes_pulled_total", Help: "Response bytes pulled."}, pt),
		FetchErrors:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_fetch_errors_total", Help: "Page fetches that failed after the client's retries."}, pt),
		TenantErrors:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_tenant_errors_total", Help: "Tenants skipped in a pass: not_found (a sophos.tenants entry the credentials do not reach), unauthorized (401), forbidden (403)."}, []string{"tenant", "reason"}),
		APIErrors:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_api_errors_total", Help: "Sophos API error responses by HTTP status."}, []string{"status"}),
		CheckpointAge:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_checkpoint_age_seconds", Help: "Seconds since the partition's cursor was last committed (Sophos keeps 24 h)."}, pt),
		CheckpointTime:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_checkpoint_timestamp_seconds", Help: "Unix time of the partition's last committed cursor."}, pt),
		GapSeconds:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_gap_seconds_total", Help: "Seconds of history that fell out of Sophos's 24 h window before they could be read (gaps; see state gaps)."}, pt),
		ReconcileMissing:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_reconcile_missing", Help: "What the last reconciliation against Sophos Central found missing: alert ids, or event and detection records (0 = complete)."}, pt),
		StageDropped:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_stage_dropped_total", Help: "Records dropped by a transform stage."}, []string{"stage"}),
		SinkDelivered:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_delivered_total", Help: "Records delivered (or durably buffered) by a sink."}, []string{"sink"}),
		SinkRetried:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_retried_total", Help: "Record deliveries retried."}, []string{"sink"}),
		SinkRejected:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_rejected_total", Help: "Records a sink rejected for good (sent to the dead-letter file)."}, []string{"sink"}),
		SinkBatches:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_batches_total", Help: "Batch writes attempted."}, []string{"sink"}),
		SinkLatency:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sophos_connect_sink_write_seconds", Help: "Latency of one batch write.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"sink"}),
		SinkBufferBytes:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_sink_buffer_bytes", Help: "Bytes held in the sink's disk buffer."}, []string{"sink"}),
		SinkQueued:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_sink_queued_records", Help: "Records routed to the sink and not yet delivered, buffered or dead-lettered."}, []string{"sink"}),
		DeadLetters:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_dead_letters_total", Help: "Records written to the dead-letter file."}, []string{"source"}),
		InflightPages:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_inflight_pages", Help: "Pages pulled but not yet committed."}),
		CommitFailing:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_checkpoint_commit_failing", Help: "1 while checkpoint commits to state_dir fail (pulling stops, /readyz is red)."}),
		PartitionFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_partition_failures_total", Help: "Passes in which a partition could not be pulled completely (retried next pass from its last good cursor)."}, pt),
		APIConcurrency:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_api_concurrency_limit", Help: "Sophos API requests allowed in flight: the adaptive limit (workers: auto) or the fixed workers."}),

		ClusterRebalances:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sophos_connect_cluster_rebalances_total", Help: "Distributed mode: group generations (assignments) this member received."}),
		ClusterOwnedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_cluster_owned_partitions", Help: "Distributed mode: coordination-topic partitions this member owns."}),
		ClusterOwnedTenants:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_cluster_owned_tenants", Help: "Distributed mode: tenants this member pulls."}),
	}
	m.collectors = []prometheus.Collector{m.RecordsPulled, m.PagesPulled, m.BytesPulled, m.FetchErrors, m.TenantErrors, m.APIErrors,
		m.CheckpointAge, m.CheckpointTime, m.GapSeconds, m.ReconcileMissing, m.StageDropped, m.SinkDelivered, m.SinkRetried,
		m.SinkRejected, m.SinkBatches, m.SinkLatency, m.SinkBufferBytes, m.SinkQueued, m.DeadLetters, m.InflightPages, m.APIConcurrency, m.PartitionFailures, m.CommitFailing,
		m.ClusterRebalances, m.ClusterOwnedPartitions, m.ClusterOwnedTenants,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), sinkHealth{m}}
	m.Board = status.NewBoard("", time.Now())
	m.Registry.MustRegister(m.collectors...)
	m.Board.SetSinkCounters(m.sinkCounters)
	return m
}

var (
	sinkUpDesc = prometheus.NewDesc("sophos_connect_sink_up",
		"1 while the sink's state is ok; 0 while it is retrying, stalled or failing its start-up check (the status page's state).", []string{"sink"}, nil)
	sinkOldestDesc = prometheus.NewDesc("sophos_connect_sink_oldest_undelivered_seconds",
		"Age of the oldest record routed to the sink and not yet delivered (disk-buffered ones included); 0 when none waits.", []string{"sink"}, nil)
)

// sinkHealth exports the status board's sink states at scrape time, so the
// page and /metrics always agree.
type sinkHealth struct{ m *Metrics }

func (c sinkHealth) Describe(ch chan<- *prometheus.Desc) { ch <- sinkUpDesc; ch <- sinkOldestDesc }

func (c sinkHealth) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.m.Board.SinkHealth(time.Now()) {
		up := 0.0
		if h.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(sinkUpDesc, prometheus.GaugeValue, up, h.Name)
		ch <- prometheus.MustNewConstMetric(sinkOldestDesc, prometheus.GaugeValue, h.OldestUndeliveredSeconds, h.Name)
	}
}

// sinkCounters reads a sink's totals for the status page from the metrics
// themselves, so the page and /metrics always agree.
func (m *Metrics) sinkCounters(sink string) status.SinkCounters {
	return status.SinkCounters{
		Delivered:     int64(currentValue(m.SinkDelivered.WithLabelValues(sink))),
		Queued:        int64(currentValue(m.SinkQueued.WithLabelValues(sink))),
		BufferedBytes: int64(currentValue(m.SinkBufferBytes.WithLabelValues(sink))),
		DeadLettered:  int64(currentValue(m.DeadLetters.WithLabelValues(sink))),
	}
}

// currentValue reads a counter's or gauge's value.
func currentValue(c prometheus.Metric) float64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	return metricValue(&d)
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// MetricNames lists the names of every metric the collector exports (for
// tests that check dashboards and alert rules against them).
func (m *Metrics) MetricNames() []string {
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range m.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		// Desc has no accessor for its name; its String form is stable:
		// Desc{fqName: "name", help: ...}.
		s := d.String()
		if i := strings.Index(s, `fqName: "`); i >= 0 {
			s = s[i+len(`fqName: "`):]
			if j := strings.IndexByte(s, '"'); j >= 0 {
				names = append(names, s[:j])
			}
		}
	}
	return names
}

// setCommitFailing records whether the last checkpoint commit failed.
func (m *Metrics) setCommitFailing(err error) {
	if err == nil {
		m.commitErr.Store("")
		m.CommitFailing.Set(0)
		return
	}
	m.commitErr.Store(err.Error())
	m.CommitFailing.Set(1)
}

// CommitError is the error of the last checkpoint commit while commits
// fail ("" when they succeed): /readyz is red meanwhile.
func (m *Metrics) CommitError() string {
	s, _ := m.commitErr.Load().(string)
	return s
}

func (m *Metrics) observeCommit(p Partition, at time.Time) {
	m.CheckpointTime.WithLabelValues(p.Tenant, string(p.Stream)).Set(float64(at.Unix()))
	m.CheckpointAge.WithLabelValues(p.Tenant, string(p.Stream)).Set(0)
}

// APIError counts an API error response by status (sources call it).
func (m *Metrics) APIError(status int) {
	if m != nil {
		m.APIErrors.WithLabelValues(strconv.Itoa(status)).Inc()
	}
}
