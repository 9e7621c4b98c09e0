package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

func rec(t testing.TB, stream pipeline.Stream, id string, created time.Time) pipeline.Record {
	r, err := pipeline.NewRecord(stream, "t1", []byte(fmt.Sprintf(`{"id":%q,"created_at":%q}`, id, created.UTC().Format(time.RFC3339Nano))))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPageSettledCountsPerHourAndSink: ids and counts land in the hour of
// created_at; per sink, routed and delivered; a gap record is not counted.
func TestPageSettledCountsPerHourAndSink(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	l, err := Open(t.TempDir(), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	page := &pipeline.Page{Partition: pipeline.Partition{Tenant: "t1", Stream: pipeline.Alerts}, APITime: now}
	page.Records = []pipeline.Record{rec(t, pipeline.Alerts, "a1", now.Add(-2*time.Hour)), rec(t, pipeline.Alerts, "a2", now.Add(-2*time.Hour)), rec(t, pipeline.Alerts, "a3", now)}
	out := []*pipeline.Record{&page.Records[0], &page.Records[1], &page.Records[2]}
	out[0].MarkDeliveredBy(0)
	out[1].MarkDeliveredBy(0) // a2: sink 1 dead-lettered it
	out[2].MarkDeliveredBy(0)
	out[2].MarkDeliveredBy(1)
	out[0].MarkDeliveredBy(1)
	l.PageSettled(pipeline.NewSettledPage(page, out, []string{"siem", "files"}, []pipeline.Routes{{}, {}}))
	// A repeat of a1 (a page pulled again after a crash) is kept once.
	page2 := &pipeline.Page{Partition: page.Partition, APITime: now, Records: []pipeline.Record{rec(t, pipeline.Alerts, "a1", now.Add(-2*time.Hour))}}
	l.PageSettled(pipeline.NewSettledPage(page2, nil, []string{"siem", "files"}, []pipeline.Routes{{}, {}}))

	es, err := l.Load("t1", now.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("%d entries, want one per hour: %+v", len(es), es)
	}
	e := es[0]
	if e.Time() != now.Add(-2*time.Hour).Truncate(time.Hour) || e.Read != 3 || len(e.IDs) != 2 {
		t.Fatalf("first hour %+v", e)
	}
	if e.Sinks[0] != (SinkCount{"siem", 2, 2}) || e.Sinks[1] != (SinkCount{"files", 2, 1}) {
		t.Fatalf("per sink %+v", e.Sinks)
	}
	if es[1].Read != 1 || es[1].IDs[0] != HashID("a3") {
		t.Fatalf("second hour %+v", es[1])
	}
}

// TestCompactDropsOldHoursAndRepairsATornTail: hours beyond 48 h go, each
// (stream, hour) becomes one entry, a torn last frame is cut.
func TestCompactDropsOldHoursAndRepairsATornTail(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	l, _ := Open(t.TempDir(), func() time.Time { return now })
	h := now.Unix() / 3600
	for i := range 3 {
		if err := l.Append("t1", []Entry{{Hour: h - 50, Stream: "event", Read: 1}, {Hour: h - 1, Stream: "event", Read: uint64(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := os.OpenFile(l.file("t1"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{40, 1, 2}) // a frame cut short
	f.Close()
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(l.file("t1"))
	es, clean := decodeAll(data)
	if !clean || len(es) != 1 || es[0].Read != 6 || es[0].Hour != h-1 {
		t.Fatalf("after compaction: clean %v, %+v", clean, es)
	}
	// A file with only old hours is removed.
	l.Append("t2", []Entry{{Hour: h - 49, Stream: "alert", Read: 1}})
	l.Compact()
	if _, err := os.Stat(l.file("t2")); !os.IsNotExist(err) {
		t.Fatal("a file with nothing in 48 h stays")
	}
}

// BenchmarkLedger10kTenants48h measures the ledger at MSP scale: 10,000
// tenants, 48 hours, each hour per tenant one alerts entry with 3 alert ids
// and one events entry (counts only), 2 sinks, written as 2 pages per
// stream-hour and compacted. It reports the disk bytes after compaction,
// per tenant, and the heap the writer and a one-tenant load keep.
//
//	go test -run XXX -bench BenchmarkLedger10kTenants48h -benchtime 1x ./ledger/
func BenchmarkLedger10kTenants48h(b *testing.B) {
	const tenants, hours = 10_000, 48
	for range b.N {
		dir := b.TempDir()
		now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
		l, _ := Open(dir, func() time.Time { return now })
		h0 := now.Unix()/3600 - hours + 1
		sinks := []SinkCount{{"siem", 50, 50}, {"archive", 50, 50}}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		for t := range tenants {
			id := fmt.Sprintf("%08x-0000-4000-8000-%012x", t, t)
			var es []Entry
			for h := range int64(hours) {
				for page := range 2 {
					es = append(es,
						Entry{Hour: h0 + h, Stream: "alert", Read: 2, Sinks: []SinkCount{{"siem", 2, 2}, {"archive", 2, 2}},
							IDs: []uint64{HashID(fmt.Sprint(t, h, page, 0)), HashID(fmt.Sprint(t, h, page, 1))}[:1+page]},
						Entry{Hour: h0 + h, Stream: "event", Read: 50, Sinks: sinks})
				}
			}
			if err := l.Append(id, es); err != nil {
				b.Fatal(err)
			}
		}
		writeTime := time.Since(start)
		raw := dirBytes(b, filepath.Join(dir, Dir))
		start = time.Now()
		if err := l.Compact(); err != nil {
			b.Fatal(err)
		}
		compactTime := time.Since(start)
		disk := dirBytes(b, filepath.Join(dir, Dir))
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		es, err := l.Load(fmt.Sprintf("%08x-0000-4000-8000-%012x", 7, 7), now.Add(-hours*time.Hour))
		if err != nil || len(es) != 2*hours || len(es[0].IDs) != 3 {
			b.Fatalf("load: %v, %d entries", err, len(es))
		}
		b.ReportMetric(float64(disk)/(1<<20), "MiB-on-disk")
		b.ReportMetric(float64(disk)/tenants, "B/tenant")
		b.ReportMetric(float64(raw)/(1<<20), "MiB-before-compaction")
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "MiB-heap-growth")
		b.ReportMetric(writeTime.Seconds(), "s-write")
		b.ReportMetric(compactTime.Seconds(), "s-compact")
	}
}

func dirBytes(b *testing.B, dir string) int64 {
	des, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			b.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
