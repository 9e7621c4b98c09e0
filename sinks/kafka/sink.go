package kafka

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/compress/snappy"

	"github.com/sophos-connect/sophos-connect/internal/kafkaconn"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Sink produces records to Kafka. It implements pipeline.Sink; Write is
// synchronous: it returns once the brokers acknowledged every record under
// required_acks, or with the records that were not.
type Sink struct {
	name  string
	cfg   Config
	log   *slog.Logger
	enc   encoding.Encoder
	topic pipeline.Template
	key   keySpec
	comp  kafkago.Compression
	acks  kafkago.RequiredAcks
	addr  net.Addr
	tr    *kafkago.Transport

	rr uint32     // round-robin partition for records without a key
	w  writeState // Write's scratch, reused (Write is never concurrent)

	// metaTopics are the topics the transport's metadata cache follows
	// (Transport.MetadataTopics): the ones written so far.
	metaTopics map[string]bool
	// missing holds, per topic that did not exist, when that was first and
	// last seen (topic_missing_timeout).
	missing map[string]missingTopic
	now     func() time.Time
}

type missingTopic struct{ first, last time.Time }

// maxMetaTopics bounds the topics the metadata cache follows; past it the
// list starts again from the current Write's topics.
const maxMetaTopics = 10000

var _ pipeline.Sink = (*Sink)(nil)

// metadataTTL bounds how stale the cached partition layout may be (kafka-go
// draws each refresh from [0, TTL), 30s on average); a leader change is
// noticed sooner, as the failed produce drops the cache (Write).
const metadataTTL = 60 * time.Second

// snappyOnce sets kafka-go's snappy encoder to the standard speed.
var snappyOnce sync.Once

// standardSnappy makes kafka-go compress snappy batches with s2's standard
// snappy encoder instead of its default "better" mode, which spends about
// twice the CPU for a few percent of size (the profile of BenchmarkKafkaSink
// showed it as 40% of the sink's CPU). The output is plain snappy either way;
// the Java client's snappy-java encodes at the standard speed too. kafka-go
// keeps codecs in a process-wide table, so this is done once, before the
// first producer connection exists.
func standardSnappy() {
	snappyOnce.Do(func() {
		compress.Codecs[compress.Snappy] = &snappy.Codec{Compression: snappy.FasterCompression}
	})
}

// New builds the sink from a validated config; it does not connect (Start does).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	standardSnappy()
	if log == nil {
		log = slog.Default()
	}
	opts := c.Options
	if opts.Logger == nil {
		opts.Logger = log
	}
	enc, err := encoding.New(c.Format, opts)
	if err != nil {
		return nil, err
	}
	key, _ := parseKey(c.Key)
	comp, _ := compressionOf(c.Compression)
	acks, _ := acksOf(c.RequiredAcks)
	s := &Sink{
		name: name, cfg: c, log: log.With("sink", name),
		enc: enc, topic: c.topicTemplate(), key: key, comp: comp, acks: acks,
		addr:       kafkago.TCP(c.Brokers...),
		metaTopics: map[string]bool{},
		missing:    map[string]missingTopic{},
		now:        time.Now,
	}
	s.tr, err = newTransport(c)
	if err != nil {
		return nil, err
	}
	// Without MetadataTopics kafka-go refreshes the metadata of every topic
	// in the cluster; a placeholder until the first Write names real ones.
	s.tr.MetadataTopics = []string{c.Topic}
	if s.topic.Fixed() {
		s.metaTopics[c.Topic] = true
	}

	if strings.EqualFold(c.SASL.Mechanism, "plain") && c.TLS == nil {
		s.log.Warn("kafka: sasl plain without tls sends the password in clear text; add a tls block")
	}
	return s, nil
}

// newTransport builds the connection pool: TLS, SASL, client id, timeouts.
func newTransport(c Config) (*kafkago.Transport, error) {
	tr, err := kafkaconn.Transport(c.TLS, c.SASL, c.ClientID, c.WriteTimeout.D(), nil)
	if err != nil {
		return nil, err
	}
	tr.MetadataTTL = metadataTTL
	return tr, nil
}

// Start is the health check: it connects and authenticates, and fetches the
// metadata. A fixed topic must exist (or be auto-created by the brokers) and
// be writable; a templated topic only needs reachable brokers.
func (s *Sink) Start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout.D()+5*time.Second)
	defer cancel()
	topics := []string{}
	if s.topic.Fixed() {
		topics = append(topics, s.cfg.Topic)
	}
	pr, err := s.probe(ctx, topics)
	if err != nil {
		return err
	}
	if len(topics) > 0 {
		if err := checkTopicMeta(s.cfg.Topic, pr); err != nil {
			return err
		}
	}
	s.log.Info("kafka sink ready", "brokers", s.cfg.Brokers, "topic", s.cfg.Topic, "acks", s.cfg.RequiredAcks,
		"compression", s.cfg.Compression, "tls", s.cfg.TLS != nil, "sasl", s.cfg.SASL)
	return nil
}

// connError explains a failure to reach the brokers during Write.
func (s *Sink) connError(err error) error { return connError(s.cfg.Brokers, s.tr.TLS != nil, err) }

// Close releases the connections. Write is never running at this point.
func (s *Sink) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

func compressionOf(s string) (kafkago.Compression, bool) {
	switch strings.ToLower(s) {
	case "none", "":
		return 0, s != ""
	case "gzip":
		return kafkago.Gzip, true
	case "snappy":
		return kafkago.Snappy, true
	case "lz4":
		return kafkago.Lz4, true
	case "zstd":
		return kafkago.Zstd, true
	}
	return 0, false
}

func acksOf(s string) (kafkago.RequiredAcks, bool) {
	switch strings.ToLower(s) {
	case "none":
		return kafkago.RequireNone, true
	case "one":
		return kafkago.RequireOne, true
	case "all":
		return kafkago.RequireAll, true
	}
	return 0, false
}
