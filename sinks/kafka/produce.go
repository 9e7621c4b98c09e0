package kafka

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	metaAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Why not kafka.Writer: its per-partition batches wait for BatchTimeout (or a
// full BatchSize) across calls, it retries on its own (MaxAttempts), and its
// produce requests do not honour the caller's context. Write instead builds
// one record batch per partition from exactly the pipeline's batch, sends one
// produce request per leader broker (several partitions each) through
// kafka-go's Transport (pooled, TLS/SASL, cached metadata), and maps each
// partition's result back to the batch indexes. Against kfake it delivered
// more records per CPU-second than a Writer tuned for the same batches
// (BatchSize 1000, BatchTimeout 1ms) and none of its occasional stalls; see
// bench_test.go.

// Header names set on every message.
var headerKeys = [...]string{"stream", "tenant", "type", "id"}

const (
	// recordOverhead bounds a record's framing in a v2 batch: length,
	// attributes, deltas and lengths (about 20 bytes) plus the header keys
	// (18 bytes).
	recordOverhead = 48
	// batchOverhead is the v2 record batch header.
	batchOverhead = 61
	// maxRequestBytes bounds one produce request (brokers accept 100 MB).
	maxRequestBytes = 16 << 20
	// minRequestBytes is the smallest share a broker's records are cut to
	// so that max_in_flight requests compress and travel in parallel.
	minRequestBytes = 256 << 10
)

type span struct{ off, end int32 }

// message is one encoded record.
type message struct {
	topic   int32 // index into writeState.topics
	part    int32
	key     []byte // nil: no key
	value   []byte
	headers []protocol.Header
	size    int
}

// topicState is the partition layout of one topic, kept between Writes
// (its slices are reused); gen says which Write filled it.
type topicState struct {
	name    string
	gen     uint64
	ix      int32   // index in writeState.topics during Write gen
	err     error   // metadata error: every record of the topic fails with it
	leaders []int32 // by partition
	ids     []int   // 0..n-1, for the balancer
	buckets [][]int32
}

// chunk is one partition's record batch in a produce request.
type chunk struct {
	topic int32
	part  int32
	idx   []int32 // batch indexes, in order
	bytes int
}

// writeState is Write's scratch, kept between calls to spare allocations.
type writeState struct {
	gen    uint64
	arena  []byte
	spans  []span // per record: value, key, 4 headers
	msgs   []message
	hdrs   []protocol.Header
	failed []error
	topics []*topicState // the topics of this Write
	known  map[string]*topicState
	tbuf   []byte
}

func (w *writeState) reset(n int) {
	w.gen++
	w.arena = w.arena[:0]
	w.spans = grow(w.spans, 6*n)
	w.msgs = grow(w.msgs, n)
	w.hdrs = grow(w.hdrs, len(headerKeys)*n)
	w.failed = grow(w.failed, n)
	clear(w.failed)
	w.topics = w.topics[:0]
	if w.known == nil || len(w.known) > 10000 {
		w.known = map[string]*topicState{}
	}
}

// topicOf interns the topic named by w.tbuf for this Write.
func (w *writeState) topicOf() int32 {
	t := w.known[string(w.tbuf)]
	if t == nil {
		t = &topicState{name: string(w.tbuf)}
		w.known[t.name] = t
	}
	if t.gen != w.gen {
		t.gen, t.ix = w.gen, int32(len(w.topics))
		w.topics = append(w.topics, t)
	}
	return t.ix
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Write produces every record of batch and returns when the brokers have
// acknowledged them under required_acks: nil, a *pipeline.BatchError naming
// the records that were not (permanent failures marked), or a plain error
// when none was delivered for a reason worth retrying.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	w := &s.w
	w.reset(len(batch))
	s.encode(batch)

	err := s.layout(ctx)
	if err == nil {
		reuse := s.send(ctx, s.assign(len(batch)))
		err = s.result(len(batch))
		if !reuse {
			// A request abandoned on a deadline may still be reading
			// the buffers: give them up rather than overwrite them.
			s.w = writeState{}
		}
	}
	if err != nil && retriable(err) {
		// Drop the pooled connections and cached metadata: after a broker
		// restart or a leader change the next attempt starts afresh
		// instead of failing again on dead connections or stale leaders.
		s.tr.CloseIdleConnections()
	}
	return err
}

// retriable reports whether err leaves records worth retrying.
func retriable(err error) bool {
	var be *pipeline.BatchError
	if !errors.As(err, &be) {
		return !pipeline.IsPermanent(err)
	}
	for _, it := range be.Items {
		if !pipeline.IsPermanent(it.Err) {
			return true
		}
	}
	return false
}

// encode fills w.msgs: value, key and header bytes in one arena, the topic
// of each record interned. Records that cannot be encoded fail for good.
func (s *Sink) encode(batch []*pipeline.Record) {
	w := &s.w
	limit := int(s.cfg.BatchBytes) - batchOverhead
	for i, r := range batch {
		sp := w.spans[6*i : 6*i+6]
		start := len(w.arena)
		var err error
		w.arena, err = s.enc.Append(w.arena, r)
		if err != nil {
			w.arena = w.arena[:start]
			w.failed[i] = pipeline.Permanent(fmt.Errorf("kafka: cannot encode record %s as %s: %w", r.ID, s.cfg.Format, err))
			continue
		}
		sp[0] = span{int32(start), int32(len(w.arena))}
		ks := len(w.arena)
		var ok bool
		w.arena, ok = s.key.appendKey(w.arena, r)
		sp[1] = span{int32(ks), int32(len(w.arena))}
		if !ok {
			sp[1].end = -1
		}
		for h, v := range [...]string{string(r.Stream), r.Tenant, r.Type, r.ID} {
			hs := len(w.arena)
			w.arena = append(w.arena, v...)
			sp[2+h] = span{int32(hs), int32(len(w.arena))}
		}
		size := len(w.arena) - start + recordOverhead
		if size > limit {
			w.failed[i] = pipeline.Permanent(fmt.Errorf("kafka: record %s is %d bytes encoded, more than batch_bytes (%d) allows — raise batch_bytes (and the topic's max.message.bytes) or trim the record", r.ID, size, s.cfg.BatchBytes))
			continue
		}
		w.tbuf = s.topic.Append(w.tbuf[:0], r)
		w.msgs[i] = message{topic: w.topicOf(), size: size}
	}
	// The arena has stopped growing: slice it.
	for i := range w.msgs {
		if w.failed[i] != nil {
			continue
		}
		m := &w.msgs[i]
		sp := w.spans[6*i : 6*i+6]
		m.value = w.arena[sp[0].off:sp[0].end:sp[0].end]
		m.key = nil
		if sp[1].end >= 0 {
			m.key = w.arena[sp[1].off:sp[1].end:sp[1].end]
		}
		m.headers = w.hdrs[len(headerKeys)*i : len(headerKeys)*(i+1)]
		for h, k := range headerKeys {
			m.headers[h] = protocol.Header{Key: k, Value: w.arena[sp[2+h].off:sp[2+h].end:sp[2+h].end]}
		}
	}
}

// layout reads the partitions and leaders of the batch's topics from the
// transport's metadata cache (asking the brokers, which may auto-create a
// topic, only for topics it has not seen). A failure that leaves no topic
// known fails the whole batch.
func (s *Sink) layout(ctx context.Context) error {
	w := &s.w
	if len(w.topics) == 0 {
		return s.result(len(w.msgs)) // every record failed to encode
	}
	names := make([]string, len(w.topics))
	for i, t := range w.topics {
		names[i] = t.name
	}
	s.followTopics(names)
	mctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout.D())
	defer cancel()
	res, err := s.tr.RoundTrip(mctx, s.addr, &metaAPI.Request{TopicNames: names, AllowAutoTopicCreation: true})
	if err != nil {
		return s.connError(err)
	}
	md := res.(*metaAPI.Response)
	now := s.now()
	for _, t := range w.topics {
		t.err = s.topicMissing(t.name, now)
		for i := range md.Topics {
			mt := &md.Topics[i]
			if mt.Name != t.name {
				continue
			}
			switch code := kafkago.Error(mt.ErrorCode); code {
			case 0:
				delete(s.missing, t.name)
			case kafkago.UnknownTopicOrPartition:
			case kafkago.TopicAuthorizationFailed:
				t.err = s.topicAuthError(ctx, t.name)
			default:
				t.err = partitionError(t.name, code, "")
			}
			if mt.ErrorCode != 0 {
				break
			}
			n := 0
			for _, p := range mt.Partitions {
				n = max(n, int(p.PartitionIndex)+1)
			}
			if n == 0 {
				break
			}
			t.err = nil
			t.leaders = grow(t.leaders, n)
			for j := range t.leaders {
				t.leaders[j] = -1
			}
			for _, p := range mt.Partitions {
				t.leaders[p.PartitionIndex] = p.LeaderID
			}
			t.ids = grow(t.ids, n)
			for j := range t.ids {
				t.ids[j] = j
			}
			t.buckets = grow(t.buckets, n)
			for j := range t.buckets {
				t.buckets[j] = t.buckets[j][:0]
			}
			break
		}
	}
	return nil
}

