package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// outagePeer is a network destination that can be taken down and brought
// back, and asked which record ids it holds.
type outagePeer interface {
	sinkYAML() string
	down(t *testing.T)
	up(t *testing.T)
	received(t *testing.T) map[string]int // record id (stream/id) -> copies
}

// runOutage drives one destination through an outage with buffer: disk:
//  1. everything is delivered while it is up;
//  2. while it is down a -once run still delivers new items to the other
//     sinks (the seed's JSON files) and commits its checkpoints;
//  3. while it is down a continuous collector is SIGKILLed mid-run;
//  4. once it is back, a -once run drains the buffer: it has every record.
func runOutage(t *testing.T, peer outagePeer) {
	bin := buildBinary(t)
	emu := newEmu(t, emulator.Options{Seed: 21, Events: 1500, Alerts: 150})
	dir := t.TempDir()
	cfg := writeConfig(t, dir, emu, "sinks:\n"+peer.sinkYAML())
	ctx := ctxT(t)
	tenant := emu.TenantIDs()[0]

	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("run while up: %s", e)
	}
	cpBefore, _ := os.ReadFile(filepath.Join(dir, "state", "checkpoints.json"))

	peer.down(t)
	emu.AddItems(tenant, "event", 400)
	emu.AddItems(tenant, "alert", 20)
	// Completed, records buffered on disk: exit 3, naming them.
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != exitIncomplete || !strings.Contains(e, "remain in disk buffers") {
		t.Fatalf("-once while the destination is down must complete with exit 3 (records in the disk buffer), got %d: %s", code, e)
	}
	// The other sinks kept receiving and the checkpoint moved on.
	assertExactlyOnce(t, "json events during the outage", jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json")), groundTruth(emu, "event"))
	if cpAfter, _ := os.ReadFile(filepath.Join(dir, "state", "checkpoints.json")); bytes.Equal(cpBefore, cpAfter) {
		t.Fatal("the checkpoint did not advance while one sink was down")
	}

	// A crash while down: items keep arriving, the collector is killed.
	emu.AddItems(tenant, "event", 300)
	want := len(groundTruth(emu, "event"))
	cmd := exec.Command(bin, "-c", cfg)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(jsonArrayIDsLenient(filepath.Join(dir, "sophos_events.json"))) < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	peer.up(t)
	if code, _, e := runApp(t, ctx, "-c", cfg, "-once"); code != 0 {
		t.Fatalf("run after recovery: %s", e)
	}
	got := peer.received(t)
	missing := 0
	for _, st := range []string{"event", "alert"} {
		for id := range groundTruth(emu, st) {
			if got[st+"/"+id] == 0 {
				missing++
			}
		}
	}
	if missing > 0 {
		dl, _ := os.ReadFile(filepath.Join(dir, "state", "dead-letter.ndjson"))
		var sample []string
		for _, st := range []string{"event", "alert"} {
			for id := range groundTruth(emu, st) {
				if got[st+"/"+id] == 0 && len(sample) < 5 {
					sample = append(sample, st+"/"+id)
				}
			}
		}
		entries, _ := os.ReadDir(filepath.Join(dir, "state", "buffer"))
		first := string(dl)
		if i := strings.IndexByte(first, '\n'); i > 0 {
			first = first[:i]
		}
		if len(first) > 600 {
			first = first[:600]
		}
		t.Logf("missing e.g. %v; dead letters: %d bytes (first: %s); buffers: %v", sample, len(dl), first, entries)
		t.Fatalf("%d records never reached the destination after its outage (%d received)", missing, len(got))
	}
	assertExactlyOnceOrMore(t, "json events", jsonArrayIDs(t, filepath.Join(dir, "sophos_events.json")), groundTruth(emu, "event"))
}

// jsonArrayIDsLenient reads the array file while a collector may be writing it.
func jsonArrayIDsLenient(path string) map[string]int {
	b, _ := os.ReadFile(path)
	var items []struct{ ID string }
	if json.Unmarshal(b, &items) != nil {
		return nil
	}
	ids := map[string]int{}
	for _, it := range items {
		ids[it.ID]++
	}
	return ids
}

func assertExactlyOnceOrMore(t *testing.T, what string, got map[string]int, want map[string]bool) {
	t.Helper()
	for id := range want {
		if got[id] == 0 {
			t.Fatalf("%s: %s missing", what, id)
		}
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sophos-connect-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "sophos-connect")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// recordKey reads the stream and id of a record encoded with format raw.
func recordKey(raw []byte) (string, bool) {
	var m struct {
		ID         string `json:"id"`
		Datastream string `json:"datastream"`
	}
	if json.Unmarshal(raw, &m) != nil || m.ID == "" {
		return "", false
	}
	return m.Datastream + "/" + m.ID, true
}

// --- Kafka (kfake, restarted on the same port and data directory) ---

type kafkaPeer struct {
	port    int
	dataDir string
	c       *kfake.Cluster
}

func newKafkaPeer(t *testing.T) *kafkaPeer {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &kafkaPeer{port: port, dataDir: t.TempDir()}
	p.up(t)
	t.Cleanup(func() {
		if p.c != nil {
			p.c.Close()
		}
	})
	return p
}

func (p *kafkaPeer) sinkYAML() string {
	return fmt.Sprintf(`  - name: bus
    type: kafka
    brokers: [127.0.0.1:%d]
    topic: sophos
    format: raw
    write_timeout: 2s
    buffer: {type: disk}
    retry: {initial: 50ms, max: 200ms}
`, p.port)
}

func (p *kafkaPeer) up(t *testing.T) {
	c, err := kfake.NewCluster(kfake.Ports(p.port), kfake.SeedTopics(3, "sophos"), kfake.DataDir(p.dataDir))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	p.c = c
}

func (p *kafkaPeer) down(t *testing.T) {
	p.c.Close()
	p.c = nil
}

func (p *kafkaPeer) received(t *testing.T) map[string]int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(fmt.Sprintf("127.0.0.1:%d", p.port)), Transport: tr, Timeout: 10 * time.Second}
	md, err := cl.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{"sophos"}})
	if err != nil || len(md.Topics) != 1 {
		t.Fatalf("metadata: %v", err)
	}
	out := map[string]int{}
	for _, part := range md.Topics[0].Partitions {
		for offset := int64(0); ; {
			res, err := cl.Fetch(ctx, &kafkago.FetchRequest{Topic: "sophos", Partition: part.ID, Offset: offset, MaxBytes: 8 << 20, MaxWait: 10 * time.Millisecond})
			if err != nil || res.Error != nil {
				t.Fatalf("fetch: %v %v", err, res.Error)
			}
			if offset >= res.HighWatermark {
				break
			}
			for {
				rec, err := res.Records.ReadRecord()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				v, _ := kafkago.ReadAll(rec.Value)
				if k, ok := recordKey(v); ok && rec.Offset >= offset {
					out[k]++
				}
				if rec.Offset >= offset {
					offset = rec.Offset + 1
				}
			}
		}
	}
	return out
}

