package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/apiversions"
	metaAPI "github.com/segmentio/kafka-go/protocol/metadata"
	"github.com/segmentio/kafka-go/protocol/saslauthenticate"
	"github.com/segmentio/kafka-go/protocol/saslhandshake"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// The health check opens its own connection, step by step (dial, TLS,
// ApiVersions, SASL, Metadata), rather than asking the transport: it can then
// say which step failed (a broker that rejects a password may just close the
// connection, which the transport reports as a bare EOF), and it can ask for
// the topic's authorized operations, which the transport's metadata cache
// never requests.

// aclWrite is the WRITE bit of Kafka's authorized-operations bit field.
const aclWrite = 1 << 4

// probeResult is what the start-up check learned from one broker.
type probeResult struct {
	md *metaAPI.Response
	// metaVersion is the negotiated Metadata version: topic authorized
	// operations exist from v8 on.
	metaVersion int16
	// unknown lists the topics that the principal may describe but that do
	// not exist (asked again without auto-creation after an authorization
	// refusal).
	unknown map[string]bool
}

// probe runs the check against each bootstrap broker until one answers, then
// dials one broker the metadata advertises: clients produce to the
// advertised addresses, so a wrong advertised.listeners would otherwise pass
// here and fail every write. A credentials or certificate failure stops at
// once: other brokers would say the same.
func (s *Sink) probe(ctx context.Context, topics []string) (*probeResult, error) {
	var err error
	for _, b := range s.cfg.Brokers {
		var res *probeResult
		var final bool
		res, final, err = s.probeBroker(ctx, b, topics)
		if err == nil {
			return res, s.probeAdvertised(ctx, b, res.md)
		}
		if final || ctx.Err() != nil {
			break
		}
	}
	return nil, err
}

// probeAdvertised dials one advertised broker (the one advertised for the
// bootstrap address, else the first) and runs the handshake on it.
func (s *Sink) probeAdvertised(ctx context.Context, bootstrap string, md *metaAPI.Response) error {
	if len(md.Brokers) == 0 {
		return fmt.Errorf("kafka %s: metadata lists no brokers", bootstrap)
	}
	b := md.Brokers[0]
	for _, mb := range md.Brokers {
		if net.JoinHostPort(mb.Host, strconv.Itoa(int(mb.Port))) == bootstrap {
			return nil // the address that just answered
		}
	}
	addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	_, closer, _, _, err := s.connect(ctx, addr)
	if err != nil {
		return fmt.Errorf("kafka: bootstrap broker %s answered, but the address it advertises for broker %d, %s, does not work — fix advertised.listeners on the brokers (clients produce to the advertised addresses): %w",
			bootstrap, b.NodeID, addr, err)
	}
	closer()
	return nil
}

// connect dials addr and runs TLS, ApiVersions and SASL; final marks an error
// no other broker would avoid. The caller runs closer.
func (s *Sink) connect(ctx context.Context, addr string) (_ *protocol.Conn, closer func(), versions map[protocol.ApiKey]int16, final bool, _ error) {
	d := net.Dialer{Timeout: s.cfg.WriteTimeout.D()}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, false, fmt.Errorf("kafka %s: cannot reach the broker — check brokers and that Kafka is running: %w", addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			nc.Close()
		}
	}()
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
			return nil, nil, nil, true, fmt.Errorf("kafka %s: TLS handshake failed: %w", addr, tlsHint(err))
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
		return nil, nil, nil, false, fmt.Errorf("kafka %s: no Kafka answer — %s: %w", addr, hint, err)
	}
	av := res.(*apiversions.Response)
	if av.ErrorCode != 0 {
		return nil, nil, nil, false, fmt.Errorf("kafka %s: negotiating API versions: %w", addr, kafkago.Error(av.ErrorCode))
	}
	versions = make(map[protocol.ApiKey]int16, len(av.ApiKeys))
	for _, k := range av.ApiKeys {
		versions[protocol.ApiKey(k.ApiKey)] = protocol.ApiKey(k.ApiKey).SelectVersion(k.MinVersion, k.MaxVersion)
	}
	pc.SetVersions(versions)

	if s.tr.SASL != nil {
		if err := s.authenticate(ctx, pc); err != nil {
			return nil, nil, nil, true, fmt.Errorf("kafka %s: %w", addr, err)
		}
	}
	ok = true
	return pc, func() { nc.Close() }, versions, false, nil
}

