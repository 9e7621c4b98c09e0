package emulator

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"sync"
)

// chunkA is 1 MiB of 'A': the filler of the hostile bodies.
var chunkA = bytes.Repeat([]byte("A"), 1<<20)

// gzipChunk is chunkA as one gzip member (about 1 KB). Members concatenate:
// a gzip reader decompresses a row of them as one stream, so a bomb of any
// size costs the emulator nothing.
var gzipChunk = sync.OnceValue(func() []byte { return gzipMember(chunkA) })

func gzipMember(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// hostileBody answers a SIEM page with the huge-item or gzip-bomb fault;
// it reports whether it did.
func (s *Server) hostileBody(w http.ResponseWriter, idx int) bool {
	f := s.opts.Faults
	huge, bomb := f.HugeItem, f.GzipBomb
	if huge > 0 && bomb > 0 {
		if idx%2 == 0 {
			huge = 0
		} else {
			bomb = 0
		}
	}
	const head = `{"has_more":false,"items":[{"id":"hostile","type":"Event::Endpoint::Threat::Detected","created_at":"2026-11-26T10:00:00.000Z","data":"`
	const tail = `"}],"next_cursor":"aG9zdGlsZQ"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	switch {
	case huge > 0:
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(head))
		for left := huge; left > 0; left -= int64(len(chunkA)) {
			if _, err := w.Write(chunkA[:min(left, int64(len(chunkA)))]); err != nil {
				return true // the client gave up: that is the point
			}
		}
		w.Write([]byte(tail))
	case bomb > 0:
		h.Set("Content-Encoding", "gzip")
		h.Set("X-Decompressed-Length", strconv.FormatInt(bomb, 10))
		w.WriteHeader(http.StatusOK)
		w.Write(gzipMember([]byte(head)))
		for left := bomb; left >= int64(len(chunkA)); left -= int64(len(chunkA)) {
			if _, err := w.Write(gzipChunk()); err != nil {
				return true
			}
		}
		w.Write(gzipMember([]byte(tail)))
	default:
		return false
	}
	return true
}