func TestOutageKafkaDiskBuffer(t *testing.T) { runOutage(t, newKafkaPeer(t)) }

// --- Elasticsearch (the in-repo bulk API server answering 503 while down) ---

type esPeer struct{ s *elasticsearchtest.Server }

func newESPeer(t *testing.T) *esPeer {
	s := elasticsearchtest.New(elasticsearchtest.Options{})
	t.Cleanup(s.Close)
	return &esPeer{s: s}
}

func (p *esPeer) sinkYAML() string {
	return fmt.Sprintf(`  - name: search
    type: elasticsearch
    addresses: [%s]
    index: sophos-${stream}
    format: ecs
    buffer: {type: disk}
    retry: {initial: 50ms, max: 200ms}
`, p.s.URL)
}

func (p *esPeer) down(t *testing.T) { p.s.SetFaults(elasticsearchtest.Faults{Request503Rate: 1}) }
func (p *esPeer) up(t *testing.T)   { p.s.SetFaults(elasticsearchtest.Faults{}) }

func (p *esPeer) received(t *testing.T) map[string]int {
	out := map[string]int{}
	for _, st := range []pipeline.Stream{pipeline.Events, pipeline.Alerts} {
		for id := range p.s.Docs("sophos-" + string(st)) {
			out[string(st)+"/"+id]++
		}
	}
	return out
}

func TestOutageElasticsearchDiskBuffer(t *testing.T) { runOutage(t, newESPeer(t)) }

// --- syslog (a real rsyslogd, killed and restarted on the same port) ---

type rsyslogPeer struct {
	bin, dir, conf, out string
	port                int
	cmd                 *exec.Cmd
}

func newRsyslogPeer(t *testing.T) *rsyslogPeer {
	bin, err := exec.LookPath("rsyslogd")
	if err != nil {
		bin = "/usr/sbin/rsyslogd"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("rsyslogd is not installed: .ci/run installs it with apt-get install rsyslog")
			}
			t.Skip("rsyslogd is not installed (apt-get install rsyslog)")
		}
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	p := &rsyslogPeer{bin: bin, dir: dir, conf: filepath.Join(dir, "rsyslog.conf"), out: filepath.Join(dir, "received.log"), port: port}
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="64k")
module(load="imtcp")
template(name="msg" type="string" string="%%msg%%\n")
ruleset(name="in") { action(type="omfile" file=%q template="msg") }
input(type="imtcp" address="127.0.0.1" port="%d" ruleset="in")
`, dir, p.out, port)
	if err := os.WriteFile(p.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p.up(t)
	t.Cleanup(func() { p.down(t) })
	return p
}

func (p *rsyslogPeer) sinkYAML() string {
	return fmt.Sprintf(`  - name: siem
    type: syslog
    address: tcp://127.0.0.1:%d
    format: raw
    buffer: {type: disk}
    retry: {initial: 50ms, max: 200ms}
`, p.port)
}

func (p *rsyslogPeer) up(t *testing.T) {
	cmd := exec.Command(p.bin, "-n", "-f", p.conf, "-i", filepath.Join(p.dir, "pid"))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("rsyslogd did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// down stops rsyslogd cleanly (SIGTERM: it writes out what it accepted).
// A SIGKILL would lose the receiver's in-memory queue, which no syslog
// sender can detect: plain syslog has no acknowledgement (sinks/syslog's
// README). The syslog sink's own tests kill the receiver mid-stream.
func (p *rsyslogPeer) down(t *testing.T) {
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		p.cmd.Wait()
		p.cmd = nil
	}
}

func (p *rsyslogPeer) received(t *testing.T) map[string]int {
	// rsyslog writes asynchronously: wait until the file stops growing.
	var last int64 = -1
	for i := 0; i < 100; i++ {
		st, _ := os.Stat(p.out)
		if st != nil && st.Size() == last {
			break
		}
		if st != nil {
			last = st.Size()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(p.out)
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, ok := recordKey([]byte(strings.TrimSpace(line))); ok {
			out[k]++
		}
	}
	return out
}

func TestOutageSyslogDiskBuffer(t *testing.T) { runOutage(t, newRsyslogPeer(t)) }
