package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// bigRecord returns a valid record whose raw item is about size bytes.
func bigRecord(t *testing.T, id string, size int) *pipeline.Record {
	t.Helper()
	raw := `{"id":"` + id + `","type":"Event::Endpoint::Big","name":"` + strings.Repeat("x", size) + `"}`
	r, err := pipeline.NewRecord(pipeline.Events, "t1", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func asBatchError(t *testing.T, err error) *pipeline.BatchError {
	t.Helper()
	var be *pipeline.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Write: %v, want a *pipeline.BatchError", err)
	}
	return be
}

// TestRecordLargerThanBatchBytes: a record over batch_bytes is rejected for
// good without being sent; the rest of the batch is delivered.
func TestRecordLargerThanBatchBytes(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "big"))
	cfg := testConfig(c, "big")
	s := newStarted(t, cfg)
	recs := makeRecords(t, 50, []string{"t1"}, 2)
	recs = append(recs[:10], append([]*pipeline.Record{bigRecord(t, "huge", 1_100_000)}, recs[10:]...)...)
	be := asBatchError(t, s.Write(context.Background(), recs))
	if len(be.Items) != 1 || be.Items[0].Index != 10 || !pipeline.IsPermanent(be.Items[0].Err) ||
		!strings.Contains(be.Items[0].Err.Error(), "more than batch_bytes") {
		t.Fatalf("Write: %+v, want only index 10 rejected for good", be.Items)
	}
	msgs := readTopic(t, cfg.Brokers, cfg.Topic)
	checkDelivered(t, s, append(recs[:10:10], recs[11:]...), msgs, 2)
}

// TestBrokerRefusesLargeBatch: when the broker's message.max.bytes is below
// batch_bytes, refused batches are split and resent within the Write; a
// single record the broker still refuses is rejected for good.
func TestBrokerRefusesLargeBatch(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "small"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": "20000"}))
	cfg := testConfig(c, "small")
	cfg.Compression = "none" // sizes as the broker sees them
	s := newStarted(t, cfg)
	recs := makeRecords(t, 300, []string{"t1"}, 4)
	recs = append(recs, bigRecord(t, "too-big-for-broker", 30_000))
	be := asBatchError(t, s.Write(context.Background(), recs))
	if len(be.Items) != 1 || be.Items[0].Index != 300 || !pipeline.IsPermanent(be.Items[0].Err) {
		t.Fatalf("Write: %+v, want only the big record rejected for good", be.Items)
	}
	t.Logf("rejected: %v", be.Items[0].Err)
	checkDelivered(t, s, recs[:300], readTopic(t, cfg.Brokers, cfg.Topic), 2)
}

// TestMissingTemplatedTopic: records whose expanded topic does not exist
// (auto-creation off) fail with a retriable, explicit error; the others are
// delivered.
func TestMissingTemplatedTopic(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "soc-tenant-a-alert", "soc-tenant-a-event"))
	cfg := testConfig(c, "soc-${tenant}-${stream}")
	s := newStarted(t, cfg)
	recs := makeRecords(t, 100, []string{"tenant-a", "tenant-b"}, 6)
	be := asBatchError(t, s.Write(context.Background(), recs))
	var delivered []*pipeline.Record
	failed := map[int]error{}
	for _, it := range be.Items {
		failed[it.Index] = it.Err
	}
	for i, r := range recs {
		err, bad := failed[i]
		switch {
		case r.Tenant == "tenant-a" && bad:
			t.Fatalf("record %d of tenant-a failed: %v", i, err)
		case r.Tenant == "tenant-b" && !bad:
			t.Fatalf("record %d of tenant-b was not reported", i)
		case bad && (pipeline.IsPermanent(err) || !strings.Contains(err.Error(), `topic "soc-tenant-b-`+string(r.Stream)+`" does not exist — create topic soc-tenant-b-`+string(r.Stream)+` or enable auto-create`)):
			t.Fatalf("record %d: %v, want a retriable missing-topic error", i, err)
		case !bad:
			delivered = append(delivered, r)
		}
	}
	var msgs []readMsg
	for _, topic := range []string{"soc-tenant-a-alert", "soc-tenant-a-event"} {
		msgs = append(msgs, readTopic(t, cfg.Brokers, topic)...)
	}
	checkDelivered(t, s, delivered, msgs, 2)
}

// TestUnencodableRecord: a record the encoder rejects is dead-lettered, the
// rest delivered.
func TestUnencodableRecord(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "enc"))
	cfg := testConfig(c, "enc")
	s := newStarted(t, cfg)
	recs := makeRecords(t, 10, []string{"t1"}, 8)
	broken := *recs[3]
	broken.ID, broken.Raw = "broken", []byte(`{"id":"broken",`)
	recs[3] = &broken
	be := asBatchError(t, s.Write(context.Background(), recs))
	if len(be.Items) != 1 || be.Items[0].Index != 3 || !pipeline.IsPermanent(be.Items[0].Err) {
		t.Fatalf("Write: %+v, want only index 3 rejected for good", be.Items)
	}
	checkDelivered(t, s, append(recs[:3:3], recs[4:]...), readTopic(t, cfg.Brokers, cfg.Topic), 1)
}

// TestWriteCancelled: a cancelled Write fails the whole batch with a
// retriable error and leaves the sink usable.
func TestWriteCancelled(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(2, "cancel"))
	cfg := testConfig(c, "cancel")
	s := newStarted(t, cfg)
	recs := makeRecords(t, 300, []string{"t1"}, 12)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Write(ctx, recs[:100])
	if err == nil || pipeline.IsPermanent(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Write: %v, want a retriable context error", err)
	}
	writeAll(t, s, recs, 100)
	checkDelivered(t, s, recs, readTopic(t, cfg.Brokers, cfg.Topic), 2)
}
