package diskq

import (
	"bytes"
	"fmt"
	"io"
)

// windowSize is how much a frameReader reads ahead in one pread.
const windowSize = 256 << 10

// frame is one intact entry found in a segment. payload aliases the
// reader's window: valid until the reader's next call.
type frame struct {
	off     int64
	seq     uint64
	payload []byte
}

func (f frame) size() int64 { return frameSize(len(f.payload)) }

// frameReader reads frames from one segment file through a read-ahead
// window. It never reads at or beyond limit: for the segment being written
// that is the end of what has been published, so bytes of a write still in
// progress never reach a reader.
type frameReader struct {
	r     io.ReaderAt
	limit int64
	buf   []byte
	boff  int64 // file offset of buf[0]
}

func (fr *frameReader) reset(r io.ReaderAt, limit int64) {
	if fr.r != r {
		fr.buf = fr.buf[:0]
	}
	fr.r, fr.limit = r, limit
}

// at returns the n bytes at off; off+n must not exceed limit.
func (fr *frameReader) at(off int64, n int) ([]byte, error) {
	if off >= fr.boff && off+int64(n) <= fr.boff+int64(len(fr.buf)) {
		return fr.buf[off-fr.boff : off-fr.boff+int64(n)], nil
	}
	if n > windowSize { // a large payload: read it alone, keep the window small
		b := make([]byte, n)
		if _, err := fr.r.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
		}
		return b, nil
	}
	want := int(min(int64(windowSize), fr.limit-off))
	if cap(fr.buf) < windowSize {
		fr.buf = make([]byte, 0, windowSize)
	}
	fr.buf = fr.buf[:want]
	if _, err := fr.r.ReadAt(fr.buf, off); err != nil {
		fr.buf = fr.buf[:0]
		return nil, fmt.Errorf("read %d bytes at %d: %w", want, off, err)
	}
	fr.boff = off
	return fr.buf[:n], nil
}

// frameAt checks the frame starting at off. An error is an I/O failure; a
// damaged frame is a verdict other than frameOK.
func (fr *frameReader) frameAt(off int64) (frame, frameVerdict, error) {
	if fr.limit-off < frameHeaderSize {
		return frame{}, frameShort, nil
	}
	b, err := fr.at(off, frameHeaderSize)
	if err != nil {
		return frame{}, 0, err
	}
	var h [frameHeaderSize]byte
	copy(h[:], b)
	length, seq, crc, ok := parseFrameHeader(h[:])
	switch {
	case !ok:
		return frame{}, frameBadMagic, nil
	case length > MaxEntryBytes:
		return frame{}, frameBadLen, nil
	case seq == 0 || seq > maxSeq:
		return frame{}, frameBadSeq, nil
	case fr.limit-off-frameHeaderSize < int64(length):
		return frame{}, frameShort, nil
	}
	p, err := fr.at(off+frameHeaderSize, int(length))
	if err != nil {
		return frame{}, 0, err
	}
	if frameCRC(h[:], p) != crc {
		return frame{}, frameBadCRC, nil
	}
	return frame{off: off, seq: seq, payload: p}, frameOK, nil
}

// resync finds the first intact frame at or after from whose sequence number
// is above minSeq (the log's numbers only grow, so an older one is stale
// data, not an entry).
func (fr *frameReader) resync(from int64, minSeq uint64) (frame, bool, error) {
	for pos := from; fr.limit-pos >= frameHeaderSize; {
		n := int(min(int64(windowSize), fr.limit-pos))
		b, err := fr.at(pos, n)
		if err != nil {
			return frame{}, false, err
		}
		i := bytes.Index(b, frameMagic[:])
		if i < 0 {
			if pos+int64(n) >= fr.limit {
				break
			}
			pos += int64(n - len(frameMagic) + 1) // a marker may straddle windows
			continue
		}
		c := pos + int64(i)
		f, v, err := fr.frameAt(c)
		if err != nil {
			return frame{}, false, err
		}
		if v == frameOK && f.seq > minSeq {
			return f, true, nil
		}
		pos = c + 1
	}
	return frame{}, false, nil
}

// tornEntries estimates how many entries a damaged tail [off, limit) held,
// for the end of the log where no later sequence number can tell exactly:
// it follows frame headers while they look sane, and counts at least one
// entry for a non-empty tail (the bytes were written for something).
func (fr *frameReader) tornEntries(off int64) (int64, error) {
	var n int64
	for pos := off; pos < fr.limit; {
		rest := int(min(int64(frameHeaderSize), fr.limit-pos))
		b, err := fr.at(pos, rest)
		if err != nil {
			return n, err
		}
		m := min(len(b), len(frameMagic))
		if !bytes.Equal(b[:m], frameMagic[:m]) {
			break
		}
		n++
		if rest < frameHeaderSize {
			break
		}
		length, _, _, _ := parseFrameHeader(b)
		if length > MaxEntryBytes {
			break
		}
		pos += frameSize(int(length))
	}
	if n == 0 && fr.limit > off {
		n = 1
	}
	return n, nil
}