// topicAuthError explains a topic's TOPIC_AUTHORIZATION_FAILED from the
// metadata cache, which the transport fills without auto-creation (so a
// topic the principal may describe but that does not exist shows as unknown
// there). Permanent either way: an ACL change, not a retry, fixes it.
func (s *Sink) topicAuthError(ctx context.Context, topic string) error {
	createMissing := false
	mctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout.D())
	defer cancel()
	if res, err := s.tr.RoundTrip(mctx, s.addr, &metaAPI.Request{TopicNames: []string{topic}}); err == nil {
		md := res.(*metaAPI.Response)
		createMissing = len(md.Topics) == 1 && kafkago.Error(md.Topics[0].ErrorCode) == kafkago.UnknownTopicOrPartition
	}
	return pipeline.Permanent(authError(topic, createMissing, kafkago.TopicAuthorizationFailed))
}

// followTopics makes the transport's metadata cache follow the topics of
// this Write. A new topic restarts the connection pool (the cache's topic
// list is read when the pool starts): kafka-go would otherwise wait for a
// topic its cache never fetches.
func (s *Sink) followTopics(names []string) {
	added := false
	for _, n := range names {
		if !s.metaTopics[n] {
			s.metaTopics[n] = true
			added = true
		}
	}
	if !added {
		return
	}
	if len(s.metaTopics) > maxMetaTopics {
		clear(s.metaTopics)
		for _, n := range names {
			s.metaTopics[n] = true
		}
	}
	list := make([]string, 0, len(s.metaTopics))
	for n := range s.metaTopics {
		list = append(list, n)
	}
	slices.Sort(list)
	s.tr.MetadataTopics = list
	s.tr.CloseIdleConnections()
}

