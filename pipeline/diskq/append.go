package diskq

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writer is the append side's state, under Queue.writeMu.
type writer struct {
	f     *os.File
	seg   *segment // the segment f belongs to
	size  int64    // bytes written to f; seg.size is what is published
	dirty bool     // written since the last fsync
	buf   []byte
}

// touched is a segment file written by the Append in progress, with what
// rolling it back needs.
type touched struct {
	f        *os.File
	seg      *segment
	preSize  int64 // size before this Append
	endSize  int64 // size after it
	lastSeq  uint64
	created  bool
	rotated  bool // replaced by a newer segment during this Append
	wroteAny bool
}

// Append adds the payloads as consecutive entries. Under SyncAlways they
// are on stable storage when it returns nil. A batch goes in with one write
// per segment it touches; a crash in the middle leaves whole entries and a
// torn tail that Open cuts. When Append fails, none of the batch is kept.
//
// When MaxBytes would be exceeded, Append waits for Ack to free space
// (Block) or returns ErrFull (DropNewest); a batch that alone exceeds
// MaxBytes, or an entry above MaxEntryBytes, gets ErrTooLarge.
func (q *Queue) Append(ctx context.Context, payloads [][]byte) error {
	if len(payloads) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var need int64
	for i, p := range payloads {
		if len(p) > MaxEntryBytes {
			return fmt.Errorf("%w: entry %d has %d bytes (max %d)", ErrTooLarge, i, len(p), MaxEntryBytes)
		}
		need += frameSize(len(p))
	}
	if q.opts.MaxBytes > 0 && need > q.opts.MaxBytes {
		return fmt.Errorf("%w: a batch of %d bytes exceeds max_bytes %d: send smaller batches", ErrTooLarge, need, q.opts.MaxBytes)
	}
	q.appendMu.Lock()
	defer q.appendMu.Unlock()
	if err := q.waitSpace(ctx, need); err != nil {
		return err
	}
	q.writeMu.Lock()
	defer q.writeMu.Unlock()
	return q.write(payloads)
}

func (q *Queue) waitSpace(ctx context.Context, need int64) error {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return ErrClosed
		}
		if q.failed != nil {
			err := q.failed
			q.mu.Unlock()
			return err
		}
		pending := q.pendingBytesLocked()
		if q.opts.MaxBytes <= 0 || pending+need <= q.opts.MaxBytes {
			q.mu.Unlock()
			return nil
		}
		if q.opts.WhenFull == DropNewest {
			q.mu.Unlock()
			return fmt.Errorf("%w: %d bytes buffered, batch of %d, max_bytes %d", ErrFull, pending, need, q.opts.MaxBytes)
		}
		ch := q.spaceCh
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-q.closedCh:
			return ErrClosed
		}
	}
}

// write appends the frames, rotating segments on the way, then publishes
// them to the reader. Called with writeMu held.
func (q *Queue) write(payloads [][]byte) (err error) {
	q.mu.Lock()
	seq := q.lastSeq + 1
	q.mu.Unlock()

	ts := []touched{{f: q.w.f, seg: q.w.seg, preSize: q.w.size}}
	defer func() {
		if err != nil {
			q.rollback(ts, err)
		}
	}()
	cur := func() *touched { return &ts[len(ts)-1] }
	buf := q.w.buf[:0]
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		if _, err := q.w.f.WriteAt(buf, q.w.size); err != nil {
			return fmt.Errorf("write %s: %w", q.w.seg.name, err)
		}
		q.w.size += int64(len(buf))
		q.w.dirty = true
		buf = buf[:0]
		return nil
	}
	for _, p := range payloads {
		fs := frameSize(len(p))
		if used := q.w.size + int64(len(buf)); used+fs > q.opts.SegmentBytes && used > segHeaderSize {
			if err := flush(); err != nil {
				return err
			}
			if err := q.fsync(); err != nil { // a segment is sealed only once durable
				return err
			}
			t := cur()
			t.endSize, t.rotated = q.w.size, true
			seg, f, err := q.createSegment(seq)
			if err != nil {
				return err
			}
			ts = append(ts, touched{f: f, seg: seg, preSize: segHeaderSize, created: true})
			q.w.f, q.w.seg, q.w.size = f, seg, segHeaderSize
		}
		buf = appendFrame(buf, seq, p)
		cur().lastSeq, cur().wroteAny = seq, true
		seq++
	}
	if err := flush(); err != nil {
		return err
	}
	if q.opts.Sync == SyncAlways {
		if err := q.fsync(); err != nil {
			return err
		}
	}
	if cap(buf) <= 8<<20 { // keep the buffer, unless one odd batch made it huge
		q.w.buf = buf[:0]
	} else {
		q.w.buf = nil
	}
	cur().endSize = q.w.size
	q.publish(ts, seq-1)
	return nil
}

func (q *Queue) fsync() error {
	if err := q.w.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", q.w.seg.name, err)
	}
	q.w.dirty = false
	return nil
}

// publish makes the written entries visible to the reader and to Stats.
func (q *Queue) publish(ts []touched, last uint64) {
	q.mu.Lock()
	for _, t := range ts {
		if t.created {
			q.segs = append(q.segs, t.seg)
		}
		q.total += t.endSize - t.seg.size
		t.seg.size = t.endSize
		t.seg.sealed = t.rotated
		if t.wroteAny {
			t.seg.lastSeq = t.lastSeq
		}
	}
	q.lastSeq = last
	q.dataCh = notifyLocked(q.dataCh)
	q.mu.Unlock()
	for _, t := range ts[:len(ts)-1] {
		t.f.Close()
	}
}

// rollback undoes a failed Append: new segment files are removed and the
// first one is cut back to its size before. If that fails too the queue
// stops taking appends (reads go on) until it is reopened.
func (q *Queue) rollback(ts []touched, cause error) {
	var errs []error
	for i := len(ts) - 1; i > 0; i-- {
		ts[i].f.Close()
		if err := os.Remove(filepath.Join(q.dir, ts[i].seg.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	first := ts[0]
	if err := first.f.Truncate(first.preSize); err != nil {
		errs = append(errs, err)
	}
	q.w.f, q.w.seg, q.w.size, q.w.buf = first.f, first.seg, first.preSize, nil
	var fsyncFailed bool
	var fe *os.PathError
	if errors.As(cause, &fe) && fe.Op == "sync" {
		fsyncFailed = true
	}
	if len(errs) > 0 || fsyncFailed {
		// After a failed fsync the kernel may have dropped the dirty pages:
		// what is on disk is unknown until Open scans it again.
		q.setFailed(fmt.Errorf("a failed write (%w) could not be rolled back (%v)", cause, errors.Join(errs...)))
		return
	}
	q.mu.Lock()
	q.appendFailed = true
	q.mu.Unlock()
	q.log.Warn("disk buffer: append failed and was rolled back", "err", cause)
}

// createSegment makes a new segment file named after the first sequence
// number it will hold, with its header on disk and its directory entry
// durable.
func (q *Queue) createSegment(base uint64) (*segment, *os.File, error) {
	name := segName(base)
	path := filepath.Join(q.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("create segment: %w", err)
	}
	_, err = f.Write(appendSegHeader(nil))
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(q.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	return &segment{base: base, name: name, size: segHeaderSize}, f, nil
}
