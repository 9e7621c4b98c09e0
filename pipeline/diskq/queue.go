package diskq

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// SyncPolicy says when appended entries are fsynced.
type SyncPolicy int

const (
	// SyncAlways fsyncs before Append returns: an entry Append accepted
	// survives a crash of the process or the machine. The default, since
	// the pipeline counts a record as delivered once it is in the buffer.
	SyncAlways SyncPolicy = iota
	// SyncInterval fsyncs every Options.SyncEvery: faster, but a machine
	// crash (not a process crash) may lose the last interval's entries.
	SyncInterval
)

// FullPolicy says what Append does when MaxBytes would be exceeded.
type FullPolicy int

const (
	// Block waits until acknowledgements free enough space (or ctx ends).
	Block FullPolicy = iota
	// DropNewest refuses the batch with ErrFull; the caller counts and
	// dead-letters it.
	DropNewest
)

// ParseFullPolicy reads the config value "block" or "drop_newest".
func ParseFullPolicy(s string) (FullPolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "block":
		return Block, nil
	case "drop_newest":
		return DropNewest, nil
	}
	return 0, fmt.Errorf("when_full %q: want block or drop_newest", s)
}

// Defaults.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultSyncEvery    = time.Second
	minSegmentBytes     = 256
)

// Options configure a Queue; the zero value is usable (no size cap, 64 MiB
// segments, SyncAlways, Block).
type Options struct {
	// MaxBytes caps the buffered (not yet acknowledged) bytes, frames
	// included; 0 means no cap. Files may hold up to one more segment of
	// acknowledged entries, deleted when their segment is complete.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file is started; a
	// single entry larger than that gets a segment of its own.
	SegmentBytes int64
	Sync         SyncPolicy
	SyncEvery    time.Duration // for SyncInterval; default 1s
	WhenFull     FullPolicy
	Log          *slog.Logger // default: discard
}

var (
	// ErrFull is returned by Append under DropNewest when the batch does not fit.
	ErrFull = errors.New("diskq: buffer full")
	// ErrTooLarge is returned by Append for an entry above MaxEntryBytes or a
	// batch larger than MaxBytes (it could never fit: split it).
	ErrTooLarge = errors.New("diskq: too large")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("diskq: queue closed")
	// ErrFailed is returned by Append after a disk fault left the files in a
	// state only a new Open can read (a failed fsync, a write that could not
	// be rolled back, a failed emptying of the write segment): close the
	// queue and open it again.
	ErrFailed = errors.New("diskq: unusable until reopened")
	// ErrLocked is returned by Open when another queue holds the directory.
	ErrLocked = errors.New("diskq: directory in use")
)

// Entry is one buffered payload and its position in the log.
type Entry struct {
	Pos     uint64 // sequence number: grows by one per appended entry, never reused
	Payload []byte // a copy owned by the caller
}

// Stats is a snapshot of the queue's state.
type Stats struct {
	Bytes     int64  // bytes after the acknowledged position (what MaxBytes caps)
	Entries   int64  // entries not yet acknowledged
	Unread    int64  // of those, entries not yet returned by Read/Next
	DiskBytes int64  // size of all segment files
	Segments  int    // segment files
	Acked     uint64 // acknowledged position
	Last      uint64 // position of the last appended entry (0: none yet)
	Lost      int64  // entries found damaged while reading since Open (Recovery has the rest)
}

type segment struct {
	base    uint64 // first sequence number written to it: its file name
	name    string
	size    int64  // bytes published (readable)
	lastSeq uint64 // highest sequence number in it; 0 when none
	skips   []span // damaged spans found on Open, left in place (mid-segment)
	sealed  bool   // no more appends
}

type span struct{ start, end int64 }

type seqRange struct{ from, to uint64 } // inclusive

// cursor is a place in the log: a segment (by base) and a byte offset.
type cursor struct {
	seg uint64
	off int64
}

type inflight struct {
	seq uint64
	end cursor // just after the entry
}

// Queue is a durable FIFO of byte payloads in a directory of segment
// files. One goroutine may Append while another reads (Read/Next), acks and
// rewinds; Stats and Close may be called from anywhere.
type Queue struct {
	dir  string
	opts Options
	log  *slog.Logger
	rec  Recovery
	lock *os.File

	appendMu sync.Mutex // one Append at a time, held while waiting for space
	writeMu  sync.Mutex // file writes, rotation and fsync
	w        writer     // under writeMu

	readMu sync.Mutex // one Read/Next/Rewind at a time
	r      reader     // under readMu

	ackMu     sync.Mutex // ack file writes
	ack       *ackFile
	ackSynced uint64 // position last written to the ack file (under ackMu)

	mu       sync.Mutex
	segs     []*segment // oldest first; the last one takes appends
	lastSeq  uint64     // last published sequence number
	acked    uint64
	ackAt    cursor     // just after the acked entry
	lastRead uint64     // last sequence number returned by Read
	rcur     cursor     // reader position (copy of r.cur, for deletion)
	inflight []inflight // read, not yet acked
	lost     []seqRange // lost sequence numbers above acked
	lostRun  int64
	total    int64 // sum over segs of size - header
	closed   bool
	failed   error // a write could not be rolled back: the queue stops taking appends
	// appendFailed: an append was rolled back (a full disk, typically):
	// from then on the write segment is emptied at every drain.
	appendFailed bool
	dataCh       chan struct{} // closed and replaced when entries are published
	spaceCh      chan struct{} // closed and replaced when entries are acked
	closedCh     chan struct{}

	stopSync chan struct{}
	syncDone chan struct{}
}

