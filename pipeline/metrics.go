package pipeline

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the pipeline's Prometheus instruments. Counters are updated per
// page or per batch, never per record, so they cost nothing on the hot path.
type Metrics struct {
	Registry *prometheus.Registry

	RecordsPulled   *prometheus.CounterVec // tenant, stream
	PagesPulled     *prometheus.CounterVec // tenant, stream
	BytesPulled     *prometheus.CounterVec // tenant, stream
	FetchErrors     *prometheus.CounterVec // tenant, stream
	APIErrors       *prometheus.CounterVec // status
	CheckpointAge   *prometheus.GaugeVec   // tenant, stream: seconds since the cursor was committed
	CheckpointTime  *prometheus.GaugeVec   // tenant, stream: unix time of the last commit
	WindowGap       *prometheus.CounterVec // tenant, stream: seconds of data lost to the 24 h window
	StageDropped    *prometheus.CounterVec // stage
	SinkDelivered   *prometheus.CounterVec // sink
	SinkRetried     *prometheus.CounterVec // sink
	SinkRejected    *prometheus.CounterVec // sink
	SinkBatches     *prometheus.CounterVec // sink
	SinkLatency     *prometheus.HistogramVec
	SinkBufferBytes *prometheus.GaugeVec   // sink
	DeadLetters     *prometheus.CounterVec // sink (or stage)
	InflightPages   prometheus.Gauge
	// PartitionFailures counts passes in which a partition failed (tenant, stream).
	PartitionFailures *prometheus.CounterVec
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
		APIErrors:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_api_errors_total", Help: "Sophos API error responses by HTTP status."}, []string{"status"}),
		CheckpointAge:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_checkpoint_age_seconds", Help: "Seconds since the partition's cursor was last committed (Sophos keeps 24 h)."}, pt),
		CheckpointTime:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_checkpoint_timestamp_seconds", Help: "Unix time of the partition's last committed cursor."}, pt),
		WindowGap:         prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_window_gap_seconds_total", Help: "Seconds of history that fell out of Sophos's 24 h window before they could be fetched."}, pt),
		StageDropped:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_stage_dropped_total", Help: "Records dropped by a transform stage."}, []string{"stage"}),
		SinkDelivered:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_delivered_total", Help: "Records delivered (or durably buffered) by a sink."}, []string{"sink"}),
		SinkRetried:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_retried_total", Help: "Record deliveries retried."}, []string{"sink"}),
		SinkRejected:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_rejected_total", Help: "Records a sink rejected for good (sent to the dead-letter file)."}, []string{"sink"}),
		SinkBatches:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_sink_batches_total", Help: "Batch writes attempted."}, []string{"sink"}),
		SinkLatency:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sophos_connect_sink_write_seconds", Help: "Latency of one batch write.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"sink"}),
		SinkBufferBytes:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sophos_connect_sink_buffer_bytes", Help: "Bytes held in the sink's disk buffer."}, []string{"sink"}),
		DeadLetters:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_dead_letters_total", Help: "Records written to the dead-letter file."}, []string{"source"}),
		InflightPages:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "sophos_connect_inflight_pages", Help: "Pages pulled but not yet committed."}),
		PartitionFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sophos_connect_partition_failures_total", Help: "Passes in which a partition could not be pulled completely (retried next pass from its last good cursor)."}, pt),
	}
	m.Registry.MustRegister(m.RecordsPulled, m.PagesPulled, m.BytesPulled, m.FetchErrors, m.APIErrors,
		m.CheckpointAge, m.CheckpointTime, m.WindowGap, m.StageDropped, m.SinkDelivered, m.SinkRetried,
		m.SinkRejected, m.SinkBatches, m.SinkLatency, m.SinkBufferBytes, m.DeadLetters, m.InflightPages, m.PartitionFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
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