// autoCreateChecks is how many times (200ms apart) start-up asks again for
// a topic that may be being auto-created.
const autoCreateChecks = 8

// creating reports a topic that is unknown or has no leader yet.
func creating(md *metaAPI.Response) bool {
	for _, t := range md.Topics {
		if c := kafkago.Error(t.ErrorCode); c == kafkago.UnknownTopicOrPartition || c == kafkago.LeaderNotAvailable {
			return true
		}
	}
	return false
}

// probeBroker connects to one broker and fetches the topics' metadata (with
// their authorized operations, from Metadata v8 on); final marks an error no
// other broker would avoid.
func (s *Sink) probeBroker(ctx context.Context, addr string, topics []string) (_ *probeResult, final bool, _ error) {
	pc, closer, versions, final, err := s.connect(ctx, addr)
	if err != nil {
		return nil, final, err
	}
	defer closer()
	var md *metaAPI.Response
	// A topic being auto-created reads as unknown (KRaft) or leaderless
	// for a moment: ask again a few times before calling it missing.
	for attempt := 0; ; attempt++ {
		res, err := pc.RoundTrip(&metaAPI.Request{TopicNames: topics, AllowAutoTopicCreation: len(topics) > 0, IncludeTopicAuthorizedOperations: true})
		if err != nil {
			return nil, false, fmt.Errorf("kafka %s: metadata request failed: %w", addr, err)
		}
		md = res.(*metaAPI.Response)
		if attempt == autoCreateChecks || !creating(md) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, false, fmt.Errorf("kafka %s: metadata: %w", addr, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	pr := &probeResult{md: md, metaVersion: versions[protocol.Metadata], unknown: map[string]bool{}}
	for _, t := range pr.md.Topics {
		if kafkago.Error(t.ErrorCode) != kafkago.TopicAuthorizationFailed {
			continue
		}
		// Refused: because the principal may not see the topic, or
		// because it does not exist and may not be auto-created by it?
		// Without auto-creation the brokers tell the two apart.
		res, err := pc.RoundTrip(&metaAPI.Request{TopicNames: []string{t.Name}})
		if err == nil {
			for _, t2 := range res.(*metaAPI.Response).Topics {
				if t2.Name == t.Name && kafkago.Error(t2.ErrorCode) == kafkago.UnknownTopicOrPartition {
					pr.unknown[t.Name] = true
				}
			}
		}
	}
	return pr, false, nil
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
		return pipeline.AuthFailure(fmt.Errorf("SASL authentication failed — check sasl.username and sasl.password (%s): %w", s.cfg.SASL, err))
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
// written. Authorized operations are read only when Metadata v8 or later was
// negotiated: older versions do not carry them (the field reads 0, "nothing
// allowed").
func checkTopicMeta(topic string, pr *probeResult) error {
	md := pr.md
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		switch code := kafkago.Error(t.ErrorCode); code {
		case 0:
		case kafkago.LeaderNotAvailable:
			return nil // just auto-created: leaders are being elected
		case kafkago.UnknownTopicOrPartition:
			return fmt.Errorf("kafka: topic %q does not exist — create topic %s or enable auto-create (auto.create.topics.enable) on the brokers", topic, topic)
		case kafkago.TopicAuthorizationFailed:
			return pipeline.AuthFailure(authError(topic, pr.unknown[topic], code))
		default:
			return fmt.Errorf("kafka: topic %q: %w", topic, code)
		}
		if ops := t.TopicAuthorizedOperations; pr.metaVersion >= 8 && ops != math.MinInt32 && ops&aclWrite == 0 {
			return pipeline.AuthFailure(fmt.Errorf("kafka: not authorized to write to topic %q — grant the sink's principal WRITE on it: %w", topic, kafkago.TopicAuthorizationFailed))
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("kafka: topic %q has no partitions", topic)
		}
		return nil
	}
	return fmt.Errorf("kafka: topic %q does not exist — create topic %s or enable auto-create (auto.create.topics.enable) on the brokers", topic, topic)
}
