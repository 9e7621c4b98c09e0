package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	kafka "github.com/segmentio/kafka-go"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Store keeps the cursors of the tenants a member owns in the compacted
// checkpoint topic (one partition): key "<tenant>/<stream>", value the JSON
// of the checkpoint plus who wrote it. It is the runner's Checkpointer in
// distributed mode: Set marks a delivered page's cursor, Flush produces the
// changed ones with acks from every in-sync replica.
type Store struct {
	client  *kafka.Client
	topic   string
	member  string
	gen     int
	timeout time.Duration

	mu      sync.Mutex
	cps     map[string]pipeline.Checkpoint
	durable map[string]pipeline.Checkpoint // as Kafka has them
	dirty   map[string]bool

	writeMu sync.Mutex
	writes  int
}

// storedCheckpoint is the value in the topic.
type storedCheckpoint struct {
	pipeline.Checkpoint
	Member     string `json:"member,omitempty"`     // the member that committed it (for operators)
	Generation int    `json:"generation,omitempty"` // the group generation it was committed in
}

// loadStore reads the checkpoint topic from its start to its end and keeps
// the newest value of every key whose tenant owns says is this member's.
func loadStore(ctx context.Context, client *kafka.Client, topic, member string, gen int, timeout time.Duration, owns func(tenant string) bool) (*Store, error) {
	cps, err := readCheckpoints(ctx, client, topic, owns)
	if err != nil {
		return nil, err
	}
	durable := make(map[string]pipeline.Checkpoint, len(cps))
	for k, v := range cps {
		durable[k] = v
	}
	return &Store{client: client, topic: topic, member: member, gen: gen, timeout: timeout,
		cps: cps, durable: durable, dirty: map[string]bool{}}, nil
}

// readCheckpoints reads the topic to its end: the newest value of every key
// of the tenants owns accepts (a tombstone removes the key).
func readCheckpoints(ctx context.Context, client *kafka.Client, topic string, owns func(tenant string) bool) (map[string]pipeline.Checkpoint, error) {
	cps := map[string]pipeline.Checkpoint{}
	lo, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		topic: {kafka.FirstOffsetOf(0), kafka.LastOffsetOf(0)}}})
	if err != nil {
		return nil, fmt.Errorf("cluster: read the checkpoint topic %s: %w", topic, err)
	}
	var first, end int64 = -1, -1
	for _, p := range lo.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("cluster: read the checkpoint topic %s: %w", topic, p.Error)
		}
		if p.Partition == 0 {
			first, end = p.FirstOffset, p.LastOffset
		}
	}
	if first < 0 || end < 0 {
		return nil, fmt.Errorf("cluster: checkpoint topic %s has no partition 0", topic)
	}
	for off := first; off < end; {
		resp, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: topic, Partition: 0, Offset: off, MaxBytes: 4 << 20, MaxWait: 500 * time.Millisecond})
		if err != nil {
			return nil, fmt.Errorf("cluster: read the checkpoint topic %s at offset %d: %w", topic, off, err)
		}
		if resp.Error != nil {
			return nil, fmt.Errorf("cluster: read the checkpoint topic %s at offset %d: %w", topic, off, resp.Error)
		}
		before := off
		for {
			rec, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("cluster: read the checkpoint topic %s at offset %d: %w", topic, off, err)
			}
			off = rec.Offset + 1
			key, err := readAll(rec.Key)
			if err != nil {
				return nil, err
			}
			tenant, _, ok := strings.Cut(string(key), "/")
			if !ok || !owns(tenant) {
				continue
			}
			val, err := readAll(rec.Value)
			if err != nil {
				return nil, err
			}
			if val == nil { // a tombstone: the checkpoint was reset
				delete(cps, string(key))
				continue
			}
			var sc storedCheckpoint
			if err := json.Unmarshal(val, &sc); err != nil {
				return nil, fmt.Errorf("cluster: checkpoint topic %s offset %d (key %s) is not a checkpoint (%v): is another program writing to this topic?", topic, rec.Offset, key, err)
			}
			cps[string(key)] = sc.Checkpoint
		}
		if off == before {
			if resp.HighWatermark <= off {
				break // compaction removed the tail's records
			}
			return nil, fmt.Errorf("cluster: checkpoint topic %s: no records at offset %d below the end %d", topic, off, resp.HighWatermark)
		}
	}
	return cps, nil
}

func readAll(b kafka.Bytes) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	defer b.Close()
	out := make([]byte, b.Len())
	if _, err := io.ReadFull(b, out); err != nil {
		return nil, fmt.Errorf("cluster: read a checkpoint record: %w", err)
	}
	return out, nil
}

// Get returns the partition's cursor.
func (s *Store) Get(key string) (pipeline.Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cps[key]
	return c, ok
}

// All returns a copy of the member's cursors.
func (s *Store) All() map[string]pipeline.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]pipeline.Checkpoint, len(s.cps))
	for k, v := range s.cps {
		out[k] = v
	}
	return out
}

// DurableGet is the cursor as the checkpoint topic has it.
func (s *Store) DurableGet(key string) (pipeline.Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.durable[key]
	return c, ok
}

// Durable returns the cursors as the checkpoint topic has them.
func (s *Store) Durable() map[string]pipeline.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]pipeline.Checkpoint, len(s.durable))
	for k, v := range s.durable {
		out[k] = v
	}
	return out
}

// Set records a delivered page's cursor in memory; Flush sends it.
func (s *Store) Set(key string, c pipeline.Checkpoint) {
	s.mu.Lock()
	s.cps[key] = c
	s.dirty[key] = true
	s.mu.Unlock()
}

// Flush produces every cursor set since the last Flush, acknowledged by all
// in-sync replicas. On failure they stay pending and the runner keeps their
// pages in flight (so pulling stops after max_inflight_pages pages) and
// retries the commit with backoff, exactly as with a failing state disk.
func (s *Store) Flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if len(s.dirty) == 0 {
		s.mu.Unlock()
		return nil
	}
	keys := make([]string, 0, len(s.dirty))
	vals := make([]pipeline.Checkpoint, 0, len(s.dirty))
	recs := make([]kafka.Record, 0, len(s.dirty))
	now := time.Now()
	for k := range s.dirty {
		v, err := json.Marshal(storedCheckpoint{Checkpoint: s.cps[k], Member: s.member, Generation: s.gen})
		if err != nil {
			s.mu.Unlock()
			return err
		}
		keys = append(keys, k)
		vals = append(vals, s.cps[k])
		recs = append(recs, kafka.Record{Time: now, Key: kafka.NewBytes([]byte(k)), Value: kafka.NewBytes(v)})
	}
	s.dirty = map[string]bool{}
	s.mu.Unlock()

	if err := s.produce(recs); err != nil {
		s.mu.Lock()
		for _, k := range keys {
			s.dirty[k] = true
		}
		s.mu.Unlock()
		return fmt.Errorf("cluster: commit %d checkpoint(s) to %s: %w (the pages stay uncommitted: retried at the next commit)", len(keys), s.topic, err)
	}
	s.mu.Lock()
	for i, k := range keys {
		s.durable[k] = vals[i]
	}
	s.mu.Unlock()
	s.writes++
	return nil
}

func (s *Store) produce(recs []kafka.Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	resp, err := s.client.Produce(ctx, &kafka.ProduceRequest{
		Topic: s.topic, Partition: 0, RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(recs...),
	})
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	for _, e := range resp.RecordErrors {
		return e
	}
	return nil
}

// Writes counts successful Flushes that sent something (tests).
func (s *Store) Writes() int {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.writes
}
