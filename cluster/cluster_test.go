package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// killSwitch is a member's network: kill closes every connection it opened
// and refuses new ones, as if the process had died (no LeaveGroup, no
// final commit reaches Kafka).
type killSwitch struct {
	mu       sync.Mutex
	dead     bool
	sinkDead bool
	conns    []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("member killed")
	}
	c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// revive lets new connections through again (Kafka is back).
func (k *killSwitch) revive() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = false
	k.conns = nil
}

func (k *killSwitch) isSinkDead() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sinkDead
}

// delivery is what the shared receiver saw: every id with the members that
// delivered it, in order, and when each tenant last received something.
type delivery struct {
	delay time.Duration // each write takes this long (default 30ms)
	mu    sync.Mutex
	ids   map[string][]string  // stream/id -> members
	last  map[string]time.Time // tenant -> last delivery
	by    map[string]string    // tenant -> member of the last delivery
}

func newDelivery() *delivery {
	return &delivery{ids: map[string][]string{}, last: map[string]time.Time{}, by: map[string]string{}}
}

// memberSink is one member's view of the receiver. A killed member delivers
// nothing more (its Write fails, so its pages stay uncommitted).
type memberSink struct {
	d    *delivery
	name string
	ks   *killSwitch
}

func (s *memberSink) Start(context.Context) error { return nil }
func (s *memberSink) Close() error                { return nil }
func (s *memberSink) Write(_ context.Context, batch []*pipeline.Record) error {
	if s.ks.isSinkDead() {
		return errors.New("member killed")
	}
	// A receiver that takes its time: pages are in flight when a rebalance
	// starts, so the hand-overs must drain and commit them (any repeat from
	// a live member fails the test).
	delay := s.d.delay
	if delay == 0 {
		delay = 30 * time.Millisecond
	}
	time.Sleep(delay)
	if s.ks.isSinkDead() {
		return errors.New("member killed")
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	now := time.Now()
	for _, r := range batch {
		k := string(r.Stream) + "/" + r.ID
		s.d.ids[k] = append(s.d.ids[k], s.name)
		s.d.last[r.Tenant] = now
		s.d.by[r.Tenant] = s.name
	}
	return nil
}

type testMember struct {
	name   string
	m      *Member
	ks     *killSwitch // checkpoints and the receiver
	group  *killSwitch // the consumer group's connections
	cancel context.CancelFunc
	done   chan error
	ended  bool
}

const testInflight = 4 // max_inflight_pages of each member

func startMember(t *testing.T, name string, cfg *Config, emu *emulator.Server, d *delivery, log *slog.Logger) *testMember {
	t.Helper()
	ks, group := &killSwitch{}, &killSwitch{}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := New(ctx, cfg, log.With("member", name), nil, Options{Dial: ks.dial, GroupDial: group.dial})
	if err != nil {
		t.Fatal(err)
	}
	client, err := sophos.NewClient(sophos.Config{ClientID: "cl-client", ClientSecret: "cl-secret", AuthURL: emu.AuthURL(), APIHost: emu.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := sophos.NewSource(client, sophos.SourceOptions{Streams: []pipeline.Stream{pipeline.Alerts, pipeline.Events}})
	if err != nil {
		t.Fatal(err)
	}
	dlq, err := pipeline.OpenDeadLetter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tm := &testMember{name: name, m: m, ks: ks, group: group, cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer client.Close()
		defer dlq.Close()
		defer m.Close()
		_, err := m.Run(ctx, pipeline.Options{
			Source: src, DeadLetter: dlq, Log: log.With("member", name), Metrics: m.metrics,
			Since: time.Now().Add(-23 * time.Hour), Workers: 4, MaxInflightPages: testInflight,
			Sinks: []pipeline.SinkSpec{{Name: "siem", Type: "test", Sink: &memberSink{d: d, name: name, ks: ks},
				Retry: pipeline.RetryPolicy{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}}},
			NextPass: func() (bool, time.Duration) { return true, 100 * time.Millisecond },
		})
		tm.done <- err
	}()
	return tm
}

// stop ends a member the way SIGTERM does: drain, commit, leave.
func (tm *testMember) stop(t *testing.T) {
	if tm.ended {
		return
	}
	tm.ended = true
	tm.cancel()
	select {
	case err := <-tm.done:
		if err != nil {
			t.Errorf("%s: %v", tm.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop", tm.name)
	}
}

// kill first cuts the member's checkpoint writes (it keeps its partitions
// and delivering, but can commit nothing: the pages a crash repeats), then,
// 300ms later, the group connections and the receiver, and stops its
// goroutines: to the group and the receiver it died, without leaving or
// committing. It returns the ids the member delivered after the first cut.
func (tm *testMember) kill(d *delivery) map[string]bool {
	d.mu.Lock()
	before := map[string]int{}
	for k, by := range d.ids {
		before[k] = count(by, tm.name)
	}
	d.mu.Unlock()
	tm.ks.kill()
	time.Sleep(300 * time.Millisecond)
	tm.ks.mu.Lock()
	tm.ks.sinkDead = true
	tm.ks.mu.Unlock()
	tm.group.kill()
	tm.ended = true
	tm.cancel()
	<-tm.done
	d.mu.Lock()
	defer d.mu.Unlock()
	after := map[string]bool{}
	for k, by := range d.ids {
		if count(by, tm.name) > before[k] {
			after[k] = true
		}
	}
	return after
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestClusterKillAndAdd runs three members on kfake over twelve tenants
// with items arriving all the time, kills one (no leave, no final commit),
// then adds one. Every tenant keeps flowing, no id is missing, and the only
// repeats are pages the killed member delivered but had not committed: at
// most its in-flight pages. Graceful hand-overs (the rebalances on the
// kill and on the add) repeat nothing.
func TestClusterKillAndAdd(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	emu, err := emulator.New(emulator.Options{Seed: 22, Tenants: 12, Partner: true, Events: 400, Alerts: 40,
		ClientID: "cl-client", ClientSecret: "cl-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	tenants := emu.TenantIDs()

	cfg := &Config{Brokers: kc.ListenAddrs(), Group: "sc-test", Partitions: 16, ReplicationFactor: -1,
		CoordinationTopic: "sc-test-coordination", CheckpointTopic: "sc-test-checkpoints",
		SessionTimeout: cfgDur(3 * time.Second), HeartbeatInterval: cfgDur(300 * time.Millisecond),
		RebalanceTimeout: cfgDur(6 * time.Second), ClientID: "sc-test"}
	if err := cfg.validate(nil); err != nil {
		t.Fatal(err)
	}
	log := testLog(t)
	d := newDelivery()

	// Items keep arriving for every tenant while members come and go.
	stopFeed := make(chan struct{})
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopFeed:
				return
			case <-tick.C:
			}
			for _, tn := range tenants {
				emu.AddItems(tn, "event", 3)
				if i%10 == 0 {
					emu.AddItems(tn, "alert", 1)
				}
			}
		}
	}()

	members := map[string]*testMember{}
	for _, n := range []string{"a", "b", "c"} {
		members[n] = startMember(t, n, cfg, emu, d, log)
	}
	defer func() {
		for _, tm := range members {
			tm.stop(t)
		}
	}()

	// Wait until the three share the 16 partitions and every tenant flows.
	waitFor(t, 60*time.Second, "three members sharing all partitions", func() bool {
		return coverAll(members, cfg.Partitions) && everyTenantSince(d, tenants, time.Time{})
	})
	checkDisjoint(t, members, cfg.Partitions)

	// Kill b mid-pass: its tenants must be pulled again by a and c once the
	// group drops it (after the session timeout).
	time.Sleep(500 * time.Millisecond)
	// Read b's share right before the kill: on a loaded machine a member can
	// miss heartbeats and the group rebalances before the kill.
	_, bTenants := members["b"].m.Owned()
	if len(bTenants) == 0 {
		t.Fatal("member b owns no tenant")
	}
	killedAt := time.Now()
	uncommitted := members["b"].kill(d)
	delete(members, "b")
	var failover time.Duration
	waitFor(t, 60*time.Second, "b's tenants delivered again by a or c", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, tn := range bTenants {
			if !d.last[tn].After(killedAt) || d.by[tn] == "b" {
				return false
			}
		}
		failover = time.Since(killedAt)
		return true
	})
	t.Logf("failover: b killed → all of its %d tenants delivered again in %s (session_timeout %s)", len(bTenants), failover.Round(100*time.Millisecond), cfg.SessionTimeout)
	waitFor(t, 30*time.Second, "a and c sharing all partitions", func() bool { return coverAll(members, cfg.Partitions) })
	checkDisjoint(t, members, cfg.Partitions)

	// Add d: it takes a share, the others hand theirs over gracefully.
	members["d"] = startMember(t, "d", cfg, emu, d, log)
	addedAt := time.Now()
	waitFor(t, 60*time.Second, "d owning partitions and every tenant flowing", func() bool {
		p, _ := members["d"].m.Owned()
		return len(p) > 0 && coverAll(members, cfg.Partitions) && everyTenantSince(d, tenants, addedAt)
	})
	checkDisjoint(t, members, cfg.Partitions)
	// The metrics and the status board show each member's share.
	for name, tm := range members {
		parts, tns := tm.m.Owned()
		if got := value(tm.m.metrics.ClusterOwnedPartitions); int(got) != len(parts) {
			t.Errorf("%s: owned_partitions %v, owns %d", name, got, len(parts))
		}
		if got := value(tm.m.metrics.ClusterRebalances); got < 1 {
			t.Errorf("%s: rebalances %v", name, got)
		}
		st := tm.m.metrics.Board.Snapshot(time.Now())
		if st.Member == nil || st.Member.Group != cfg.Group || len(st.Member.Partitions) != len(parts) || st.Member.ID == "" {
			t.Errorf("%s: board member %+v, owns %v", name, st.Member, parts)
		}
		waitFor(t, 10*time.Second, name+"'s owned tenants on the board and in the metrics", func() bool {
			_, tns = tm.m.Owned()
			st := tm.m.metrics.Board.Snapshot(time.Now())
			return st.Member != nil && len(st.Member.Tenants) == len(tns) && int(value(tm.m.metrics.ClusterOwnedTenants)) == len(tns)
		})
		// Only its own tenants are on its board: released ones moved away.
		for _, ts := range tm.m.metrics.Board.Snapshot(time.Now()).Tenants {
			p := PartitionOf(ts.ID, cfg.Partitions)
			if !containsInt(parts, p) {
				t.Errorf("%s's board shows tenant %s of partition %d, which it does not own (%v)", name, ts.ID, p, parts)
			}
		}
	}
	if got := value(members["a"].m.metrics.ClusterRebalances); got < 3 {
		t.Errorf("member a saw %v generations, want at least 3 (start, b's death, d's arrival)", got)
	}
	waitFor(t, 30*time.Second, "d delivering", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, by := range d.by {
			if by == "d" {
				return true
			}
		}
		return false
	})

	// Stop the feed, let the members catch up, stop them gracefully.
	close(stopFeed)
	<-feedDone
	want := map[string]string{} // stream/id -> tenant
	for _, tn := range tenants {
		for _, st := range []string{"alert", "event"} {
			for _, id := range emu.AllIDs(tn, st) {
				want[st+"/"+id] = tn
			}
		}
	}
	waitFor(t, 60*time.Second, "every id delivered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for k := range want {
			if len(d.ids[k]) == 0 {
				return false
			}
		}
		return true
	})
	for _, tm := range members {
		tm.stop(t)
	}

	// Every id arrived; the repeats are all of b's uncommitted pages.
	d.mu.Lock()
	defer d.mu.Unlock()
	repeats := 0
	for k, tn := range want {
		by := d.ids[k]
		if len(by) == 0 {
			t.Fatalf("%s (tenant %s) never arrived", k, tn)
		}
		if len(by) == 1 {
			continue
		}
		repeats++
		// b delivered it first (so b owned the tenant then, whatever
		// rebalances came before the kill) and exactly one other member
		// delivered it again.
		if by[0] != "b" || len(by) > 2 {
			t.Errorf("%s (tenant %s) delivered by %v: only the killed member's uncommitted pages may repeat, once", k, tn, by)
		}
	}
	for k := range d.ids {
		if _, ok := want[k]; !ok {
			t.Errorf("delivered %s, which the emulator never served", k)
		}
	}
	// An emulator page holds at most 1000 items; each partition of b had at
	// most testInflight pages delivered but uncommitted.
	if max := testInflight * 1000; repeats > max {
		t.Errorf("%d ids repeated: more than b's %d in-flight pages allow", repeats, testInflight)
	}
	// What b delivered after it could no longer commit must all come again
	// (nothing of it may be lost), and it is bounded by b's in-flight pages:
	// the runner stopped pulling once they were all delivered-but-uncommitted.
	for k := range uncommitted {
		if len(d.ids[k]) < 2 {
			t.Errorf("%s was delivered by b after its commits stopped, and never again", k)
		}
	}
	if len(uncommitted) > testInflight*1000 {
		t.Errorf("b delivered %d ids after its commits stopped: more than its %d in-flight pages", len(uncommitted), testInflight)
	}
	if repeats == 0 {
		t.Errorf("no id repeated: b delivered nothing after losing Kafka, so the test did not exercise a crash between delivery and commit")
	}
	t.Logf("%d ids delivered, %d repeated (all from b's uncommitted pages; b delivered %d ids after its commits stopped)", len(want), repeats, len(uncommitted))
}

func cfgDur(d time.Duration) config.Duration { return config.Duration(d) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func coverAll(members map[string]*testMember, n int) bool {
	seen := 0
	for _, tm := range members {
		p, _ := tm.m.Owned()
		seen += len(p)
	}
	return seen == n
}

func checkDisjoint(t *testing.T, members map[string]*testMember, n int) {
	t.Helper()
	owner := map[int]string{}
	var names []string
	for name := range members {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, _ := members[name].m.Owned()
		for _, x := range p {
			if prev, dup := owner[x]; dup {
				t.Fatalf("partition %d owned by %s and %s", x, prev, name)
			}
			owner[x] = name
		}
	}
	if len(owner) != n {
		t.Fatalf("%d of %d partitions owned: %v", len(owner), n, owner)
	}
}

func everyTenantSince(d *delivery, tenants []string, since time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, tn := range tenants {
		if !d.last[tn].After(since) {
			return false
		}
	}
	return true
}

var _ = fmt.Sprint

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		return -1
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func containsInt(list []int, x int) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

// TestMemberCutOffFromGroupStopsPulling: a member that loses the group
// coordinator (its heartbeat fails) ends its generation and stops pulling
// within about a heartbeat interval, long before the session timeout gives
// its tenants to someone else: it cannot keep pulling beside the new owner.
func TestMemberCutOffFromGroupStopsPulling(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	emu, err := emulator.New(emulator.Options{Seed: 24, Tenants: 3, Partner: true, Events: 50, Alerts: -1,
		ClientID: "cl-client", ClientSecret: "cl-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	cfg := &Config{Brokers: kc.ListenAddrs(), Group: "sc-cut", Partitions: 4, ReplicationFactor: -1,
		CoordinationTopic: "sc-cut-coordination", CheckpointTopic: "sc-cut-checkpoints",
		SessionTimeout: cfgDur(10 * time.Second), HeartbeatInterval: cfgDur(300 * time.Millisecond),
		RebalanceTimeout: cfgDur(4 * time.Second), ClientID: "sc-test"}
	d := newDelivery()
	stopFeed := make(chan struct{})
	defer close(stopFeed)
	go func() {
		for {
			select {
			case <-stopFeed:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, tn := range emu.TenantIDs() {
				emu.AddItems(tn, "event", 2)
			}
		}
	}()
	a := startMember(t, "a", cfg, emu, d, testLog(t))
	defer a.stop(t)
	waitFor(t, 30*time.Second, "a delivering every tenant", func() bool { return everyTenantSince(d, emu.TenantIDs(), time.Time{}) })

	cutAt := time.Now()
	a.group.kill()
	// Pulling stops once the generation ends; what was in flight drains.
	var stoppedAt time.Time
	waitFor(t, 8*time.Second, "a to stop delivering", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		var last time.Time
		for _, at := range d.last {
			if at.After(last) {
				last = at
			}
		}
		if time.Since(last) > time.Second {
			stoppedAt = last
			return true
		}
		return false
	})
	took := stoppedAt.Sub(cutAt)
	t.Logf("cut off from the group: last delivery %s later (heartbeat_interval %s, session_timeout %s)", took.Round(10*time.Millisecond), cfg.HeartbeatInterval, cfg.SessionTimeout)
	if took > 2*time.Second {
		t.Errorf("a kept delivering for %s after losing the group: more than a heartbeat interval plus the drain", took)
	}
}

// TestHandOverDrainsInFlight: a member whose receiver is slow (250ms per
// write) has pages in flight when a second member joins; it delivers and
// commits them before letting its partitions go, so the new owner starts
// exactly where it stopped: every id arrives exactly once.
func TestHandOverDrainsInFlight(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	emu, err := emulator.New(emulator.Options{Seed: 25, Tenants: 6, Partner: true, Events: 200, Alerts: 20,
		ClientID: "cl-client", ClientSecret: "cl-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	cfg := &Config{Brokers: kc.ListenAddrs(), Group: "sc-drain", Partitions: 8, ReplicationFactor: -1,
		CoordinationTopic: "sc-drain-coordination", CheckpointTopic: "sc-drain-checkpoints",
		SessionTimeout: cfgDur(5 * time.Second), HeartbeatInterval: cfgDur(300 * time.Millisecond),
		RebalanceTimeout: cfgDur(10 * time.Second), ClientID: "sc-test"}
	d := newDelivery()
	d.delay = 250 * time.Millisecond
	stopFeed := make(chan struct{})
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		for {
			select {
			case <-stopFeed:
				return
			case <-time.After(50 * time.Millisecond):
			}
			for _, tn := range emu.TenantIDs() {
				emu.AddItems(tn, "event", 2)
			}
		}
	}()
	log := testLog(t)
	members := map[string]*testMember{"a": startMember(t, "a", cfg, emu, d, log)}
	defer func() {
		for _, tm := range members {
			tm.stop(t)
		}
	}()
	waitFor(t, 30*time.Second, "a delivering every tenant", func() bool { return everyTenantSince(d, emu.TenantIDs(), time.Time{}) })
	waitFor(t, 10*time.Second, "pages in flight on a", func() bool { return value(members["a"].m.metrics.InflightPages) > 0 })
	members["b"] = startMember(t, "b", cfg, emu, d, log)
	joined := time.Now()
	waitFor(t, 30*time.Second, "a and b sharing the partitions and every tenant flowing", func() bool {
		pa, _ := members["a"].m.Owned()
		pb, _ := members["b"].m.Owned()
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == cfg.Partitions && everyTenantSince(d, emu.TenantIDs(), joined)
	})
	close(stopFeed)
	<-feedDone
	want := map[string]bool{}
	for _, tn := range emu.TenantIDs() {
		for _, st := range []string{"alert", "event"} {
			for _, id := range emu.AllIDs(tn, st) {
				want[st+"/"+id] = true
			}
		}
	}
	waitFor(t, 60*time.Second, "every id delivered", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for k := range want {
			if len(d.ids[k]) == 0 {
				return false
			}
		}
		return true
	})
	for _, tm := range members {
		tm.stop(t)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	moved := 0
	for k := range want {
		if by := d.ids[k]; len(by) != 1 {
			t.Errorf("%s delivered %d times (by %v): a graceful hand-over must repeat nothing", k, len(by), by)
		} else if by[0] == "b" {
			moved++
		}
	}
	if moved == 0 {
		t.Error("b delivered nothing: no tenant was handed over")
	}
	t.Logf("%d ids delivered exactly once, %d of them by b after the hand-over", len(want), moved)
}