// Recovery reports what Open found. A clean open has no Damage.
func (q *Queue) Recovery() Recovery { return q.rec }

// Dir is the queue's directory.
func (q *Queue) Dir() string { return q.dir }

// Stats returns a snapshot.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	var disk int64
	for _, s := range q.segs {
		disk += s.size
	}
	entries := q.pendingEntriesLocked()
	unread := int64(q.lastSeq-max(q.lastRead, q.acked)) - lostAbove(q.lost, max(q.lastRead, q.acked))
	return Stats{
		Bytes: q.pendingBytesLocked(), Entries: entries, Unread: max(unread, 0), DiskBytes: disk,
		Segments: len(q.segs), Acked: q.acked, Last: q.lastSeq, Lost: q.lostRun,
	}
}

func (q *Queue) pendingEntriesLocked() int64 {
	if q.lastSeq <= q.acked {
		return 0
	}
	return max(int64(q.lastSeq-q.acked)-lostAbove(q.lost, q.acked), 0)
}

func lostAbove(lost []seqRange, above uint64) int64 {
	var n int64
	for _, r := range lost {
		if r.to > above {
			n += int64(r.to - max(r.from, above+1) + 1)
		}
	}
	return n
}

// pendingBytesLocked is the number of bytes after ackAt.
func (q *Queue) pendingBytesLocked() int64 {
	var before int64
	for _, s := range q.segs {
		if s.base > q.ackAt.seg {
			break
		}
		if s.base == q.ackAt.seg {
			before += max(q.ackAt.off-segHeaderSize, 0)
			break
		}
		before += max(s.size-segHeaderSize, 0)
	}
	return q.total - before
}

// notifyLocked wakes everything waiting on ch and returns a fresh channel.
func notifyLocked(ch chan struct{}) chan struct{} {
	close(ch)
	return make(chan struct{})
}

// Close flushes and closes the files. Blocked Append and Next calls return
// ErrClosed. Close is idempotent.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	close(q.closedCh)
	q.mu.Unlock()

	if q.stopSync != nil {
		close(q.stopSync)
		<-q.syncDone
	}
	var errs []error
	q.writeMu.Lock()
	if q.w.f != nil {
		if q.w.dirty {
			errs = append(errs, q.w.f.Sync())
		}
		errs = append(errs, q.w.f.Close())
		q.w.f = nil
	}
	q.writeMu.Unlock()

	q.readMu.Lock()
	q.r.close()
	q.readMu.Unlock()

	errs = append(errs, q.persistAck())
	q.ackMu.Lock()
	errs = append(errs, q.ack.f.Close())
	q.ackMu.Unlock()
	errs = append(errs, q.lock.Close())
	return errors.Join(errs...)
}

// persistAck writes the acknowledged position if it moved since the last write.
func (q *Queue) persistAck() error {
	q.ackMu.Lock()
	defer q.ackMu.Unlock()
	q.mu.Lock()
	acked := q.acked
	q.mu.Unlock()
	if acked == q.ackSynced {
		return nil
	}
	if err := q.ack.write(acked); err != nil {
		return err
	}
	q.ackSynced = acked
	return nil
}

// syncLoop fsyncs the segment being written and the ack file every
// SyncEvery under SyncInterval, until Close.
func (q *Queue) syncLoop() {
	defer close(q.syncDone)
	t := time.NewTicker(q.opts.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-q.stopSync:
			return
		case <-t.C:
		}
		q.writeMu.Lock()
		if q.w.dirty && q.w.f != nil {
			if err := q.w.f.Sync(); err != nil {
				// As in write: after a failed fsync what is on disk is
				// unknown until Open scans it again.
				q.setFailed(fmt.Errorf("fsync failed: %w", err))
			} else {
				q.w.dirty = false
			}
		}
		q.writeMu.Unlock()
		if err := q.persistAck(); err != nil {
			q.log.Error("disk buffer: ack file write failed", "dir", q.dir, "err", err)
		}
	}
}
