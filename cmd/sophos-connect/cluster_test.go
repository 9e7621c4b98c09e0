package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	kafka "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// realBrokers returns the real Kafka broker of test/services/kafka.sh, or
// skips (fails under CI) without one.
func realBrokers(t *testing.T) string {
	t.Helper()
	b := os.Getenv("KAFKA_BROKERS")
	if b == "" {
		why := "KAFKA_BROKERS is not set: start a real broker with `eval \"$(bash test/services/kafka.sh start)\"` to run this test"
		if os.Getenv("CI") != "" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return b
}

type clusterProc struct {
	name, addr, cfg string
	cmd             *exec.Cmd
	log             *os.File
}

// TestClusterRealKafkaSIGKILL runs three collector processes as one cluster
// on the real broker (default session_timeout 30s), SIGKILLs one mid-pass,
// adds a fourth, and reads the sink topics back: every id the emulator
// served is there, and the repeats are at most the killed member's in-flight
// pages. It measures the failover time: SIGKILL → every tenant of the
// killed member pulled again by a survivor.
func TestClusterRealKafkaSIGKILL(t *testing.T) {
	brokers := realBrokers(t)
	if testing.Short() {
		t.Skip("builds the binary and waits out a 30 s session timeout")
	}
	bin := filepath.Join(t.TempDir(), "sophos-connect")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	emu, err := emulator.New(emulator.Options{Seed: 23, Tenants: 8, Partner: true, Events: 3000, Alerts: 300, Rate: 40,
		ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()

	run := fmt.Sprintf("sc-i22-%d", rand.Uint32())
	client := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 10 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The broker does not auto-create topics: the sink's two must exist
	// (the cluster creates its own).
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{
		{Topic: run + "-alert", NumPartitions: 1, ReplicationFactor: 1},
		{Topic: run + "-event", NumPartitions: 1, ReplicationFactor: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}

	const inflight = 4
	start := func(name string) *clusterProc {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(dir, 0o700)
		p := &clusterProc{name: name, addr: freeAddr(t)}
		p.cfg = writeConfig(t, dir, emu, fmt.Sprintf(`txt_file_creation: false
json_file_creation: false
log_level: INFO
metrics_addr: %s
max_inflight_pages: %d
cluster:
  brokers: [%s]
  group: %s
  partitions: 16
sinks:
  - name: bus
    type: kafka
    brokers: [%s]
    topic: %s-${stream}
`, p.addr, inflight, brokers, run, brokers, run))
		lf, err := os.Create(filepath.Join(dir, "stderr.log"))
		if err != nil {
			t.Fatal(err)
		}
		p.log = lf
		p.cmd = exec.Command(bin, "-c", p.cfg)
		p.cmd.Stdout, p.cmd.Stderr = lf, lf
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	procs := map[string]*clusterProc{}
	defer func() {
		for _, p := range procs {
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.cmd.Wait()
		}
		if t.Failed() {
			for _, p := range procs {
				b, _ := os.ReadFile(p.log.Name())
				t.Logf("--- %s stderr:\n%s", p.name, tail(string(b), 3000))
			}
		}
	}()
	for _, n := range []string{"a", "b", "c"} {
		procs[n] = start(n)
	}
	owned := func(names ...string) (map[int]string, map[string][]string) {
		parts, tenants := map[int]string{}, map[string][]string{}
		for _, n := range names {
			st, _ := getStatus(t, procs[n].addr)
			if st.Member == nil {
				continue
			}
			for _, x := range st.Member.Partitions {
				parts[x] = n
			}
			tenants[n] = st.Member.Tenants
		}
		return parts, tenants
	}
	waitUntil(t, 90*time.Second, "a, b and c sharing the 16 partitions", func() bool {
		parts, tenants := owned("a", "b", "c")
		return len(parts) == 16 && len(tenants["b"]) > 0 && len(tenants["a"])+len(tenants["b"])+len(tenants["c"]) == 8
	})
	_, tenants := owned("a", "b", "c")
	bTenants := tenants["b"]
	time.Sleep(2 * time.Second) // mid-pass: items arrive all the time

	killedAt := time.Now()
	procs["b"].cmd.Process.Signal(syscall.SIGKILL)
	procs["b"].cmd.Wait()
	delete(procs, "b")
	var failover time.Duration
	waitUntil(t, 120*time.Second, "b's tenants pulled again by a or c", func() bool {
		pulled := map[string]bool{}
		for _, n := range []string{"a", "c"} {
			st, _ := getStatus(t, procs[n].addr)
			for _, tn := range st.Tenants {
				for _, s := range tn.Streams {
					if s.LastPull != nil && s.LastPull.After(killedAt) && st.Member != nil && contains(st.Member.Tenants, tn.ID) {
						pulled[tn.ID] = true
					}
				}
			}
		}
		for _, tn := range bTenants {
			if !pulled[tn] {
				return false
			}
		}
		failover = time.Since(killedAt)
		return true
	})
	t.Logf("failover: member b SIGKILLed → all %d of its tenants pulled again by a survivor in %s (default session_timeout 30s, heartbeat_interval 3s)", len(bTenants), failover.Round(100*time.Millisecond))

	procs["d"] = start("d")
	waitUntil(t, 90*time.Second, "a, c and d sharing the 16 partitions", func() bool {
		parts, tenants := owned("a", "c", "d")
		return len(parts) == 16 && len(tenants["d"]) > 0
	})

	// Everything served up to now must reach the topics.
	want := map[string]map[string]bool{"alert": groundTruth(emu, "alert"), "event": groundTruth(emu, "event")}
	var got map[string]map[string]int
	waitUntil(t, 90*time.Second, "every served id in the sink topics", func() bool {
		got = map[string]map[string]int{}
		for st := range want {
			got[st] = topicKeys(t, brokers, run+"-"+st)
			for id := range want[st] {
				if got[st][id] == 0 {
					return false
				}
			}
		}
		return true
	})
	for _, n := range []string{"a", "c", "d"} {
		procs[n].cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range []string{"a", "c", "d"} {
		if err := procs[n].cmd.Wait(); err != nil {
			t.Errorf("member %s: %v after SIGTERM", n, err)
		}
		delete(procs, n)
	}
	repeats := 0
	for st := range got {
		for _, c := range got[st] {
			repeats += c - 1
		}
	}
	// One kill: at most the killed member's in-flight pages (≤ 1000 items each) repeat.
	if limit := inflight * 1000; repeats > limit {
		t.Errorf("%d repeats after one SIGKILL, more than %d in-flight pages allow", repeats, inflight)
	}
	t.Logf("%d alert and %d event ids delivered, %d repeats", len(got["alert"]), len(got["event"]), repeats)
}

// topicKeys counts the message keys (record ids) of a one-partition topic.
func topicKeys(t *testing.T, brokers, topic string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialLeader(ctx, "tcp", brokers, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	end, err := conn.ReadLastOffset()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{brokers}, Topic: topic, Partition: 0, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	for off := int64(0); off < end; {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s at %d of %d: %v", topic, off, end, err)
		}
		out[string(m.Key)]++
		off = m.Offset + 1
	}
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// TestClusterValidate: validate shows the cluster; file and stdout sinks
// (the seed's included) are refused with the reason; -once is refused.
func TestClusterValidate(t *testing.T) {
	emu, err := emulator.New(emulator.Options{ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	const clusterBlock = "cluster:\n  brokers: [127.0.0.1:9]\n  group: sc-prod\n"
	const kafkaSink = "sinks:\n  - name: bus\n    type: kafka\n    brokers: [127.0.0.1:9]\n    topic: sophos-${stream}\n"
	ctx := context.Background()

	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "txt_file_creation: false\njson_file_creation: false\n"+clusterBlock+kafkaSink)
	code, out, errOut := runApp(t, ctx, "validate", "-c", cfg)
	if code != 0 || !strings.Contains(out, "cluster: group sc-prod on 127.0.0.1:9, 64 partitions (topic sc-prod-coordination), checkpoints in sc-prod-checkpoints") {
		t.Fatalf("validate: %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runApp(t, ctx, "-c", cfg, "-once")
	if code != 2 || !strings.Contains(errOut, "-once is not supported in distributed mode") {
		t.Errorf("-once in distributed mode: %d %s", code, errOut)
	}

	dir = t.TempDir()
	cfg = writeConfig(t, dir, emu, "txt_file_creation: true\njson_file_creation: false\n"+clusterBlock+
		"sinks:\n  - name: out\n    type: stdout\n")
	code, _, errOut = runApp(t, ctx, "validate", "-c", cfg)
	for _, want := range []string{
		"txt_file_creation: true (the seed's file sink seed-alerts-txt): a txt sink cannot run in distributed mode",
		"set txt_file_creation: false",
		"sinks[0].type: a stdout sink cannot run in distributed mode",
		"use a network sink",
	} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("validate: exit %d, want 2 and %q in:\n%s", code, want, errOut)
		}
	}
}

// TestClusterStateShowReset: in distributed mode `state show` reads the
// checkpoint topic and `state reset` writes tombstones — refused while a
// member is in the group.
func TestClusterStateShowReset(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := kc.ListenAddrs()[0]
	emu, err := emulator.New(emulator.Options{ClientID: testClientID, ClientSecret: testClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, fmt.Sprintf("txt_file_creation: false\njson_file_creation: false\ncluster:\n  brokers: [%s]\n  group: st\n  partitions: 4\n", brokers)+
		"sinks:\n  - name: bus\n    type: kafka\n    brokers: [127.0.0.1:9]\n    topic: x\n")
	ctx := context.Background()

	code, out, errOut := runApp(t, ctx, "state", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "no checkpoints in topic st-checkpoints") {
		t.Fatalf("state show before any run: %d %s %s", code, out, errOut)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers)}
	if _, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: "st-checkpoints", NumPartitions: 1, ReplicationFactor: 1}}}); err != nil {
		t.Fatal(err)
	}
	saved := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	rec := func(k, v string) kafka.Record {
		return kafka.Record{Key: kafka.NewBytes([]byte(k)), Value: kafka.NewBytes([]byte(v))}
	}
	if _, err := client.Produce(ctx, &kafka.ProduceRequest{Topic: "st-checkpoints", RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(
		rec("tenant-a/event", `{"cursor":"old","saved_at":"`+saved+`"}`),
		rec("tenant-a/event", `{"cursor":"cur-a","saved_at":"`+saved+`","tenant_name":"Acme","member":"m1","generation":3}`),
		rec("tenant-b/alert", `{"cursor":"cur-b","saved_at":"`+saved+`"}`))}); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runApp(t, ctx, "state", "show", "-c", cfg)
	if code != 0 || !strings.Contains(out, "tenant-a") || !strings.Contains(out, "cur-a") || strings.Contains(out, "old") || !strings.Contains(out, "Acme") || !strings.Contains(out, "cur-b") {
		t.Fatalf("state show: %d\n%s", code, out)
	}

	// A running member: the reset is refused.
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{ID: "st", Brokers: []string{brokers}, Topics: []string{"st-checkpoints"}})
	if err != nil {
		t.Fatal(err)
	}
	gctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	if _, err := cg.Next(gctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	code, _, errOut = runApp(t, ctx, "state", "reset", "tenant-a", "-c", cfg)
	if code == 0 || !strings.Contains(errOut, "running member(s): stop every member first") {
		t.Errorf("reset with a running member: %d %s", code, errOut)
	}
	cg.Close()

	code, out, errOut = runApp(t, ctx, "state", "reset", "tenant-a", "-c", cfg)
	if code != 0 || !strings.Contains(out, "removed 1 checkpoint(s) from topic st-checkpoints") {
		t.Fatalf("reset: %d %s %s", code, out, errOut)
	}
	code, out, _ = runApp(t, ctx, "state", "show", "-c", cfg)
	if code != 0 || strings.Contains(out, "tenant-a") || !strings.Contains(out, "tenant-b") {
		t.Errorf("state show after the reset: %d\n%s", code, out)
	}
}
