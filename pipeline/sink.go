package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sink is a destination. It stays small — connect, write a batch, close —
// because the pipeline owns retries, buffering and the dead-letter file.
type Sink interface {
	// Start connects and checks the destination (a health check). An error
	// here stops start-up with a message naming the cause and the fix.
	Start(ctx context.Context) error
	// Write delivers a batch. nil means every record was delivered. Otherwise
	// a *BatchError names the records that failed (the rest were delivered);
	// any other error fails the whole batch. Failures wrapped with Permanent
	// are never retried: those records go to the dead-letter file.
	Write(ctx context.Context, batch []*Record) error
	// Close flushes and releases the connection.
	Close() error
}

// ConcurrentSink is a Sink that takes several Write calls at once. Its sink
// worker then has up to ConcurrentBatches batches in Write together, so a
// slow request of one batch does not hold up the next (a receiver far away
// spends most of a batch's time on the round trip). A sink that does not
// implement it — files, syslog, Kafka, stdout, whose output keeps the order
// of the batches — gets one Write at a time, the next only after the last
// returned.
//
// Batches may complete out of order; the pipeline still commits a page's
// cursor only once every record of it and of every earlier page of its
// partition is delivered or dead-lettered. The records of one Write are all
// from whole chunks of pages; a failed record is retried in its own batch,
// holding back only its pages.
type ConcurrentSink interface {
	Sink
	// ConcurrentBatches is how many batches may be in Write at once now; 1
	// or less is one at a time. The worker asks before each batch it
	// gathers while others are in Write, so the number may follow the
	// sink's load (an adaptive request limit).
	ConcurrentBatches() int
}

// ConcurrentBatches is how many batches s takes at once (1 unless it is a
// ConcurrentSink).
func ConcurrentBatches(s Sink) int {
	if c, ok := s.(ConcurrentSink); ok {
		return max(1, c.ConcurrentBatches())
	}
	return 1
}

// ItemError is the failure of one record of a batch.
type ItemError struct {
	Index int // position in the batch passed to Write
	Err   error
}

// BatchError reports per-record failures; records not listed were delivered.
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	if len(e.Items) == 0 {
		return "batch failed"
	}
	msg := fmt.Sprintf("%d record(s) failed", len(e.Items))
	if len(e.Items) > 0 {
		msg += ": " + e.Items[0].Err.Error()
	}
	return msg
}

// Add records the failure of batch[index].
func (e *BatchError) Add(index int, err error) { e.Items = append(e.Items, ItemError{index, err}) }

// ErrOrNil returns e when it holds a failure, else nil (an untyped nil error).
func (e *BatchError) ErrOrNil() error {
	if e == nil || len(e.Items) == 0 {
		return nil
	}
	return e
}

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the record is rejected to the
// dead-letter file with err as the reason.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Routes says which records a sink receives.
type Routes struct {
	Streams []Stream           // empty means every stream
	When    func(*Record) bool // optional condition; nil means all
	Desc    string             // the condition as written, for `validate`
}

// Accepts reports whether the route takes r.
func (rt Routes) Accepts(r *Record) bool {
	if len(rt.Streams) > 0 {
		ok := false
		for _, s := range rt.Streams {
			if s == r.Stream {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return rt.When == nil || rt.When(r)
}

func (rt Routes) String() string {
	var b strings.Builder
	if len(rt.Streams) == 0 {
		b.WriteString("streams: all")
	} else {
		b.WriteString("streams: ")
		for i, s := range rt.Streams {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(s.Plural())
		}
	}
	if rt.Desc != "" {
		b.WriteString("; when: " + rt.Desc)
	}
	return b.String()
}

type authFailure struct{ err error }

func (a authFailure) Error() string { return a.err.Error() }
func (a authFailure) Unwrap() error { return a.err }

// AuthFailure marks a start-up check the destination answered by refusing
// the sink's credentials or permissions (HTTP 401/403, a refused OAuth2
// token, Kafka SASL authentication or topic authorization failed). Retrying
// cannot help until the config changes, so a -once run fails at once instead
// of waiting for -timeout; a continuous run keeps retrying (the operator may
// fix the grant on the destination's side).
func AuthFailure(err error) error {
	if err == nil {
		return nil
	}
	return authFailure{err}
}

// IsAuthFailure reports whether err was marked with AuthFailure.
func IsAuthFailure(err error) bool {
	var a authFailure
	return errors.As(err, &a)
}
