package diskq

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk layout (all integers little-endian).
//
// Segment header, 16 bytes:
//
//	[0:8]   magic "SCDQSEG\n"
//	[8:12]  format version (1)
//	[12:16] crc32c of [0:12]
//
// Frame (one entry), 20 bytes + payload:
//
//	[0:4]   sync marker F7 64 71 E1 (never valid UTF-8, so rare in JSON)
//	[4:8]   payload length
//	[8:16]  sequence number (the entry's Pos; +1 per entry across the log)
//	[16:20] crc32c of [4:16] and the payload
//	[20:]   payload
//
// The sync marker lets a reader that meets a damaged frame find the next
// intact one; the crc covers length and sequence, so a frame found that way
// is only accepted when it is whole. Sequence numbers are stored (not
// implied by position) so that a skipped span tells exactly how many
// entries it held: the gap between the sequence numbers around it.
const (
	segHeaderSize   = 16
	frameHeaderSize = 20
	formatVersion   = 1

	// MaxEntryBytes bounds one payload; a length above it marks a frame damaged.
	MaxEntryBytes = 64 << 20

	// maxSeq bounds sequence numbers: a frame claiming more is damaged (it
	// would overflow the numbering; real logs never get near it).
	maxSeq = 1 << 62
)

var (
	segMagic   = [8]byte{'S', 'C', 'D', 'Q', 'S', 'E', 'G', '\n'}
	frameMagic = [4]byte{0xF7, 0x64, 0x71, 0xE1}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

func appendSegHeader(dst []byte) []byte {
	dst = append(dst, segMagic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, formatVersion)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[len(dst)-12:], castagnoli))
}

// headerState classifies a segment header.
type headerState int

const (
	headerOK      headerState = iota
	headerDamaged             // short, bad magic or bad crc: frames are still scanned
	headerVersion             // intact but a version this build does not read
)

func checkSegHeader(b []byte) (headerState, uint32) {
	if len(b) < segHeaderSize || [8]byte(b[:8]) != segMagic ||
		binary.LittleEndian.Uint32(b[12:16]) != crc32.Checksum(b[:12], castagnoli) {
		return headerDamaged, 0
	}
	if v := binary.LittleEndian.Uint32(b[8:12]); v != formatVersion {
		return headerVersion, v
	}
	return headerOK, formatVersion
}

func frameSize(payload int) int64 { return frameHeaderSize + int64(payload) }

// appendFrame appends one framed entry.
func appendFrame(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, frameMagic[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	dst = binary.LittleEndian.AppendUint64(dst, seq)
	crc := crc32.Update(0, castagnoli, dst[start+4:start+16])
	crc = crc32.Update(crc, castagnoli, payload)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return append(dst, payload...)
}

// frameVerdict says why a frame was rejected.
type frameVerdict int

const (
	frameOK       frameVerdict = iota
	frameShort                 // the file ends inside the frame
	frameBadMagic              // no sync marker here
	frameBadLen                // length above MaxEntryBytes
	frameBadCRC                // checksum mismatch
	frameBadSeq                // sequence number 0 or implausibly large
)

func (v frameVerdict) String() string {
	switch v {
	case frameOK:
		return "ok"
	case frameShort:
		return "short write (frame cut by the end of the file)"
	case frameBadMagic:
		return "no frame marker"
	case frameBadLen:
		return "bad length"
	case frameBadCRC:
		return "checksum mismatch"
	case frameBadSeq:
		return "bad sequence number"
	}
	return "unknown"
}

// parseFrameHeader reads the header at the start of b (len(b) >= frameHeaderSize).
func parseFrameHeader(b []byte) (length uint32, seq uint64, crc uint32, ok bool) {
	if [4]byte(b[:4]) != frameMagic {
		return 0, 0, 0, false
	}
	return binary.LittleEndian.Uint32(b[4:8]), binary.LittleEndian.Uint64(b[8:16]),
		binary.LittleEndian.Uint32(b[16:20]), true
}

func frameCRC(header, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, header[4:16]), castagnoli, payload)
}
