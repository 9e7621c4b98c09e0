package diskq

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// reader is the read side's state, under Queue.readMu.
type reader struct {
	cur  cursor
	f    *os.File
	fseg uint64 // the segment f belongs to
	fr   frameReader
	gap  bool // a damaged span was skipped: the next entry's sequence number tells what was lost
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
	r.fr = frameReader{}
}

func (r *reader) open(dir string, s *segment, limit int64) error {
	if r.f == nil || r.fseg != s.base {
		r.close()
		f, err := os.Open(filepath.Join(dir, s.name))
		if err != nil {
			return fmt.Errorf("diskq: open %s for reading: %w", s.name, err)
		}
		r.f, r.fseg = f, s.base
	}
	r.fr.reset(r.f, limit)
	return nil
}

// segFromLocked is the first segment whose base is at least base.
func (q *Queue) segFromLocked(base uint64) *segment {
	i := sort.Search(len(q.segs), func(i int) bool { return q.segs[i].base >= base })
	if i == len(q.segs) {
		return nil
	}
	return q.segs[i]
}

// Read returns up to max entries after the read position and moves past
// them, without waiting; none when the reader is caught up. Entries stay
// buffered (and are returned again after a restart or Rewind) until Ack.
func (q *Queue) Read(max int) ([]Entry, error) {
	if max <= 0 {
		return nil, nil
	}
	q.readMu.Lock()
	defer q.readMu.Unlock()
	q.mu.Lock()
	minSeq := q.lastRead
	q.mu.Unlock()

	r := &q.r
	saved, savedGap := r.cur, r.gap
	fail := func(err error) ([]Entry, error) {
		r.cur, r.gap = saved, savedGap
		r.close()
		return nil, err
	}
	var (
		arena []byte
		ends  []int
		ins   []inflight
		lost  []seqRange
	)
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return fail(ErrClosed)
		}
		s := q.segFromLocked(r.cur.seg)
		var limit int64
		var sealed bool
		if s != nil {
			limit, sealed = s.size, s.sealed
		}
		q.mu.Unlock()
		if s == nil {
			break
		}
		if s.base != r.cur.seg {
			r.cur = cursor{s.base, segHeaderSize}
		}
		if r.cur.off >= limit {
			if !sealed {
				break
			}
			r.cur = cursor{s.base + 1, segHeaderSize} // on to the next segment
			continue
		}
		if len(ins) >= max {
			break
		}
		if err := r.open(q.dir, s, limit); err != nil {
			return fail(err)
		}
		for r.cur.off < limit && len(ins) < max {
			off := r.cur.off
			if end, ok := skipAt(s.skips, off); ok {
				r.cur.off = end
				continue
			}
			f, v, err := r.fr.frameAt(off)
			if err != nil {
				return fail(fmt.Errorf("diskq: read %s: %w", s.name, err))
			}
			if v == frameOK && f.seq > minSeq {
				if r.gap && f.seq > minSeq+1 {
					lost = append(lost, seqRange{minSeq + 1, f.seq - 1})
				}
				r.gap = false
				if arena == nil { // room for what is published here, within reason: one allocation in the common case
					arena = make([]byte, 0, min(limit-off, 4<<20))
				}
				arena = append(arena, f.payload...)
				ends = append(ends, len(arena))
				ins = append(ins, inflight{f.seq, cursor{s.base, off + f.size()}})
				minSeq = f.seq
				r.cur.off = off + f.size()
				continue
			}
			// Damaged after Open checked it (or while it was written):
			// skip to the next intact entry and say so.
			next, found, err := r.fr.resync(off+1, minSeq)
			if err != nil {
				return fail(fmt.Errorf("diskq: read %s: %w", s.name, err))
			}
			end := limit
			if found {
				end = next.off
			}
			q.log.Error("disk buffer: damaged data skipped while reading", "segment", s.name,
				"offset", off, "bytes", end-off, "reason", v.String())
			r.gap = true
			r.cur.off = end
		}
	}

	q.mu.Lock()
	q.rcur = r.cur
	q.lastRead = minSeq
	q.inflight = append(q.inflight, ins...)
	for _, l := range lost {
		if n := len(q.lost); n > 0 && q.lost[n-1].to >= l.from {
			continue // seen before a Rewind
		}
		q.lost = append(q.lost, l)
		q.lostRun += int64(l.to - l.from + 1)
		q.log.Error("disk buffer: entries lost to damage", "from", l.from, "to", l.to)
	}
	q.mu.Unlock()

	if len(ins) == 0 {
		return nil, nil
	}
	out := make([]Entry, len(ins))
	prev := 0
	for i, in := range ins {
		out[i] = Entry{Pos: in.seq, Payload: arena[prev:ends[i]:ends[i]]}
		prev = ends[i]
	}
	return out, nil
}

