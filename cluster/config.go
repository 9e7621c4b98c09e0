// Package cluster is the distributed mode: several collectors with the same
// config share the tenants through a Kafka consumer group (kafka-go's
// ConsumerGroup) on a coordination topic, and keep their cursors in a
// compacted Kafka topic instead of the local checkpoint file.
package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/internal/kafkaconn"
)

// Config is the cluster block.
type Config struct {
	// Brokers are the bootstrap brokers, host:port (required).
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group every member joins, e.g. sophos-connect-prod (required).
	Group string `yaml:"group"`
	// Partitions is the coordination topic's partition count: the unit of assignment (default 64).
	Partitions int `yaml:"partitions"`
	// CoordinationTopic carries no data; members are assigned its partitions (default <group>-coordination).
	CoordinationTopic string `yaml:"coordination_topic"`
	// CheckpointTopic is the compacted topic of cursors, keyed tenant/stream (default <group>-checkpoints).
	CheckpointTopic string `yaml:"checkpoint_topic"`
	// ReplicationFactor of the two topics when the collector creates them (default -1: the brokers' default.replication.factor).
	ReplicationFactor int `yaml:"replication_factor"`
	// SessionTimeout is how long the group waits for a silent member before its tenants move (default 30s).
	SessionTimeout config.Duration `yaml:"session_timeout"`
	// HeartbeatInterval is how often a member tells the group it is alive (default 3s).
	HeartbeatInterval config.Duration `yaml:"heartbeat_interval"`
	// RebalanceTimeout is how long the group waits for members to drain and rejoin in a rebalance (default 30s).
	RebalanceTimeout config.Duration `yaml:"rebalance_timeout"`
	// TLS, when present (even empty), connects with TLS (as the Kafka sink's tls).
	TLS *config.TLS `yaml:"tls"`
	// SASL authenticates when mechanism is set (as the Kafka sink's sasl).
	SASL kafkaconn.SASL `yaml:"sasl"`
	// ClientID is sent to the brokers (default sophos-connect).
	ClientID string `yaml:"client_id"`
}

// Defaults.
const (
	DefaultPartitions        = 64
	DefaultSessionTimeout    = 30 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
	DefaultRebalanceTimeout  = 30 * time.Second
)

// Default is the block's defaults (the topics default from the group).
func Default() Config {
	return Config{
		Partitions:        DefaultPartitions,
		ReplicationFactor: -1,
		SessionTimeout:    config.Duration(DefaultSessionTimeout),
		HeartbeatInterval: config.Duration(DefaultHeartbeatInterval),
		RebalanceTimeout:  config.Duration(DefaultRebalanceTimeout),
		ClientID:          "sophos-connect",
	}
}

// Parse decodes the cluster block strictly, applies the defaults and
// validates it. A nil section is "no cluster": (nil, nil).
func Parse(s *config.Section) (*Config, error) {
	if s == nil || s.Node == nil {
		return nil, nil
	}
	c := Default()
	if err := config.DecodeStrict(s.Node, &c, "cluster"); err != nil {
		return nil, err
	}
	if c.CoordinationTopic == "" && c.Group != "" {
		c.CoordinationTopic = c.Group + "-coordination"
	}
	if c.CheckpointTopic == "" && c.Group != "" {
		c.CheckpointTopic = c.Group + "-checkpoints"
	}
	if err := c.validate(s.Node); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) validate(n *yaml.Node) error {
	var errs config.Errors
	add := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Line: lineOf(n, key), Key: "cluster." + key, Msg: fmt.Sprintf(format, a...)})
	}
	if len(c.Brokers) == 0 {
		add("brokers", "missing: list the bootstrap brokers as host:port, e.g. [kafka1.example:9092]")
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		p, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			add(fmt.Sprintf("brokers[%d]", i), "%q is not host:port (e.g. kafka1.example:9092)", b)
		}
	}
	if c.Group == "" {
		add("group", "missing: name the consumer group every member of this cluster joins, e.g. sophos-connect-prod")
	}
	for _, t := range []struct{ key, v string }{{"group", c.Group}, {"coordination_topic", c.CoordinationTopic}, {"checkpoint_topic", c.CheckpointTopic}} {
		if t.v != "" && !legalName(t.v) {
			add(t.key, "%q: use letters, digits, '.', '_' and '-' only, at most 249 characters (it names Kafka topics)", t.v)
		}
	}
	if c.CoordinationTopic != "" && c.CoordinationTopic == c.CheckpointTopic {
		add("checkpoint_topic", "%q is also the coordination_topic: the two must differ", c.CheckpointTopic)
	}
	if c.Partitions < 1 || c.Partitions > 10000 {
		add("partitions", "%d: must be between 1 and 10000 (more partitions than members spreads tenants evenly; the default is 64)", c.Partitions)
	}
	if c.ReplicationFactor == 0 || c.ReplicationFactor < -1 {
		add("replication_factor", "%d: use -1 (the brokers' default) or a replica count", c.ReplicationFactor)
	}
	if c.HeartbeatInterval.D() < 100*time.Millisecond {
		add("heartbeat_interval", "%s: must be at least 100ms", c.HeartbeatInterval)
	}
	if c.SessionTimeout.D() < 3*c.HeartbeatInterval.D() {
		add("session_timeout", "%s: must be at least three heartbeat_intervals (%s), or one late heartbeat expels a live member", c.SessionTimeout, 3*c.HeartbeatInterval.D())
	}
	if c.RebalanceTimeout.D() < time.Second {
		add("rebalance_timeout", "%s: must be at least 1s: a member drains its in-flight pages within it", c.RebalanceTimeout)
	}
	if c.TLS != nil {
		if fe := c.TLS.Problem(); fe != nil {
			add("tls."+fe.Key, "%s", fe.Msg)
		}
	}
	for _, p := range c.SASL.Problems() {
		add("sasl."+p[0], "%s", p[1])
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// lineOf is the line of key ("brokers[1]", "sasl.password") in the block,
// else of its nearest parent, else of the block.
func lineOf(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	line := n.Line
	for _, part := range strings.Split(key, ".") {
		name, idx, _ := strings.Cut(part, "[")
		var next *yaml.Node
		for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == name {
				line, next = n.Content[i].Line, n.Content[i+1]
			}
		}
		if next == nil {
			return line
		}
		if i, err := strconv.Atoi(strings.TrimSuffix(idx, "]")); err == nil && next.Kind == yaml.SequenceNode && i < len(next.Content) {
			line, next = next.Content[i].Line, next.Content[i]
		}
		n = next
	}
	return line
}

func legalName(s string) bool {
	if len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// DrainTimeout is how long a member that loses tenants may take to deliver
// their in-flight pages: half the rebalance timeout. The last commit (at
// most a quarter) follows, and the member learns of the rebalance up to a
// heartbeat late, so all of it fits before the group gives up on the member.
func (c *Config) DrainTimeout() time.Duration { return c.RebalanceTimeout.D() / 2 }

// Describe is the cluster line of `validate` (no secrets).
func (c *Config) Describe() string {
	tls := "off"
	if c.TLS != nil {
		tls = "on"
	}
	return fmt.Sprintf("cluster: group %s on %s, %d partitions (topic %s), checkpoints in %s, session_timeout %s, heartbeat_interval %s, rebalance_timeout %s, tls %s, sasl %s",
		c.Group, strings.Join(c.Brokers, ","), c.Partitions, c.CoordinationTopic, c.CheckpointTopic,
		c.SessionTimeout, c.HeartbeatInterval, c.RebalanceTimeout, tls, c.SASL)
}
