package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestStartMissingTopic: a fixed topic that does not exist, on brokers that
// do not auto-create, stops start-up with the fix.
func TestStartMissingTopic(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "other"))
	err := startErr(t, testConfig(c, "sophos-events"))
	want := `topic "sophos-events" does not exist — create topic sophos-events or enable auto-create`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Start: %v, want %q", err, want)
	}
}

// TestStartAutoCreatesTopic: brokers that auto-create make the topic at
// start, and records then land in it.
func TestStartAutoCreatesTopic(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(2))
	cfg := testConfig(c, "created-at-start")
	s := newStarted(t, cfg)
	recs := makeRecords(t, 100, []string{"t1"}, 5)
	writeAll(t, s, recs, 100)
	checkDelivered(t, s, recs, readTopic(t, cfg.Brokers, cfg.Topic), 2)
}

// TestStartTemplatedTopic only needs reachable brokers: the topics of
// tenants not seen yet cannot be checked.
func TestStartTemplatedTopic(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1))
	if err := startErr(t, testConfig(c, "sophos-${tenant}")); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

// TestStartUnreachable names the brokers and the fix; the second, live
// bootstrap broker is used when the first is down.
func TestStartUnreachable(t *testing.T) {
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := DefaultConfig()
	cfg.Brokers, cfg.Topic = []string{dead}, "x"
	err := startErr(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the broker — check brokers and that Kafka is running") {
		t.Fatalf("Start: %v", err)
	}
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "x"))
	cfg.Brokers = append(cfg.Brokers, c.ListenAddrs()...)
	if err := startErr(t, cfg); err != nil {
		t.Fatalf("Start with one live broker: %v", err)
	}
}

// TestAuthorization: a principal that may not see the topic, or may see but
// not write it, fails at start; at Write time an authorization refusal is
// permanent for every record (the pipeline dead-letters them, no retry loop).
func TestAuthorization(t *testing.T) {
	acl := func(op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "guarded", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "guarded"), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin"),
		kfake.User("SCRAM-SHA-256", "stranger", "pw"),
		kfake.User("SCRAM-SHA-256", "reader", "pw", acl(kmsg.ACLOperationDescribe), acl(kmsg.ACLOperationRead)),
		kfake.User("SCRAM-SHA-256", "writer", "pw", acl(kmsg.ACLOperationDescribe), acl(kmsg.ACLOperationWrite)))
	cfgFor := func(user string) Config {
		cfg := testConfig(c, "guarded")
		cfg.SASL = SASL{Mechanism: "scram-sha-256", Username: user, Password: "pw"}
		return cfg
	}
	for user, want := range map[string]string{
		"stranger": `not authorized to write to topic "guarded" — grant the sink's principal WRITE and DESCRIBE`,
		"reader":   `not authorized to write to topic "guarded" — grant the sink's principal WRITE`,
	} {
		err := startErr(t, cfgFor(user))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start as %s: %v, want %q", user, err, want)
		}
	}
	newStarted(t, cfgFor("writer"))

	// Write as reader without Start: the broker refuses every record.
	s, err := New("bus", cfgFor("reader"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := makeRecords(t, 20, []string{"t1"}, 1)
	err = s.Write(context.Background(), recs)
	be, ok := err.(*pipeline.BatchError)
	if !ok || len(be.Items) != len(recs) {
		t.Fatalf("Write as reader: %v, want a BatchError for all %d records", err, len(recs))
	}
	for _, it := range be.Items {
		if !pipeline.IsPermanent(it.Err) || !strings.Contains(it.Err.Error(), "not authorized to write") {
			t.Fatalf("record %d: %v, want a permanent authorization error", it.Index, it.Err)
		}
	}
}

// TestStartContextDeadline: Start honours its context.
func TestStartContextDeadline(t *testing.T) {
	c := startCluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "x"))
	s, err := New("bus", testConfig(c, "x"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	if err := s.Start(ctx); err == nil {
		t.Fatal("Start with an expired context succeeded")
	}
}
