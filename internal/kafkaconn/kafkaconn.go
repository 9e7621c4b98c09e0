// Package kafkaconn is how sophos-connect connects to Kafka, shared by the
// kafka sink (sinks/kafka) and the distributed mode (cluster): the sasl
// block (plain, SCRAM-SHA-256/512) with its checks and its password-free
// printing, and the kafka-go Transport and Dialer that dial with TLS and
// SASL. Neither user imports the other.
package kafkaconn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"

	"github.com/sophos-connect/sophos-connect/config"
)

// SASL is the authentication block.
type SASL struct {
	Mechanism string `yaml:"mechanism"` // plain | scram-sha-256 | scram-sha-512; "" = off
	// Username is the SASL user.
	Username string `yaml:"username"`
	// Password is the SASL password (write ${VAR} to read it from the environment).
	Password config.Secret `yaml:"password"`
}

// Mechanisms lists the accepted sasl mechanisms.
var Mechanisms = []string{"plain", "scram-sha-256", "scram-sha-512"}

// Problems lists what is wrong with s as (key, message) pairs, keys relative
// to the sasl block ("mechanism", "username", "password").
func (s SASL) Problems() [][2]string {
	var out [][2]string
	switch mech := strings.ToLower(s.Mechanism); {
	case mech == "":
		if s.Username != "" || s.Password != "" {
			out = append(out, [2]string{"mechanism", fmt.Sprintf("missing: username/password are set but no mechanism: use one of %s", strings.Join(Mechanisms, ", "))})
		}
	case !slices.Contains(Mechanisms, mech):
		out = append(out, [2]string{"mechanism", fmt.Sprintf("%q: use one of %s", s.Mechanism, strings.Join(Mechanisms, ", "))})
	default:
		if s.Username == "" {
			out = append(out, [2]string{"username", "missing: required by sasl mechanism " + mech})
		}
		if s.Password == "" {
			out = append(out, [2]string{"password", "missing: required by sasl mechanism " + mech + " (use ${VAR} to read it from the environment)"})
		}
	}
	return out
}

// Client returns the kafka-go SASL client of s, or nil when SASL is off.
// It prints without the password.
func (s SASL) Client() sasl.Mechanism {
	switch m := strings.ToLower(s.Mechanism); m {
	case "plain":
		return plainMechanism{plain.Mechanism{Username: s.Username, Password: s.Password.Value()}}
	case "scram-sha-256", "scram-sha-512":
		return newScram(m, s.Username, s.Password.Value())
	}
	return nil
}

// String shows the mechanism and user, never the password.
func (s SASL) String() string {
	if s.Mechanism == "" {
		return "off"
	}
	return strings.ToLower(s.Mechanism) + " as " + s.Username
}

// LogValue keeps the password out of structured logs.
func (s SASL) LogValue() slog.Value { return slog.StringValue(s.String()) }

// plainMechanism is kafka-go's PLAIN that prints without its password.
type plainMechanism struct{ plain.Mechanism }

func (m plainMechanism) String() string   { return "PLAIN as " + m.Username }
func (m plainMechanism) GoString() string { return m.String() }

// DialFunc opens a connection to a broker.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Transport is a kafka-go Transport that dials with dial (a plain TCP
// dialer when nil), TLS when t is set, SASL s, sends clientID and closes
// connections idle for a minute; timeout bounds a dial. The caller sets
// what is its own (MetadataTTL, MetadataTopics). The error is t's.
func Transport(t *config.TLS, s SASL, clientID string, timeout time.Duration, dial DialFunc) (*kafka.Transport, error) {
	if dial == nil {
		dial = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	}
	tr := &kafka.Transport{Dial: dial, DialTimeout: timeout, IdleTimeout: time.Minute, ClientID: clientID}
	if t != nil {
		tc, err := t.Config()
		if err != nil {
			return nil, err
		}
		tr.TLS = tc
	}
	tr.SASL = s.Client()
	return tr, nil
}

// Dialer is the kafka-go Dialer (consumer groups) with tr's TLS, SASL and
// client id, dialing with dial (tr's when nil).
func Dialer(tr *kafka.Transport, timeout time.Duration, dial DialFunc) *kafka.Dialer {
	if dial == nil {
		dial = tr.Dial
	}
	return &kafka.Dialer{Timeout: timeout, ClientID: tr.ClientID, DialFunc: dial, TLS: tr.TLS, SASLMechanism: tr.SASL}
}