// topicMissing is the error for the records of a topic that does not exist:
// retried until the topic has been missing for topic_missing_timeout, then
// permanent (dead-lettered) so one missing topic does not hold back every
// other tenant's records. A topic not written for a while (twice the
// timeout and a minute: longer than the pipeline's retry backoff) starts a
// new count.
func (s *Sink) topicMissing(topic string, now time.Time) error {
	limit := s.cfg.TopicMissingTimeout.D()
	m, seen := s.missing[topic]
	if !seen || now.Sub(m.last) > 2*limit+time.Minute {
		m.first = now
	}
	m.last = now
	s.missing[topic] = m
	if len(s.missing) > maxMetaTopics {
		clear(s.missing)
	}
	if gone := now.Sub(m.first); gone >= limit {
		return pipeline.Permanent(fmt.Errorf("kafka: topic %q does not exist (missing for %s, topic_missing_timeout %s) — create topic %s or enable auto-create (auto.create.topics.enable) on the brokers, then replay the dead letters: %w",
			topic, gone.Round(time.Second), limit, topic, kafkago.UnknownTopicOrPartition))
	}
	return fmt.Errorf("kafka: topic %q does not exist — create topic %s or enable auto-create (auto.create.topics.enable) on the brokers (retried for topic_missing_timeout %s, then dead-lettered): %w",
		topic, topic, limit, kafkago.UnknownTopicOrPartition)
}

// assign picks each record's partition (murmur2 of the key, like the Java
// client, so one id always lands in one partition; round-robin without a
// key) and cuts every partition's records into chunks of at most
// batch_bytes, in batch order.
func (s *Sink) assign(n int) []chunk {
	w := &s.w
	bal := kafkago.Murmur2Balancer{}
	for i := 0; i < n; i++ {
		if w.failed[i] != nil {
			continue
		}
		m := &w.msgs[i]
		t := w.topics[m.topic]
		if t.err != nil {
			w.failed[i] = t.err
			continue
		}
		if m.key != nil {
			m.part = int32(bal.Balance(kafkago.Message{Key: m.key}, t.ids...))
		} else {
			s.rr++
			m.part = int32(s.rr % uint32(len(t.ids)))
		}
		if t.leaders[m.part] < 0 {
			// Kept out of the request: one leaderless partition would
			// fail the whole request to that broker.
			w.failed[i] = partitionError(t.name, kafkago.LeaderNotAvailable, fmt.Sprintf("partition %d has no leader", m.part))
			continue
		}
		t.buckets[m.part] = append(t.buckets[m.part], int32(i))
	}
	var chunks []chunk
	limit := int(s.cfg.BatchBytes) - batchOverhead
	for ti, t := range w.topics {
		if t.err != nil {
			continue
		}
		for p, idx := range t.buckets {
			c := chunk{topic: int32(ti), part: int32(p)}
			for j, i := range idx {
				if c.bytes+w.msgs[i].size > limit && len(c.idx) > 0 {
					chunks = append(chunks, c)
					c = chunk{topic: int32(ti), part: int32(p)}
				}
				c.idx = idx[j-len(c.idx) : j+1]
				c.bytes += w.msgs[i].size
			}
			if len(c.idx) > 0 {
				chunks = append(chunks, c)
			}
		}
	}
	return chunks
}

