package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/sophos-connect/sophos-connect/internal/kafkaconn"
)

// DialFunc opens a connection to a broker (tests cut a member off with it).
type DialFunc = kafkaconn.DialFunc

// conns are a member's ways to the brokers: a Client for topics, cursors
// and metadata, and the Dialer the consumer group uses.
type conns struct {
	client *kafka.Client
	dialer *kafka.Dialer
	tr     *kafka.Transport
}

func newConns(c *Config, dial, groupDial DialFunc) (*conns, error) {
	const timeout = 10 * time.Second
	tr, err := kafkaconn.Transport(c.TLS, c.SASL, c.ClientID, timeout, kafkaconn.DialFunc(dial))
	if err != nil {
		return nil, fmt.Errorf("cluster.tls: %w", err)
	}
	tr.MetadataTTL = 10 * time.Second
	return &conns{
		client: &kafka.Client{Addr: kafka.TCP(c.Brokers...), Transport: tr, Timeout: timeout},
		dialer: kafkaconn.Dialer(tr, timeout, kafkaconn.DialFunc(groupDial)),
		tr:     tr,
	}, nil
}

func (k *conns) close() { k.tr.CloseIdleConnections() }

// ensureTopics creates the coordination topic (partitions as configured) and
// the compacted checkpoint topic (one partition) when they are missing, and
// checks that an existing coordination topic has the configured partition
// count: members that disagree on it would map tenants differently.
func ensureTopics(ctx context.Context, k *conns, c *Config) error {
	md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.CoordinationTopic, c.CheckpointTopic}})
	if err != nil {
		return fmt.Errorf("cluster: cannot reach the brokers %v (check cluster.brokers, tls and sasl): %w", c.Brokers, err)
	}
	have := map[string]int{}
	for _, t := range md.Topics {
		if t.Error == nil {
			have[t.Name] = len(t.Partitions)
		}
	}
	var create []kafka.TopicConfig
	if _, ok := have[c.CoordinationTopic]; !ok {
		create = append(create, kafka.TopicConfig{Topic: c.CoordinationTopic, NumPartitions: c.Partitions, ReplicationFactor: c.ReplicationFactor})
	}
	if _, ok := have[c.CheckpointTopic]; !ok {
		create = append(create, kafka.TopicConfig{Topic: c.CheckpointTopic, NumPartitions: 1, ReplicationFactor: c.ReplicationFactor,
			ConfigEntries: []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}})
	}
	if len(create) > 0 {
		resp, err := k.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: create})
		if err != nil {
			return fmt.Errorf("cluster: create topics: %w", err)
		}
		for name, err := range resp.Errors {
			if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
				return fmt.Errorf("cluster: create topic %s: %w (create it yourself, or grant this client CREATE on the cluster)", name, err)
			}
		}
		// Another member may have created it first with its own settings:
		// read the counts again.
		return checkPartitions(ctx, k, c)
	}
	if n := have[c.CoordinationTopic]; n != c.Partitions {
		return partitionsMismatch(c, n)
	}
	return nil
}

func checkPartitions(ctx context.Context, k *conns, c *Config) error {
	for attempt := 0; ; attempt++ {
		md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{c.CoordinationTopic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			if n := len(md.Topics[0].Partitions); n != c.Partitions {
				return partitionsMismatch(c, n)
			}
			return nil
		}
		if attempt == 20 || ctx.Err() != nil {
			if err == nil && len(md.Topics) == 1 {
				err = md.Topics[0].Error
			}
			return fmt.Errorf("cluster: topic %s is not visible after creating it: %v", c.CoordinationTopic, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func partitionsMismatch(c *Config, n int) error {
	return fmt.Errorf("cluster: topic %s has %d partitions but cluster.partitions is %d: every member must use the topic's count (set partitions: %d), or pick a new coordination_topic", c.CoordinationTopic, n, c.Partitions, n)
}
