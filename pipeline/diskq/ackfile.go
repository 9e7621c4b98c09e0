package diskq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The ack file holds the acknowledged position in two 32-byte slots written
// in turn, each with its own generation and checksum:
//
//	[0:4] "DQAK"  [4:8] version  [8:16] generation  [16:24] acked Pos
//	[24:28] crc32c of [0:24]  [28:32] zero
//
// An update overwrites only the older slot and fsyncs, so a crash in the
// middle of it leaves the other slot intact: no rename, no directory fsync
// on the hot path.
const (
	ackFileName = "ack"
	ackSlotSize = 32
)

var ackMagic = [4]byte{'D', 'Q', 'A', 'K'}

type ackFile struct {
	f   *os.File
	gen uint64
}

// openAckFile returns the file, the acknowledged position and, when the
// file was missing or damaged, what was wrong with it.
func openAckFile(dir string) (*ackFile, uint64, string, error) {
	path := filepath.Join(dir, ackFileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, 0, "", fmt.Errorf("create %s: %w", path, err)
		}
		af := &ackFile{f: f}
		if err := af.allocate(nil); err != nil {
			f.Close()
			return nil, 0, "", fmt.Errorf("create %s: %w", path, err)
		}
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, 0, "", err
		}
		return af, 0, "missing", nil
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("open %s: %w", path, err)
	}
	var b [2 * ackSlotSize]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && err != io.EOF {
		f.Close()
		return nil, 0, "", fmt.Errorf("read %s: %w", path, err)
	}
	af := &ackFile{f: f}
	var acked uint64
	found := false
	for s := 0; s+ackSlotSize <= n; s += ackSlotSize {
		gen, pos, ok := parseAckSlot(b[s : s+ackSlotSize])
		if ok && (!found || gen > af.gen) {
			af.gen, acked, found = gen, pos, true
		}
	}
	if n < len(b) && (found || n == 0) {
		// A file written before both slots were allocated at creation:
		// best effort (on a full disk the next Ack reports it).
		_ = af.allocate(b[:n])
	}
	switch {
	case found:
		return af, acked, "", nil
	case n == 0: // created, nothing acknowledged yet
		return af, 0, "", nil
	}
	return af, 0, fmt.Sprintf("damaged (%d bytes, no intact slot)", n), nil
}

func parseAckSlot(b []byte) (gen, acked uint64, ok bool) {
	if [4]byte(b[:4]) != ackMagic || binary.LittleEndian.Uint32(b[4:8]) != formatVersion ||
		binary.LittleEndian.Uint32(b[24:28]) != crc32.Checksum(b[:24], castagnoli) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(b[8:16]), binary.LittleEndian.Uint64(b[16:24]), true
}

// allocate writes both slots' bytes (keeping the first len(have), else a
// slot for position 0) and fsyncs: later updates overwrite bytes the file
// already has, so acknowledging — which is what frees space — still works
// on a full disk (on filesystems that overwrite in place).
func (a *ackFile) allocate(have []byte) error {
	var b [2 * ackSlotSize]byte
	if len(have) > 0 {
		copy(b[:], have)
	} else {
		a.slot(b[:ackSlotSize], 0, 0)
	}
	if _, err := a.f.WriteAt(b[:], 0); err != nil {
		return err
	}
	return a.f.Sync()
}

func (a *ackFile) slot(b []byte, gen, acked uint64) {
	copy(b[:4], ackMagic[:])
	binary.LittleEndian.PutUint32(b[4:8], formatVersion)
	binary.LittleEndian.PutUint64(b[8:16], gen)
	binary.LittleEndian.PutUint64(b[16:24], acked)
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:24], castagnoli))
}

// write stores acked in the older slot and fsyncs it.
func (a *ackFile) write(acked uint64) error {
	a.gen++
	var b [ackSlotSize]byte
	a.slot(b[:], a.gen, acked)
	if _, err := a.f.WriteAt(b[:], int64(a.gen%2)*ackSlotSize); err != nil {
		return fmt.Errorf("write ack file: %w", err)
	}
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("sync ack file: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
