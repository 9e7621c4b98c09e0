package kafka

import (
	"fmt"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// The distributed mode (package cluster) connects to Kafka with the same
// tls and sasl blocks as this sink; these two functions are what it shares.

// Client returns the kafka-go SASL client of s, or nil when SASL is off.
func (s SASL) Client() sasl.Mechanism { return mechanism(s) }

// Problems lists what is wrong with s as (key, message) pairs, keys relative
// to the sasl block ("mechanism", "username", "password").
func (s SASL) Problems() [][2]string {
	var out [][2]string
	switch mech := strings.ToLower(s.Mechanism); {
	case mech == "":
		if s.Username != "" || s.Password != "" {
			out = append(out, [2]string{"mechanism", fmt.Sprintf("missing: username/password are set but no mechanism: use one of %s", strings.Join(Mechanisms, ", "))})
		}
	case !contains(Mechanisms, mech):
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
