package kafka

import (
	"math"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	metaAPI "github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// TestAuthorizedOpsNeedMetadataV8: below Metadata v8 the response has no
// authorized operations (the field reads 0): not a refusal. From v8 on a
// missing WRITE bit is (the real-broker case is TestRealKafkaNoWrite).
func TestAuthorizedOpsNeedMetadataV8(t *testing.T) {
	md := &metaAPI.Response{Topics: []metaAPI.ResponseTopic{{Name: "t", Partitions: []metaAPI.ResponsePartition{{}}}}}
	if err := checkTopicMeta("t", &probeResult{md: md, metaVersion: 7}); err != nil {
		t.Fatalf("v7, no operations: %v", err)
	}
	if err := checkTopicMeta("t", &probeResult{md: md, metaVersion: 8}); err == nil || !strings.Contains(err.Error(), "grant the sink's principal WRITE") {
		t.Fatalf("v8, no WRITE: %v", err)
	}
	md.Topics[0].TopicAuthorizedOperations = math.MinInt32 // not requested
	if err := checkTopicMeta("t", &probeResult{md: md, metaVersion: 8}); err != nil {
		t.Fatalf("v8, operations not reported: %v", err)
	}
	md.Topics[0].ErrorCode = int16(kafkago.TopicAuthorizationFailed)
	err := checkTopicMeta("t", &probeResult{md: md, metaVersion: 8, unknown: map[string]bool{"t": true}})
	if err == nil || !strings.Contains(err.Error(), "may not create it — grant it CREATE") {
		t.Fatalf("refused and unknown: %v", err)
	}
}

// TestBrokerTimeout: the broker gets 80% of write_timeout to answer.
func TestBrokerTimeout(t *testing.T) {
	for wt, want := range map[time.Duration]int32{10 * time.Second: 8000, 100 * time.Millisecond: 80, time.Minute: 48000} {
		if got := brokerTimeout(wt); got != want {
			t.Errorf("brokerTimeout(%s) = %d, want %d", wt, got, want)
		}
	}
}

// TestTopicMissingClock: retriable until the timeout, then permanent; a
// topic not written for long starts a new count.
func TestTopicMissingClock(t *testing.T) {
	s := &Sink{cfg: DefaultConfig(), missing: map[string]missingTopic{}}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := s.topicMissing("x", t0); err == nil || isPermanent(err) {
		t.Fatalf("first sight: %v", err)
	}
	if err := s.topicMissing("x", t0.Add(4*time.Minute)); isPermanent(err) {
		t.Fatalf("after 4m: %v", err)
	}
	err := s.topicMissing("x", t0.Add(5*time.Minute))
	if !isPermanent(err) || !strings.Contains(err.Error(), "create topic x or enable auto-create") {
		t.Fatalf("after 5m: %v", err)
	}
	if err := s.topicMissing("x", t0.Add(30*time.Minute)); isPermanent(err) {
		t.Fatalf("after a 25m gap the count starts again: %v", err)
	}
}

func isPermanent(err error) bool { return err != nil && pipeline.IsPermanent(err) }
