package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafka "github.com/segmentio/kafka-go"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/status"
)

// Member is one collector of a cluster.
type Member struct {
	cfg     *Config
	log     *slog.Logger
	metrics *pipeline.Metrics
	k       *conns

	mu      sync.Mutex
	owned   []int
	tenants []string
	id      string
}

// Options are for tests.
type Options struct {
	Dial      DialFunc // checkpoints and topics; default net.Dialer
	GroupDial DialFunc // the consumer group's connections; default Dial
}

// New connects to the brokers and creates the two topics if they are
// missing. metrics may be nil.
func New(ctx context.Context, cfg *Config, log *slog.Logger, metrics *pipeline.Metrics, o Options) (*Member, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = pipeline.NewMetrics()
	}
	k, err := newConns(cfg, o.Dial, o.GroupDial)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ensureTopics(sctx, k, cfg); err != nil {
		k.close()
		return nil, err
	}
	return &Member{cfg: cfg, log: log, metrics: metrics, k: k}, nil
}

// Close releases the connections.
func (m *Member) Close() { m.k.close() }

// Owned returns the partitions and tenants this member holds now.
func (m *Member) Owned() (partitions []int, tenants []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.owned...), append([]string(nil), m.tenants...)
}

// Run joins the group and runs the pipeline o over this member's share of
// the tenants, one pipeline.Run per group generation: when the group
// rebalances, the generation's context ends, the runner stops pulling,
// delivers and commits its in-flight pages (within half the rebalance
// timeout) and only then does the member rejoin and let its
// partitions go. Each new generation reads the owned tenants' cursors from
// the checkpoint topic before pulling. Run returns when ctx ends (after
// leaving the group) or when the pipeline ends by itself (run: false).
func (m *Member) Run(ctx context.Context, o pipeline.Options) (pipeline.Stats, error) {
	var total pipeline.Stats
	if o.Once {
		return total, errors.New("cluster: -once is not supported in distributed mode: members share the tenants continuously (run one collector without cluster: for a catch-up pass)")
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                m.cfg.Group,
		Brokers:           m.cfg.Brokers,
		Dialer:            m.k.dialer,
		Topics:            []string{m.cfg.CoordinationTopic},
		GroupBalancers:    []kafka.GroupBalancer{kafka.RoundRobinGroupBalancer{}},
		HeartbeatInterval: m.cfg.HeartbeatInterval.D(),
		SessionTimeout:    m.cfg.SessionTimeout.D(),
		RebalanceTimeout:  m.cfg.RebalanceTimeout.D(),
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafka.FirstOffset,
		ErrorLogger: kafka.LoggerFunc(func(f string, a ...any) {
			m.log.Log(context.Background(), pipeline.LevelVerbose, "cluster: "+fmt.Sprintf(f, a...))
		}),
	})
	if err != nil {
		return total, fmt.Errorf("cluster: %w", err)
	}
	defer cg.Close() // leaves the group: the others take over at once, not after the session timeout
	defer m.metrics.Board.SetMember(nil)

	var prev map[int]bool
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return total, nil
			}
			// kafka-go backs off and rejoins by itself; a rebalance in
			// progress is the normal way to a new generation.
			if errors.Is(err, kafka.RebalanceInProgress) {
				m.log.Info("cluster: group " + m.cfg.Group + " is rebalancing; rejoining")
			} else {
				m.log.Error("cluster: joining group " + m.cfg.Group + " (retrying): " + err.Error())
			}
			continue
		}
		parts := assigned(gen, m.cfg.CoordinationTopic)
		now := map[int]bool{}
		for _, p := range parts {
			now[p] = true
		}
		var gained, lost []int
		for p := range now {
			if !prev[p] {
				gained = append(gained, p)
			}
		}
		for p := range prev {
			if !now[p] {
				lost = append(lost, p)
			}
		}
		sort.Ints(gained)
		sort.Ints(lost)
		prev = now
		m.metrics.ClusterRebalances.Inc()
		m.metrics.ClusterOwnedPartitions.Set(float64(len(parts)))
		m.mu.Lock()
		released := m.tenants
		m.owned, m.tenants, m.id = parts, nil, gen.MemberID
		m.mu.Unlock()
		for _, tn := range released {
			if !now[PartitionOf(tn, m.cfg.Partitions)] {
				m.forget(tn)
			}
		}
		m.metrics.Board.SetMember(&status.Member{ID: gen.MemberID, Group: m.cfg.Group, Partitions: parts, Tenants: []string{}})
		m.log.Info(fmt.Sprintf("cluster: member %s, generation %d: owns %d of %d partitions %v (gained %v, released %v)",
			gen.MemberID, gen.ID, len(parts), m.cfg.Partitions, parts, gained, lost))

		type result struct {
			st       pipeline.Stats
			err      error
			genEnded bool
		}
		res := make(chan result, 1)
		gen.Start(func(gctx context.Context) {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(gctx, cancel)
			defer stop()
			st, err := m.generation(wctx, gen, now, o)
			res <- result{st, err, gctx.Err() != nil}
		})
		r := <-res
		addStats(&total, r.st)
		if ctx.Err() != nil {
			return total, nil
		}
		if !r.genEnded {
			return total, r.err // the pipeline stopped by itself (run: false)
		}
		if r.err != nil {
			m.log.Error("cluster: generation " + fmt.Sprint(gen.ID) + ": " + r.err.Error())
		}
	}
}