// request is one produce request: chunks of one round for partitions led by
// one broker.
type request struct {
	round  int
	chunks []chunk
	bytes  int
}

// plan groups chunks into requests by leader and round: a partition's n-th
// chunk (chunks arrive in batch order per partition) goes in round n, so a
// request never holds one partition twice. A broker's share of a round is
// cut into up to max_in_flight requests of at least minRequestBytes: kafka-go
// compresses a request on its connection's goroutine, so several requests
// use several cores.
func (s *Sink) plan(chunks []chunk) []request {
	w := &s.w
	var reqs []request
	type key struct {
		leader int32
		round  int
	}
	type tp struct{ topic, part int32 }
	rounds := map[tp]int{}
	total := map[key]int{}
	for _, c := range chunks {
		round := rounds[tp{c.topic, c.part}]
		rounds[tp{c.topic, c.part}] = round + 1
		total[key{w.topics[c.topic].leaders[c.part], round}] += c.bytes
	}
	clear(rounds)
	open := map[key]int{} // the request being filled for a leader and round
	for _, c := range chunks {
		round := rounds[tp{c.topic, c.part}]
		rounds[tp{c.topic, c.part}] = round + 1
		k := key{w.topics[c.topic].leaders[c.part], round}
		limit := min(maxRequestBytes, max(minRequestBytes, total[k]/s.cfg.MaxInFlight))
		ri, ok := open[k]
		if !ok || reqs[ri].bytes+c.bytes > limit {
			ri = len(reqs)
			open[k] = ri
			reqs = append(reqs, request{round: round})
		}
		reqs[ri].chunks = append(reqs[ri].chunks, c)
		reqs[ri].bytes += c.bytes
	}
	return reqs
}

// send runs the produce requests round by round (a partition's chunks stay
// in order), max_in_flight at a time, and records each record's outcome in
// w.failed. A batch the broker finds too large is split in halves and sent
// again. It reports whether every request finished (false when one was
// abandoned on a deadline or cancellation).
func (s *Sink) send(ctx context.Context, chunks []chunk) (reuse bool) {
	reuse = true
	sem := make(chan struct{}, s.cfg.MaxInFlight)
	var mu sync.Mutex
	for pass := 0; len(chunks) > 0 && pass < 64; pass++ {
		var again []chunk
		reqs := s.plan(chunks)
		rounds := 0
		for _, r := range reqs {
			rounds = max(rounds, r.round+1)
		}
		for round := 0; round < rounds; round++ {
			var wg sync.WaitGroup
			for _, r := range reqs {
				if r.round != round {
					continue
				}
				if err := ctx.Err(); err != nil {
					for _, c := range r.chunks {
						s.fail(c.idx, fmt.Errorf("kafka: not sent: %w", err))
					}
					continue
				}
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					split, abandoned := s.produce(ctx, r)
					mu.Lock()
					again = append(again, split...)
					reuse = reuse && !abandoned
					mu.Unlock()
				}()
			}
			wg.Wait()
		}
		// Halves come back in completion order: restore batch order.
		slices.SortFunc(again, func(a, b chunk) int {
			return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.part, b.part), cmp.Compare(a.idx[0], b.idx[0]))
		})
		chunks = again
	}
	return reuse
}

// brokerTimeout is the produce request's timeout for the broker: 80% of
// write_timeout, so the broker's answer (a timeout error for the partitions
// whose replicas did not acknowledge in time) arrives before the client gives
// up on the request and learns nothing.
func brokerTimeout(writeTimeout time.Duration) int32 {
	return int32(writeTimeout.Milliseconds() * 8 / 10)
}

