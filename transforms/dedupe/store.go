package dedupe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The state file is a header followed by chunks; a snapshot is one file of
// chunks written to a temporary name, fsynced and renamed over the old one,
// and each flush between snapshots appends one more chunk and fsyncs. A
// chunk torn by a crash fails its checksum and is ignored (with everything
// after it) at load: those ids were delivered but are forgotten, so a replay
// may repeat them — never the reverse.
//
//	header  "SCDEDUP1"
//	chunk   u32 payload length, u32 CRC-32C of the payload, payload
//	payload uvarint count, uvarint base time, count × (12-byte key, uvarint time-base)

const magic = "SCDEDUP1"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

type entry struct {
	k  key
	ts uint32
}

// appendChunk encodes entries as one chunk.
func appendChunk(dst []byte, es []entry) []byte {
	if len(es) == 0 {
		return dst
	}
	base := es[0].ts
	for _, e := range es {
		base = minU32(base, e.ts)
	}
	start := len(dst)
	dst = append(dst, make([]byte, 8)...)
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	dst = binary.AppendUvarint(dst, uint64(base))
	for _, e := range es {
		dst = binary.BigEndian.AppendUint64(dst, e.k.hi)
		dst = binary.BigEndian.AppendUint32(dst, e.k.mid)
		dst = binary.AppendUvarint(dst, uint64(e.ts-base))
	}
	payload := dst[start+8:]
	binary.LittleEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, crcTable))
	return dst
}

// decodeFile calls fn for every entry of every intact chunk. torn reports a
// damaged tail (the rest of the file was ignored).
func decodeFile(data []byte, fn func(entry)) (n int, torn bool, err error) {
	if len(data) < len(magic) || string(data[:len(magic)]) != magic {
		return 0, false, errors.New("not a dedupe state file (bad header)")
	}
	data = data[len(magic):]
	for len(data) > 0 {
		if len(data) < 8 {
			return n, true, nil
		}
		size := int(binary.LittleEndian.Uint32(data))
		sum := binary.LittleEndian.Uint32(data[4:])
		if size > len(data)-8 || crc32.Checksum(data[8:8+size], crcTable) != sum {
			return n, true, nil
		}
		p := data[8 : 8+size]
		data = data[8+size:]
		count, w := binary.Uvarint(p)
		if w <= 0 {
			return n, true, nil
		}
		p = p[w:]
		base, w := binary.Uvarint(p)
		if w <= 0 {
			return n, true, nil
		}
		p = p[w:]
		for range count {
			if len(p) < 13 {
				return n, true, nil
			}
			e := entry{k: key{binary.BigEndian.Uint64(p), binary.BigEndian.Uint32(p[8:])}}
			d, w := binary.Uvarint(p[12:])
			if w <= 0 || e.k.hi == 0 {
				return n, true, nil
			}
			e.ts = uint32(base + d)
			p = p[12+w:]
			fn(e)
			n++
		}
	}
	return n, false, nil
}

// writeAtomic replaces path with data: temp file, fsync, rename, fsync dir.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// appendFile appends data to path (which must exist) and fsyncs it.
func appendFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
