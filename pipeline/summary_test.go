package pipeline

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPassSummaryAtInfo: continuous mode at INFO says what it does — one
// summary line per pass, or one per SummaryEvery when passes are faster —
// with tenants, records pulled, delivered per sink, dead letters and
// failures; a -once run ends with one.
func TestPassSummaryAtInfo(t *testing.T) {
	run := func(every time.Duration, passes int) []string {
		src := newListSource(2, 30, 10) // 2 tenants × 2 streams × 30 items
		dir := t.TempDir()
		cps, _ := OpenCheckpoints(dir)
		dlq, _ := OpenDeadLetter(dir)
		defer dlq.Close()
		var logs syncBuf
		n := 0
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := Run(ctx, Options{Source: src, Checkpoints: cps, DeadLetter: dlq, SummaryEvery: every, PullInterval: time.Millisecond,
			Log:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
			Sinks: []SinkSpec{{Name: "a", Sink: newRecordingSink(), Retry: fastRetry()}, {Name: "b", Sink: newRecordingSink(), Retry: fastRetry()}},
			NextPass: func() (bool, time.Duration) {
				n++
				return n < passes, time.Millisecond
			}})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "summary of the last") {
				lines = append(lines, l)
			}
		}
		return lines
	}
	lines := run(time.Nanosecond, 3)
	if len(lines) != 3 {
		t.Fatalf("%d summary lines for 3 passes, want one per pass:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	first := regexp.MustCompile(`level=INFO msg="summary of the last pass: 2 tenant\(s\), 120 record\(s\) pulled; delivered per sink: a \d+, b \d+; 0 dead-lettered, 0 dropped by stages; failures: none"`)
	if !first.MatchString(lines[0]) {
		t.Fatalf("first summary: %s", lines[0])
	}
	// Faster passes than SummaryEvery: one line, not one per pass.
	if lines := run(time.Hour, 5); len(lines) != 1 {
		t.Fatalf("%d summary lines for 5 fast passes with a 1 h interval, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
	}
}
