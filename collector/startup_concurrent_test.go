package collector

import (
	"context"
	"testing"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

type concurrentSink struct{ n int }

func (concurrentSink) Start(context.Context) error                     { return nil }
func (concurrentSink) Close() error                                    { return nil }
func (concurrentSink) Write(context.Context, []*pipeline.Record) error { return nil }
func (s concurrentSink) ConcurrentBatches() int                        { return s.n }

type plainSink struct{ concurrentSink }

func (plainSink) ConcurrentBatches() {} // not pipeline.ConcurrentSink's method

// The start-up wrapper every sink runs in passes the sink's own
// ConcurrentBatches to the pipeline: without it every HTTP sink would be
// written one batch at a time.
func TestStartRetryPassesConcurrentBatches(t *testing.T) {
	if n := pipeline.ConcurrentBatches(&startRetry{Sink: concurrentSink{8}}); n != 8 {
		t.Fatalf("wrapped ConcurrentSink: %d batches at once, want 8", n)
	}
	if n := pipeline.ConcurrentBatches(&startRetry{Sink: plainSink{}}); n != 1 {
		t.Fatalf("wrapped plain sink: %d batches at once, want 1", n)
	}
}