func skipAt(skips []span, off int64) (int64, bool) {
	for _, s := range skips {
		if s.start <= off && off < s.end {
			return s.end, true
		}
	}
	return 0, false
}

// Next is Read that waits until at least one entry is available, ctx ends
// (ctx.Err()) or the queue is closed (ErrClosed).
func (q *Queue) Next(ctx context.Context, max int) ([]Entry, error) {
	for {
		q.mu.Lock()
		ch := q.dataCh
		q.mu.Unlock()
		es, err := q.Read(max)
		if err != nil || len(es) > 0 {
			return es, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closedCh:
			return nil, ErrClosed
		}
	}
}

// Ack marks every entry up to and including pos as delivered: they are
// not returned again, not even after a restart, and segment files holding
// only delivered entries are deleted. pos must not be beyond the last entry
// Read returned; an Ack at or below the acknowledged position does nothing.
// Under SyncAlways the position is on disk when Ack returns; under
// SyncInterval within SyncEvery (a crash may deliver those entries again).
func (q *Queue) Ack(pos uint64) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if pos <= q.acked {
		q.mu.Unlock()
		return nil
	}
	if pos > q.lastRead {
		last := q.lastRead
		q.mu.Unlock()
		return fmt.Errorf("diskq: ack of %d is beyond the last entry read (%d)", pos, last)
	}
	i := sort.Search(len(q.inflight), func(i int) bool { return q.inflight[i].seq > pos })
	if i > 0 {
		q.ackAt = q.inflight[i-1].end
	}
	if i == len(q.inflight) {
		q.inflight = q.inflight[:0]
	} else {
		q.inflight = append(q.inflight[:0], q.inflight[i:]...)
	}
	q.acked = pos
	for len(q.lost) > 0 && q.lost[0].to <= pos {
		q.lost = q.lost[1:]
	}
	var dels []string
	for len(q.segs) > 1 {
		s := q.segs[0]
		if !s.sealed || s.base >= q.rcur.seg || s.lastSeq > pos {
			break
		}
		q.total -= max(s.size-segHeaderSize, 0)
		dels = append(dels, s.name)
		q.segs = q.segs[1:]
	}
	q.spaceCh = notifyLocked(q.spaceCh)
	q.mu.Unlock()

	if q.opts.Sync == SyncAlways || len(dels) > 0 {
		// The position goes to disk before the files go: a crash in
		// between re-delivers nothing and loses nothing.
		if err := q.persistAck(); err != nil {
			return err
		}
	}
	for _, name := range dels {
		if err := os.Remove(filepath.Join(q.dir, name)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("diskq: delete delivered segment: %w", err)
		}
	}
	q.mu.Lock()
	drained := q.drainedLocked(freeDrainedBytes)
	q.mu.Unlock()
	if drained {
		if err := q.persistAck(); err != nil { // (SyncInterval: the position first, as above)
			return err
		}
		return q.freeDrained()
	}
	return nil
}

// Rewind moves the reader back to the first unacknowledged entry: entries
// read but not acknowledged are returned again (e.g. after a failed
// delivery whose batch the caller did not keep).
func (q *Queue) Rewind() {
	q.readMu.Lock()
	defer q.readMu.Unlock()
	q.mu.Lock()
	q.r.cur, q.rcur = q.ackAt, q.ackAt
	q.lastRead = q.acked
	q.inflight = q.inflight[:0]
	q.mu.Unlock()
	q.r.gap = false
}