// produce sends one request and settles its records. It returns the halves
// of chunks refused as too large, and whether the request was abandoned.
func (s *Sink) produce(ctx context.Context, r request) (split []chunk, abandoned bool) {
	w := &s.w
	req := &produceAPI.Request{
		Acks:    int16(s.acks),
		Timeout: brokerTimeout(s.cfg.WriteTimeout.D()),
	}
	for _, c := range r.chunks {
		name := w.topics[c.topic].name
		var rt *produceAPI.RequestTopic
		for i := range req.Topics {
			if req.Topics[i].Topic == name {
				rt = &req.Topics[i]
			}
		}
		if rt == nil {
			req.Topics = append(req.Topics, produceAPI.RequestTopic{Topic: name})
			rt = &req.Topics[len(req.Topics)-1]
		}
		rt.Partitions = append(rt.Partitions, produceAPI.RequestPartition{
			Partition: c.part,
			RecordSet: protocol.RecordSet{
				Attributes: protocol.Attributes(s.comp) & 7,
				Records:    &chunkReader{msgs: w.msgs, idx: c.idx},
			},
		})
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout.D())
	defer cancel()
	res, err := s.tr.RoundTrip(rctx, s.addr, req)
	if err != nil {
		abandoned = errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
		err = s.connError(err)
		for _, c := range r.chunks {
			s.fail(c.idx, err)
		}
		return nil, abandoned
	}
	if s.acks == kafkago.RequireNone {
		return nil, false // sent; the broker does not answer
	}
	resp := res.(*produceAPI.Response)
	for _, c := range r.chunks {
		name := w.topics[c.topic].name
		p := findPartition(resp, name, c.part)
		switch {
		case p == nil:
			s.fail(c.idx, fmt.Errorf("kafka: topic %q partition %d: no result in the produce response", name, c.part))
		case p.ErrorCode == 0:
		case tooLarge(kafkago.Error(p.ErrorCode)) && len(c.idx) > 1:
			half := len(c.idx) / 2
			a, b := c, c
			a.idx, b.idx = c.idx[:half], c.idx[half:]
			a.bytes, b.bytes = c.bytes/2, c.bytes-c.bytes/2
			split = append(split, a, b)
		case len(p.RecordErrors) > 0:
			// The broker refused the batch for the listed records; the
			// others are sound and only need sending again.
			bad := map[int32]string{}
			for _, re := range p.RecordErrors {
				bad[re.BatchIndex] = re.BatchIndexErrorMessage
			}
			cause := partitionError(name, kafkago.Error(p.ErrorCode), p.ErrorMessage)
			for j, i := range c.idx {
				if msg, ok := bad[int32(j)]; ok {
					w.failed[i] = pipeline.Permanent(fmt.Errorf("kafka: topic %q rejected the record: %s: %w", name, msg, kafkago.Error(p.ErrorCode)))
				} else {
					w.failed[i] = fmt.Errorf("kafka: batch refused because of another record: %w", cause)
				}
			}
		default:
			s.fail(c.idx, partitionError(name, kafkago.Error(p.ErrorCode), p.ErrorMessage))
		}
	}
	return split, false
}

func (s *Sink) fail(idx []int32, err error) {
	for _, i := range idx {
		s.w.failed[i] = err
	}
}

func findPartition(resp *produceAPI.Response, topic string, part int32) *produceAPI.ResponsePartition {
	for i := range resp.Topics {
		t := &resp.Topics[i]
		if t.Topic != topic {
			continue
		}
		for j := range t.Partitions {
			if t.Partitions[j].Partition == part {
				return &t.Partitions[j]
			}
		}
	}
	return nil
}

// result turns w.failed into Write's return value.
func (s *Sink) result(n int) error {
	w := &s.w
	var be pipeline.BatchError
	permanent := false
	for i := 0; i < n; i++ {
		if e := w.failed[i]; e != nil {
			be.Add(i, e)
			permanent = permanent || pipeline.IsPermanent(e)
		}
	}
	switch {
	case len(be.Items) == 0:
		return nil
	case len(be.Items) == n && !permanent:
		return fmt.Errorf("kafka: none of %d records delivered: %w", n, be.Items[0].Err)
	}
	return &be
}

// chunkReader feeds a chunk's records to kafka-go's batch encoder.
type chunkReader struct {
	msgs     []message
	idx      []int32
	i        int
	rec      protocol.Record
	key, val bytesReader
}

func (c *chunkReader) ReadRecord() (*protocol.Record, error) {
	if c.i >= len(c.idx) {
		return nil, io.EOF
	}
	m := &c.msgs[c.idx[c.i]]
	c.i++
	c.rec = protocol.Record{Headers: m.headers}
	if m.key != nil {
		c.key.Reset(m.key)
		c.rec.Key = &c.key
	}
	c.val.Reset(m.value)
	c.rec.Value = &c.val
	return &c.rec, nil
}

type bytesReader struct{ bytes.Reader }

func (*bytesReader) Close() error { return nil }