// generation loads the owned tenants' cursors and runs the pipeline on them
// until ctx ends.
func (m *Member) generation(ctx context.Context, gen *kafka.Generation, owned map[int]bool, o pipeline.Options) (pipeline.Stats, error) {
	owns := func(tenant string) bool { return owned[PartitionOf(tenant, m.cfg.Partitions)] }
	var store *Store
	for attempt := 1; ; attempt++ {
		var err error
		store, err = loadStore(ctx, m.k.client, m.cfg.CheckpointTopic, gen.MemberID, int(gen.ID), m.commitTimeout(), owns)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return pipeline.Stats{}, nil
		}
		// Without the cursors a member cannot pull without repeating
		// everything: keep trying while it holds the partitions.
		m.log.Error(fmt.Sprintf("%v (attempt %d; retrying)", err, attempt))
		select {
		case <-ctx.Done():
			return pipeline.Stats{}, nil
		case <-time.After(min(time.Duration(attempt)*time.Second, 10*time.Second)):
		}
	}
	for key, cp := range store.All() {
		if tenant, stream, ok := cutKey(key); ok {
			m.metrics.Board.Committed(tenant, cp.TenantName, stream, cp.SavedAt)
		}
	}
	o.Source = &ownedSource{Source: o.Source, owns: owns, listed: func(tenants []string) {
		m.mu.Lock()
		m.tenants = tenants
		m.mu.Unlock()
		m.metrics.ClusterOwnedTenants.Set(float64(len(tenants)))
		parts := make([]int, 0, len(owned))
		for p := range owned {
			parts = append(parts, p)
		}
		sort.Ints(parts)
		m.metrics.Board.SetMember(&status.Member{ID: gen.MemberID, Group: m.cfg.Group, Partitions: parts, Tenants: tenants})
	}}
	o.Checkpoints = store
	o.DrainTimeout = m.cfg.DrainTimeout()
	return pipeline.Run(ctx, o)
}

// forget drops a released tenant from this member's status board and
// checkpoint gauges: its new owner reports it (a stale age here would be
// read as a lagging tenant).
func (m *Member) forget(tenant string) {
	m.metrics.Board.Forget(tenant)
	m.metrics.CheckpointAge.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
	m.metrics.CheckpointTime.DeletePartialMatch(prometheus.Labels{"tenant": tenant})
}

// commitTimeout bounds one checkpoint write: a quarter of the rebalance
// timeout (at most 10s), so the last commit of a drain still fits in it.
func (m *Member) commitTimeout() time.Duration {
	return min(m.cfg.RebalanceTimeout.D()/4, 10*time.Second)
}

func cutKey(key string) (tenant, stream string, ok bool) {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

func assigned(gen *kafka.Generation, topic string) []int {
	var out []int
	for _, a := range gen.Assignments[topic] {
		out = append(out, a.ID)
	}
	sort.Ints(out)
	return out
}

func addStats(t *pipeline.Stats, s pipeline.Stats) {
	t.Pages += s.Pages
	t.Records += s.Records
	t.Delivered += s.Delivered
	t.DeadLettered += s.DeadLettered
	t.Dropped += s.Dropped
	t.FailedPartitions += s.FailedPartitions
}

// ownedSource lists only the partitions of the tenants this member owns.
// The tenant list itself is re-read every pass, so a tenant added later is
// pulled by whoever owns its coordination partition.
type ownedSource struct {
	pipeline.Source
	owns   func(tenant string) bool
	listed func(tenants []string)
}

func (s *ownedSource) Partitions(ctx context.Context) ([]pipeline.Partition, error) {
	all, err := s.Source.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	var out []pipeline.Partition
	seen := map[string]bool{}
	var tenants []string
	for _, p := range all {
		if !s.owns(p.Tenant) {
			continue
		}
		out = append(out, p)
		if !seen[p.Tenant] {
			seen[p.Tenant] = true
			tenants = append(tenants, p.Tenant)
		}
	}
	sort.Strings(tenants)
	if s.listed != nil {
		s.listed(tenants)
	}
	return out, nil
}
