package httpout

import (
	"bytes"
	"compress/gzip"
	"sync"
)

var gzPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// Gzip appends the gzip of src to dst[:0]. BestSpeed: SIEM JSON compresses
// about 10× at it, and the receivers' CPU is not ours to spend either.
func Gzip(dst *bytes.Buffer, src []byte) {
	dst.Reset()
	w := gzPool.Get().(*gzip.Writer)
	w.Reset(dst)
	w.Write(src) // writes to a bytes.Buffer do not fail
	w.Close()
	gzPool.Put(w)
}
