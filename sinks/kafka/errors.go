package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// kafkaCode returns the Kafka error code carried by err, if any.
func kafkaCode(err error) (kafkago.Error, bool) {
	var ke kafkago.Error
	if errors.As(err, &ke) {
		return ke, true
	}
	return 0, false
}

// tooLarge reports a batch the broker refused for its size: the sink splits
// it and resends the halves; a single record that is still too large is
// rejected for good.
func tooLarge(code kafkago.Error) bool {
	return code == kafkago.MessageSizeTooLarge || code == kafkago.RecordListTooLarge
}

// partitionError turns a partition's error code from a produce response into
// the error reported for each of its records: permanent when no retry can
// succeed (the record is dead-lettered), plain otherwise (the pipeline
// retries it).
func partitionError(topic string, code kafkago.Error, msg string) error {
	err := error(code)
	if msg != "" && msg != code.Error() {
		err = fmt.Errorf("%w (%s)", code, msg)
	}
	switch code {
	case kafkago.UnknownTopicOrPartition:
		return fmt.Errorf("kafka: topic %q does not exist — create it or enable auto-creation (auto.create.topics.enable) on the brokers: %w", topic, err)
	case kafkago.TopicAuthorizationFailed:
		return pipeline.Permanent(fmt.Errorf("kafka: not authorized to write to topic %q — grant the sink's principal WRITE and DESCRIBE on it: %w", topic, err))
	case kafkago.ClusterAuthorizationFailed, kafkago.TransactionalIDAuthorizationFailed:
		return pipeline.Permanent(fmt.Errorf("kafka: not authorized to produce — check the sink's ACLs: %w", err))
	case kafkago.InvalidTopic:
		return pipeline.Permanent(fmt.Errorf("kafka: %q is not a valid topic name: %w", topic, err))
	case kafkago.MessageSizeTooLarge, kafkago.RecordListTooLarge:
		return pipeline.Permanent(fmt.Errorf("kafka: record is larger than the broker accepts for topic %q (message.max.bytes / max.message.bytes): %w", topic, err))
	case kafkago.InvalidRecord, kafkago.InvalidTimestamp, kafkago.InvalidMessageSize,
		kafkago.UnsupportedForMessageFormat, kafkago.UnsupportedCompressionType,
		kafkago.InvalidRequiredAcks, kafkago.PolicyViolation:
		return pipeline.Permanent(fmt.Errorf("kafka: topic %q rejected the record: %w", topic, err))
	}
	return fmt.Errorf("kafka: topic %q: %w", topic, err)
}

// connError explains a failure to reach or authenticate with the brokers.
func connError(brokers []string, err error) error {
	where := strings.Join(brokers, ",")
	var (
		code    kafkago.Error
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		host    x509.HostnameError
		recErr  tls.RecordHeaderError
		netErr  *net.OpError
	)
	isCode := false
	if c, ok := kafkaCode(err); ok {
		code, isCode = c, true
	}
	switch {
	case isCode && (code == kafkago.SASLAuthenticationFailed || code == kafkago.IllegalSASLState):
		return fmt.Errorf("kafka %s: SASL authentication failed — check sasl.username and sasl.password: %w", where, err)
	case isCode && code == kafkago.UnsupportedSASLMechanism:
		return fmt.Errorf("kafka %s: the brokers do not accept this sasl.mechanism — ask which mechanisms are enabled: %w", where, err)
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &host):
		return fmt.Errorf("kafka %s: TLS certificate not trusted — check tls.ca_file and tls.server_name: %w", where, err)
	case errors.As(err, &recErr):
		return fmt.Errorf("kafka %s: the brokers do not speak TLS on this port — remove the tls block or use the TLS listener: %w", where, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("kafka %s: the broker closed the connection — a TLS listener needs the tls block, a SASL listener the sasl block: %w", where, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kafka %s: no answer in time — check brokers, the network and whether the listener expects TLS: %w", where, err)
	case errors.As(err, &netErr):
		return fmt.Errorf("kafka %s: cannot reach the brokers — check brokers and that Kafka is running: %w", where, err)
	}
	return fmt.Errorf("kafka %s: %w", where, err)
}
