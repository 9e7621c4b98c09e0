package httpout

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/sophos-connect/sophos-connect/config"
)

// DefaultCompressionLevel is gzip's fastest level: SIEM JSON compresses
// about 10× at it, and klauspost/compress's level 1 costs a fraction of
// the standard library's.
const DefaultCompressionLevel = gzip.BestSpeed

// gzPools hold gzip writers by level (1..9): a writer's tables are large,
// so each is made once and reused across requests.
var gzPools [gzip.BestCompression + 1]sync.Pool

// Gzip writes the gzip of src at level (1..9; anything else is the
// default) into dst, replacing its contents.
func Gzip(dst *bytes.Buffer, src []byte, level int) {
	if level < gzip.BestSpeed || level > gzip.BestCompression {
		level = DefaultCompressionLevel
	}
	dst.Reset()
	w, _ := gzPools[level].Get().(*gzip.Writer)
	if w == nil {
		w, _ = gzip.NewWriterLevel(dst, level) // the level is valid
	} else {
		w.Reset(dst)
	}
	w.Write(src) // writes to a bytes.Buffer do not fail
	w.Close()
	gzPools[level].Put(w)
}

// ValidateCompressionLevel checks the compression_level key.
func ValidateCompressionLevel(level int) *config.FieldError {
	if level < gzip.BestSpeed || level > gzip.BestCompression {
		return &config.FieldError{Key: "compression_level", Msg: fmt.Sprintf("%d is not a gzip level from 1 (fastest, the default) to 9 (smallest)", level)}
	}
	return nil
}

// bufPool holds the buffers a request's body is assembled and compressed
// in, so concurrent requests do not each allocate theirs.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// GetBuffer is an empty buffer from the pool; give it back with PutBuffer
// once the request that uses it is answered.
func GetBuffer() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

// PutBuffer returns b to the pool (a buffer grown past 16 MiB is dropped).
func PutBuffer(b *bytes.Buffer) {
	if b.Cap() <= 16<<20 {
		bufPool.Put(b)
	}
}
