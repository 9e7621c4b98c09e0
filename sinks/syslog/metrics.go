package syslog

import "github.com/prometheus/client_golang/prometheus"

// The sink is a Prometheus collector of its own counters; the collector
// registers every sink that is one.
var _ prometheus.Collector = (*Sink)(nil)

func (s *Sink) descs() (truncated, oversized, reconnects *prometheus.Desc) {
	l := prometheus.Labels{"sink": s.name}
	return prometheus.NewDesc("sophos_connect_syslog_truncated_total", "Syslog messages cut to max_message_bytes and sent (the full record is in the dead-letter file).", nil, l),
		prometheus.NewDesc("sophos_connect_syslog_oversize_total", "Syslog messages over max_message_bytes not sent at all (dead-letter file only).", nil, l),
		prometheus.NewDesc("sophos_connect_syslog_reconnects_total", "Syslog connections made after the first.", nil, l)
}

// Describe implements prometheus.Collector.
func (s *Sink) Describe(ch chan<- *prometheus.Desc) {
	t, o, r := s.descs()
	ch <- t
	ch <- o
	ch <- r
}

// Collect implements prometheus.Collector.
func (s *Sink) Collect(ch chan<- prometheus.Metric) {
	t, o, r := s.descs()
	ch <- prometheus.MustNewConstMetric(t, prometheus.CounterValue, float64(s.truncated.Load()))
	ch <- prometheus.MustNewConstMetric(o, prometheus.CounterValue, float64(s.oversized.Load()))
	ch <- prometheus.MustNewConstMetric(r, prometheus.CounterValue, float64(s.reconnects.Load()))
}
