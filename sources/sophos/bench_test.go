package sophos

import (
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

// BenchmarkDecodePage decodes a 1000-item events page the emulator served,
// from memory: the client's per-page CPU cost.
func BenchmarkDecodePage(b *testing.B) {
	emu := newEmu(b, emulator.Options{Events: 5000, Alerts: 500})
	c, _ := newTestClient(b, emu, nil)
	tn := oneTenant(b, c)
	cl := c.siemCall(tn, pipeline.Events, "", ClampSince(c.cfg.Now().Add(-Window), c.cfg.Now()), SIEMOptions{})
	res, err := c.do(testCtx(b), cl)
	if err != nil {
		b.Fatal(err)
	}
	body := res.body
	p, err := decodePage(body, pipeline.Events, tn.ID, DefaultLimit)
	if err != nil || len(p.Records) != 1000 {
		b.Fatalf("%d records: %v", len(p.Records), err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := decodePage(body, pipeline.Events, tn.ID, DefaultLimit); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkFetchFromEmulator is SIEMPage end to end over loopback: request,
// emulator, body read, decode.
func BenchmarkFetchFromEmulator(b *testing.B) {
	emu := newEmu(b, emulator.Options{Events: 200000, Alerts: 1000})
	c, _ := newTestClient(b, emu, nil)
	tn := oneTenant(b, c)
	ctx := testCtx(b)
	pos := pipeline.Position{}
	var bytes, items int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := c.SIEMPage(ctx, tn, pipeline.Events, pos, SIEMOptions{})
		if err != nil {
			b.Fatal(err)
		}
		bytes += int64(p.Bytes)
		items += int64(len(p.Records))
		pos = pipeline.Position{Cursor: p.Cursor}
		if !p.HasMore {
			pos = pipeline.Position{}
		}
	}
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "pages/s")
	b.ReportMetric(float64(bytes)/secs/1e6, "MB/s")
	b.ReportMetric(float64(items)/secs, "items/s")
}
