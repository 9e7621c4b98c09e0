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
		return fmt.Errorf("kafka: topic %q does not exist — create topic %s or enable auto-create (auto.create.topics.enable) on the brokers: %w", topic, topic, err)
	case kafkago.TopicAuthorizationFailed:
		return pipeline.Permanent(authError(topic, false, err))
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

// authError explains a TOPIC_AUTHORIZATION_FAILED. For a topic that does
// not exist yet (the principal may describe it, the brokers answer "unknown"
// when asked not to create it) the brokers refused to auto-create it: CREATE
// is what is missing.
func authError(topic string, createMissing bool, err error) error {
	if createMissing {
		return fmt.Errorf("kafka: topic %q does not exist and the sink's principal may not create it — grant it CREATE on the topic (or the cluster), or create topic %s: %w", topic, topic, err)
	}
	return fmt.Errorf("kafka: not authorized to write to topic %q — grant the sink's principal WRITE and DESCRIBE on it: %w", topic, err)
}

// connError explains a failed produce or metadata round trip; useTLS says
// whether a TLS hint may help.
func connError(brokers []string, useTLS bool, err error) error {
	where := strings.Join(brokers, ",")
	var netErr *net.OpError
	code, isCode := kafkaCode(err)
	switch {
	case isCode && (code == kafkago.SASLAuthenticationFailed || code == kafkago.IllegalSASLState):
		return fmt.Errorf("kafka %s: SASL authentication failed — check sasl.username and sasl.password: %w", where, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kafka %s: no answer within write_timeout: %w", where, err)
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		if useTLS {
			err = tlsHint(err)
		}
		return fmt.Errorf("kafka %s: connection failed (broker down or unreachable?): %w", where, err)
	}
	if useTLS {
		err = tlsHint(err)
	}
	return fmt.Errorf("kafka %s: %w", where, err)
}

// tlsHint adds the likely fix to a TLS failure.
func tlsHint(err error) error {
	var (
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		host    x509.HostnameError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &host):
		return fmt.Errorf("certificate not trusted — check tls.ca_file and tls.server_name: %w", err)
	case errors.As(err, &recErr):
		return fmt.Errorf("the broker does not speak TLS on this port — remove the tls block or use its TLS listener: %w", err)
	case errors.As(err, &alert), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("the broker refused the TLS session — does it require a client certificate (tls.cert_file, tls.key_file)? %w", err)
	}
	return err
}
