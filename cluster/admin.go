package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Checkpoints reads the cluster's committed cursors (`state show`). A
// cluster that never ran has none.
func Checkpoints(ctx context.Context, cfg *Config) (map[string]pipeline.Checkpoint, error) {
	k, err := newConns(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	defer k.close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ok, err := topicExists(ctx, k, cfg.CheckpointTopic); err != nil || !ok {
		return map[string]pipeline.Checkpoint{}, err
	}
	return readCheckpoints(ctx, k.client, cfg.CheckpointTopic, func(string) bool { return true })
}

// ResetCheckpoints removes the cursors match selects by writing tombstones
// (`state reset`). It refuses while the group has members: a running owner
// keeps its cursors in memory and would commit them again.
func ResetCheckpoints(ctx context.Context, cfg *Config, match func(key string) bool) (int, error) {
	k, err := newConns(cfg, nil, nil)
	if err != nil {
		return 0, err
	}
	defer k.close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if ok, err := topicExists(ctx, k, cfg.CheckpointTopic); err != nil || !ok {
		return 0, err
	}
	dg, err := k.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{cfg.Group}})
	if err != nil {
		return 0, fmt.Errorf("cluster: describe group %s: %w", cfg.Group, err)
	}
	for _, g := range dg.Groups {
		if g.Error != nil && !errors.Is(g.Error, kafka.GroupIdNotFound) {
			return 0, fmt.Errorf("cluster: describe group %s: %w", cfg.Group, g.Error)
		}
		if len(g.Members) > 0 {
			return 0, fmt.Errorf("cluster: group %s has %d running member(s): stop every member first (a running member would commit its cursors again)", cfg.Group, len(g.Members))
		}
	}
	all, err := readCheckpoints(ctx, k.client, cfg.CheckpointTopic, func(string) bool { return true })
	if err != nil {
		return 0, err
	}
	var recs []kafka.Record
	for key := range all {
		if match(key) {
			recs = append(recs, kafka.Record{Key: kafka.NewBytes([]byte(key))})
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	resp, err := k.client.Produce(ctx, &kafka.ProduceRequest{Topic: cfg.CheckpointTopic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...)})
	if err == nil {
		err = resp.Error
	}
	if err != nil {
		return 0, fmt.Errorf("cluster: reset checkpoints in %s: %w", cfg.CheckpointTopic, err)
	}
	return len(recs), nil
}

func topicExists(ctx context.Context, k *conns, topic string) (bool, error) {
	md, err := k.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, fmt.Errorf("cluster: cannot reach the brokers (check cluster.brokers, tls and sasl): %w", err)
	}
	for _, t := range md.Topics {
		if t.Name == topic && t.Error == nil {
			return true, nil
		}
	}
	return false, nil
}
