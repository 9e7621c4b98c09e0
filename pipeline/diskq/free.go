package diskq

import (
	"fmt"
	"os"
	"path/filepath"
)

// freeDrainedBytes is how many delivered bytes the write segment may keep
// once everything is acknowledged. Sealed segments are deleted as soon as
// they are delivered, but the segment taking appends only rotates when it
// fills; emptying it costs a rename and two fsyncs (a third of the
// throughput of a queue that is always caught up), so it is done when it
// frees something worth it — and, once an append has failed (how a full
// disk shows), at every drain for the rest of the run: there the delivered
// bytes are the space the next append needs. (Without this the queue stayed
// stuck for good, also across restarts.) Open empties a drained write
// segment whatever it holds.
const freeDrainedBytes = 1 << 20

// freeDrained empties the write segment when every entry is acknowledged
// and it holds enough delivered bytes (or an append failed since).
func (q *Queue) freeDrained() error {
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	q.readMu.Lock()
	defer q.readMu.Unlock()
	q.mu.Lock()
	ok := q.drainedLocked(freeDrainedBytes) && q.segs[0] == q.w.seg && q.w.f != nil
	q.mu.Unlock()
	if !ok {
		return nil
	}
	return q.emptyWriteSegment()
}

// drainedLocked says whether the write segment is the only one, holds only
// acknowledged entries, nothing is read and unacknowledged, and it holds at
// least delivered bytes (any, after a failed append).
func (q *Queue) drainedLocked(least int64) bool {
	if q.closed || q.failed != nil || len(q.segs) != 1 {
		return false
	}
	s := q.segs[0]
	if q.acked != q.lastSeq || len(q.inflight) > 0 || s.size <= segHeaderSize {
		return false
	}
	return q.appendFailed || s.size-segHeaderSize >= least
}

// emptyWriteSegment renames the drained write segment after the next
// sequence number and cuts it back to its header. Called with writeMu and
// readMu held (or from Open), after the ack position is on disk.
//
// The rename comes first: a crash after it leaves a file whose name is
// above every entry in it, all acknowledged, which Open reads as delivered
// even when the ack file is lost; a crash after the truncation leaves an
// empty segment. Either way no sequence number is used twice and nothing
// is counted lost.
func (q *Queue) emptyWriteSegment() error {
	q.mu.Lock()
	s := q.w.seg
	next := q.lastSeq + 1
	q.mu.Unlock()
	newName := segName(next)
	oldPath, newPath := filepath.Join(q.dir, s.name), filepath.Join(q.dir, newName)

	// Files are closed across the rename: Windows refuses to rename an open file.
	q.r.close()
	if err := q.w.f.Close(); err != nil {
		q.w.f = nil
		return q.fail(fmt.Errorf("close %s: %w", s.name, err))
	}
	q.w.f = nil
	name := s.name
	if newName != s.name {
		if err := os.Rename(oldPath, newPath); err != nil {
			// Nothing changed on disk: keep appending to the old file.
			f, oerr := os.OpenFile(oldPath, os.O_RDWR, 0o600)
			if oerr != nil {
				return q.fail(fmt.Errorf("reopen %s after a failed rename (%v): %w", s.name, err, oerr))
			}
			q.w.f = f
			return fmt.Errorf("diskq: free delivered segment %s: %w", s.name, err)
		}
		if err := syncDir(q.dir); err != nil {
			return q.fail(err)
		}
		name = newName
	}
	f, err := os.OpenFile(filepath.Join(q.dir, name), os.O_RDWR, 0o600)
	if err != nil {
		return q.fail(fmt.Errorf("reopen %s: %w", name, err))
	}
	q.w.f = f
	if err := f.Truncate(segHeaderSize); err != nil {
		return q.fail(fmt.Errorf("truncate %s: %w", name, err))
	}
	if err := f.Sync(); err != nil {
		return q.fail(fmt.Errorf("fsync %s: %w", name, err))
	}

	q.mu.Lock()
	q.total -= s.size - segHeaderSize
	s.base, s.name, s.size, s.lastSeq, s.skips = next, name, segHeaderSize, 0, nil
	start := cursor{next, segHeaderSize}
	q.ackAt, q.rcur, q.r.cur = start, start, start
	q.mu.Unlock()
	q.w.size, q.w.dirty = segHeaderSize, false
	return nil
}

// fail stops appends until the queue is reopened (which scans the files
// again): what the segment holds on disk is not known any more.
func (q *Queue) fail(err error) error {
	return q.setFailed(fmt.Errorf("emptying the delivered write segment failed: %w", err))
}

// setFailed stops appends until the queue is reopened: Append returns the
// cause wrapped in ErrFailed (the first cause stays). Reads and acks go on.
func (q *Queue) setFailed(cause error) error {
	err := fmt.Errorf("diskq %s: %w: %w", q.dir, cause, ErrFailed)
	q.mu.Lock()
	if q.failed == nil {
		q.failed = err
	}
	q.mu.Unlock()
	q.log.Error("disk buffer: no more appends until it is reopened", "dir", q.dir, "err", cause)
	return err
}

// InjectFault puts the queue in the state a disk fault leaves (appends
// return ErrFailed until it is reopened), for the tests of code that must
// recover from one (pipeline/buffer): a real fault cannot be made on demand.
func (q *Queue) InjectFault(cause error) { q.setFailed(cause) }
