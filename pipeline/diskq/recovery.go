package diskq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Recovery is what Open found and repaired.
type Recovery struct {
	Segments int    // segment files found
	Removed  int    // fully acknowledged or empty damaged segment files deleted
	Acked    uint64 // acknowledged position read from the ack file
	AckFile  string // "" when the ack file was intact; else what was wrong (everything on disk is then delivered again)
	Entries  int64  // intact entries kept that are not yet acknowledged
	Bytes    int64  // bytes after the acknowledged position
	Damage   []Damage
	// LostEntries sums Damage[].Entries and LostBytes Damage[].Bytes over
	// the spans not reported before (Repeat false): what this Open found.
	LostEntries int64
	LostBytes   int64
}

// Damage is one damaged span of a segment file.
//
// Entries is exact when an intact entry follows the span anywhere in the
// log: entries carry sequence numbers, so the gap around the span is the
// count. At the very end of the log (a write torn by a crash) it is counted
// from the frame headers found in the tail. Entries already acknowledged
// before the damage are not counted: they were delivered.
type Damage struct {
	Segment   string // file name
	Offset    int64  // where the span starts
	Bytes     int64  // its length
	Entries   int64  // not-yet-acknowledged entries lost in it
	Truncated bool   // the span was the file's tail and was cut off; else skipped in place
	// Repeat marks a span skipped in place that an earlier Open already
	// reported (it stays in its file until the segment is delivered); it is
	// not counted again in Recovery.LostEntries/LostBytes.
	Repeat bool
	Reason string
}

func (d Damage) String() string {
	what := "skipped"
	if d.Truncated {
		what = "cut"
	}
	if d.Repeat {
		what += " (reported before)"
	}
	return fmt.Sprintf("%s@%d: %d bytes %s, %d entries lost (%s)", d.Segment, d.Offset, d.Bytes, what, d.Entries, d.Reason)
}

// Clean reports whether nothing was damaged or lost.
func (r Recovery) Clean() bool { return len(r.Damage) == 0 && r.AckFile == "" }

const segSuffix = ".seg"

