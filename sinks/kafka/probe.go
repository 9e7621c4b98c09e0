package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	metaAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"
)

// The health check opens its own connection, step by step (dial, TLS,
// ApiVersions, SASL, Metadata), rather than asking the transport: it can then
// say which step failed (a broker that rejects a password may just close the
// connection, which the transport reports as a bare EOF), and it can ask for
// the topic's authorized operations, which the transport's metadata cache
// never requests.

// aclWrite is the WRITE bit of Kafka's authorized-operations bit field.
const aclWrite = 1 << 4

// probe runs the check against each bootstrap broker until one answers. A
// credentials or certificate failure stops at once: other brokers would say
// the same.
func (s *Sink) probe(ctx context.Context, topics []string) (*metaAPI.Response, error) {
	var err error
	for _, b := range s.cfg.Brokers {
		var md *metaAPI.Response
		var final bool
		md, final, err = s.probeBroker(ctx, b, topics)
		if err == nil {
			return md, nil
		}
		if final || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// probeBroker connects to one broker; final marks an error no other broker
// would avoid.
func (s *Sink) probeBroker(ctx context.Context, addr string, topics []string) (_ *metaAPI.Response, final bool, _ error) {
	d := net.Dialer{Timeout: s.cfg.WriteTimeout.D()}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("kafka %s: cannot reach the broker — check brokers and that Kafka is running: %w", addr, err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	if s.tr.TLS != nil {
		tc := s.tr.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tconn := tls.Client(nc, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return nil, true, fmt.Errorf("kafka %s: TLS handshake failed: %w", addr, tlsHint(err))
		}
		nc = tconn
	}
	pc := protocol.NewConn(nc, s.cfg.ClientID)
	res, err := pc.RoundTrip(new(apiversions.Request))
	if err != nil {
		hint := "is this a Kafka listener? if it expects TLS, add the tls block"
		if s.tr.TLS != nil {
			hint = "is this a Kafka listener?"
		}
		return nil, false, fmt.Errorf("kafka %s: no Kafka answer — %s: %w", addr, hint, err)
	}
	av := res.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return nil, false, fmt.Errorf("kafka %s: negotiating API versions: %w", addr, kafkago.Error(av.ErrorCode))
	}
	versions := make(map[protocol.ApiKey]int16, len(av.ApiKeys))
	for _, k := range av.ApiKeys {
		versions[protocol.ApiKey(k.ApiKey)] = protocol.ApiKey(k.ApiKey).SelectVersion(k.MinVersion, k.MaxVersion)
	}
	pc.SetVersions(versions)

	if s.tr.SASL != nil {
		if err := s.authenticate(ctx, pc); err != nil {
			return nil, true, fmt.Errorf("kafka %s: %w", addr, err)
		}
	}

	res, err = pc.RoundTrip(&metaAPI.Request{TopicNames: topics, AllowAutoTopicCreation: len(topics) > 0, IncludeTopicAuthorizedOperations: true})
	if err != nil {
		return nil, false, fmt.Errorf("kafka %s: metadata request failed: %w", addr, err)
	}
	return res.(*metaAPI.Response), false, nil
}

// authenticate runs the SASL exchange as kafka-go's transport does.
func (s *Sink) authenticate(ctx context.Context, pc *protocol.Conn) error {
	mech := s.tr.SASL
	res, err := pc.RoundTrip(&saslhandshake.Request{Mechanism: mech.Name()})
	if err != nil {
		return fmt.Errorf("SASL handshake failed — does this listener use SASL? %w", err)
	}
	if hs := res.(*saslhandshake.Response); hs.ErrorCode != 0 {
		return fmt.Errorf("the broker does not accept sasl mechanism %s (it offers %s): %w",
			mech.Name(), strings.Join(hs.Mechanisms, ", "), kafkago.Error(hs.ErrorCode))
	}
	failed := func(err error) error {
		return fmt.Errorf("SASL authentication failed — check sasl.username and sasl.password (%s): %w", s.cfg.SASL, err)
	}
	sess, out, err := mech.Start(ctx)
	if err != nil {
		return failed(err)
	}
	for done := false; !done; {
		res, err := pc.RoundTrip(&saslauthenticate.Request{AuthBytes: out})
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
				err = fmt.Errorf("the broker closed the connection: %w", kafkago.SASLAuthenticationFailed)
			}
			return failed(err)
		}
		ar := res.(*saslauthenticate.Response)
		if ar.ErrorCode != 0 {
			err := error(kafkago.Error(ar.ErrorCode))
			if ar.ErrorMessage != "" {
				err = fmt.Errorf("%w: %s", err, ar.ErrorMessage)
			}
			return failed(err)
		}
		if done, out, err = sess.Next(ctx, ar.AuthBytes); err != nil {
			return failed(err)
		}
	}
	return nil
}

// checkTopicMeta explains, from the probe's metadata, why topic cannot be
// written.
func checkTopicMeta(topic string, md *metaAPI.Response) error {
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		switch code := kafkago.Error(t.ErrorCode); code {
		case 0:
		case kafkago.LeaderNotAvailable:
			return nil // just auto-created: leaders are being elected
		case kafkago.UnknownTopicOrPartition:
			return fmt.Errorf("kafka: topic %q does not exist — create it or enable auto-creation (auto.create.topics.enable) on the brokers", topic)
		case kafkago.TopicAuthorizationFailed:
			return fmt.Errorf("kafka: not authorized to access topic %q — grant the sink's principal WRITE and DESCRIBE on it: %w", topic, code)
		default:
			return fmt.Errorf("kafka: topic %q: %w", topic, code)
		}
		if ops := t.TopicAuthorizedOperations; ops != math.MinInt32 && ops&aclWrite == 0 {
			return fmt.Errorf("kafka: not authorized to write to topic %q — grant the sink's principal WRITE on it: %w", topic, kafkago.TopicAuthorizationFailed)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("kafka: topic %q has no partitions", topic)
		}
		return nil
	}
	return fmt.Errorf("kafka: topic %q does not exist — create it or enable auto-creation (auto.create.topics.enable) on the brokers", topic)
}