func segName(base uint64) string { return fmt.Sprintf("%020d%s", base, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// Open opens (creating if needed) the queue in dir, repairing what a crash
// or a damaged disk left: see Recovery. It fails only on I/O errors, a
// directory locked by another queue, or a segment written by a newer format
// version (never rewritten by this build).
func Open(dir string, opts Options) (*Queue, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = max(opts.SegmentBytes, minSegmentBytes)
	if opts.SyncEvery <= 0 {
		opts.SyncEvery = DefaultSyncEvery
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("diskq: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("diskq: %w", err)
	}
	q := &Queue{
		dir: dir, opts: opts, log: opts.Log.With("buffer", dir), lock: lock,
		dataCh: make(chan struct{}), spaceCh: make(chan struct{}), closedCh: make(chan struct{}),
	}
	if err := q.recover(); err != nil {
		if q.ack != nil {
			q.ack.f.Close()
		}
		lock.Close()
		return nil, fmt.Errorf("diskq %s: %w", dir, err)
	}
	if opts.Sync == SyncInterval {
		q.stopSync, q.syncDone = make(chan struct{}), make(chan struct{})
		go q.syncLoop()
	}
	return q, nil
}

// scanState follows sequence numbers across segments during recovery.
type scanState struct {
	rec     *Recovery
	floor   uint64 // sequence numbers at or below it need no delivery
	prevSeq uint64
	open    []int // indexes into rec.Damage of spans not yet followed by an intact entry
	start   cursor
	started bool // start is the first entry above floor
	lost    []seqRange
}

// recover scans every segment, cuts damaged tails, deletes fully
// acknowledged segments and positions the writer and the reader.
func (q *Queue) recover() error {
	ack, acked, ackProblem, err := openAckFile(q.dir)
	if err != nil {
		return err
	}
	q.ack, q.acked, q.ackSynced = ack, acked, acked

	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return err
	}
	var bases []uint64
	for _, e := range ents {
		if b, ok := parseSegName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, b)
		}
		if strings.HasPrefix(e.Name(), reportedFileName+".tmp-") { // left by a crash
			os.Remove(filepath.Join(q.dir, e.Name()))
		}
	}
	slices.Sort(bases)
	rec := &q.rec
	rec.Segments, rec.Acked = len(bases), acked
	st := &scanState{rec: rec, floor: acked}
	if ackProblem != "" && len(bases) > 0 {
		// Without an ack file, everything on disk is delivered again; only
		// gaps after the first segment's first entry count as lost.
		rec.AckFile = ackProblem
		st.floor = max(bases[0], 1) - 1
		q.acked = st.floor
	}

	var segs []*segment
	var lastHeaderOK bool
	for i, base := range bases {
		s, headerOK, keep, err := q.scanSegment(base, st, i == len(bases)-1)
		if err != nil {
			return err
		}
		if keep {
			segs = append(segs, s)
		} else {
			rec.Removed++
		}
		lastHeaderOK = keep && headerOK && i == len(bases)-1
	}

	nextSeq := max(st.prevSeq, q.acked) + 1
	if lastHeaderOK {
		nextSeq = max(nextSeq, segs[len(segs)-1].base)
	} else {
		if len(segs) > 0 { // the new file's name must sort after every kept one
			nextSeq = max(nextSeq, segs[len(segs)-1].base+1)
		}
		s, f, err := q.createSegment(nextSeq)
		if err != nil {
			return err
		}
		f.Close()
		segs = append(segs, s)
	}
	for _, s := range segs[:len(segs)-1] {
		s.sealed = true
	}
	if !st.started {
		last := segs[len(segs)-1]
		st.start = cursor{last.base, last.size}
	}

	// Segments before the first unacknowledged entry are delivered.
	for len(segs) > 1 && segs[0].base < st.start.seg {
		if err := os.Remove(filepath.Join(q.dir, segs[0].name)); err != nil {
			return err
		}
		rec.Removed++
		segs = segs[1:]
	}

	q.segs = segs
	for _, s := range segs {
		q.total += max(s.size-segHeaderSize, 0)
	}
	q.lastSeq = nextSeq - 1
	q.ackAt, q.rcur, q.r.cur = st.start, st.start, st.start
	q.lastRead = q.acked
	q.lost = slices.DeleteFunc(st.lost, func(r seqRange) bool { return r.to <= q.acked })
	rec.Entries = q.pendingEntriesLocked()
	rec.Bytes = q.pendingBytesLocked()
	if err := q.markReported(); err != nil {
		q.log.Warn("disk buffer: cannot record reported damage; it will be reported again", "err", err)
	}

	active := segs[len(segs)-1]
	f, err := os.OpenFile(filepath.Join(q.dir, active.name), os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	q.w = writer{f: f, seg: active, size: active.size}
	if q.drainedLocked(1) {
		// Delivered records left in the write segment (a run that stopped
		// before it was emptied, or one that filled the disk).
		if err := q.emptyWriteSegment(); err != nil {
			if q.failed != nil {
				return err
			}
			q.log.Warn("disk buffer: could not free the delivered write segment; it is retried after the next delivery", "err", err)
		}
	}

	for _, d := range rec.Damage {
		level, msg := slog.LevelWarn, "disk buffer: damaged data found"
		if d.Repeat {
			level, msg = slog.LevelInfo, "disk buffer: damaged data still skipped (reported before)"
		}
		q.log.Log(context.Background(), level, msg, "segment", d.Segment, "offset", d.Offset,
			"bytes", d.Bytes, "entries_lost", d.Entries, "cut", d.Truncated, "reason", d.Reason)
	}
	if rec.AckFile != "" {
		q.log.Warn("disk buffer: ack file " + rec.AckFile + "; entries still on disk will be delivered again")
	}
	q.log.Info("disk buffer opened", "segments", len(segs), "entries", rec.Entries, "bytes", rec.Bytes,
		"acked", q.acked, "lost_entries", rec.LostEntries, "lost_bytes", rec.LostBytes, "removed_segments", rec.Removed)
	return nil
}

// scanSegment checks one segment file: it records intact entries, cuts a
// damaged tail, notes damaged spans in the middle, and says whether the file
// stays (a file with a damaged header and no entry is deleted).
func (q *Queue) scanSegment(base uint64, st *scanState, last bool) (*segment, bool, bool, error) {
	name := segName(base)
	path := filepath.Join(q.dir, name)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, false, err
	}
	size := fi.Size()
	s := &segment{base: base, name: name, size: size}
	rec := st.rec
	damage := func(off, end int64, truncated bool, reason string, entries int64) {
		rec.Damage = append(rec.Damage, Damage{Segment: name, Offset: off, Bytes: end - off,
			Truncated: truncated, Reason: reason, Entries: entries})
		st.open = append(st.open, len(rec.Damage)-1)
	}

	fr := &frameReader{r: f, limit: size}
	var hdr [segHeaderSize]byte
	n, _ := f.ReadAt(hdr[:], 0)
	hs, version := checkSegHeader(hdr[:n])
	switch hs {
	case headerVersion:
		return nil, false, false, fmt.Errorf("segment %s has format version %d; this build reads %d: use the newer build or move the buffer aside", name, version, formatVersion)
	case headerDamaged:
		if size > 0 || !last {
			reason := "damaged segment header"
			if size < segHeaderSize {
				reason = "segment header cut short"
			}
			damage(0, min(size, segHeaderSize), false, reason, 0)
		}
	}

	frames := 0
	for off := int64(segHeaderSize); off < size; {
		fm, v, err := fr.frameAt(off)
		if err != nil {
			return nil, false, false, err
		}
		if v == frameOK && fm.seq > st.prevSeq {
			st.intact(fm, s)
			frames++
			off += fm.size()
			continue
		}
		reason := v.String()
		if v == frameOK {
			reason = fmt.Sprintf("sequence number %d not after %d", fm.seq, st.prevSeq)
		}
		next, found, err := fr.resync(off+1, st.prevSeq)
		if err != nil {
			return nil, false, false, err
		}
		if found {
			damage(off, next.off, false, reason, 0)
			s.skips = append(s.skips, span{off, next.off})
			off = next.off
			continue
		}
		torn, err := fr.tornEntries(off)
		if err != nil {
			return nil, false, false, err
		}
		damage(off, size, true, reason, torn)
		if err := f.Truncate(off); err != nil {
			return nil, false, false, fmt.Errorf("cut damaged tail of %s: %w", name, err)
		}
		if err := f.Sync(); err != nil {
			return nil, false, false, err
		}
		s.size = off
		break
	}

	if hs == headerDamaged && frames == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, false, false, err
		}
		return nil, false, false, nil
	}
	return s, hs == headerOK, true, nil
}

// intact records an intact entry: it settles the open damage spans with the
// exact number of entries lost (the sequence gap) and finds where delivery
// resumes.
func (st *scanState) intact(f frame, s *segment) {
	low := max(st.prevSeq, st.floor) // entries at or below low are delivered or counted
	if f.seq > low+1 {
		gap := int64(f.seq - low - 1)
		if len(st.open) == 0 {
			st.rec.Damage = append(st.rec.Damage, Damage{Segment: s.name, Offset: f.off, Entries: gap,
				Reason: fmt.Sprintf("entries %d..%d missing (a segment file was removed?)", low+1, f.seq-1)})
		} else {
			st.rec.Damage[st.open[0]].Entries = gap
			for _, i := range st.open[1:] {
				st.rec.Damage[i].Entries = 0
			}
		}
		st.lost = append(st.lost, seqRange{low + 1, f.seq - 1})
	} else {
		for _, i := range st.open {
			st.rec.Damage[i].Entries = 0
		}
	}
	st.open = st.open[:0]
	st.prevSeq = f.seq
	s.lastSeq = f.seq
	if !st.started && f.seq > st.floor {
		st.start, st.started = cursor{s.base, f.off}, true
	}
}
