package encoding

// Fields says where the key=value pairs of an encoder's last output lie, so
// a sink that must shorten a message (syslog's max_message_bytes) can drop
// whole pairs instead of cutting one in half. Offsets are relative to the
// start of what the last Append appended.
type Fields struct {
	// Head is the length of what comes before the first pair (the CEF
	// header up to its last '|'; keyvalue's rt). A cut always keeps it.
	Head int
	// Pairs are the pairs in output order. One space separates two pairs;
	// between Head and the first pair lies a space (keyvalue) or nothing
	// (CEF, whose header ends with '|').
	Pairs []Pair
}

// Pair is one key=value pair; ID marks the record's id (the SIEM's dedupe
// key), which a cut keeps.
type Pair struct {
	Start, End int
	ID         bool
}

// FieldEncoder is an Encoder that reports the pairs of its last output
// (cef and keyvalue).
type FieldEncoder interface {
	Encoder
	// LastFields describes the output of the last successful Append. The
	// slice is reused by the next Append.
	LastFields() *Fields
}

func (f *Fields) reset() {
	f.Head = 0
	f.Pairs = f.Pairs[:0]
}

// clamp drops what lies beyond n bytes (trailing whitespace trimmed after
// the pairs were recorded).
func (f *Fields) clamp(n int) {
	f.Head = min(f.Head, n)
	k := 0
	for _, p := range f.Pairs {
		if p.Start >= n {
			break
		}
		p.End = min(p.End, n)
		f.Pairs[k] = p
		k++
	}
	f.Pairs = f.Pairs[:k]
}

func isIDKey(k []byte) bool { return len(k) == 2 && k[0] == 'i' && k[1] == 'd' }

// shift moves every offset n bytes left (leading whitespace trimmed).
func (f *Fields) shift(n int) {
	if n == 0 {
		return
	}
	f.Head = max(f.Head-n, 0)
	for i := range f.Pairs {
		f.Pairs[i].Start = max(f.Pairs[i].Start-n, 0)
		f.Pairs[i].End = max(f.Pairs[i].End-n, 0)
	}
}

// appendNoNewline appends s with \n and \r escaped (see appendNoNewline),
// moving the offsets to match the longer output.
func (f *Fields) appendNoNewline(dst, s []byte) []byte {
	start, from := len(dst), 0
	move := func(off *int) {
		dst = appendNoNewline(dst, s[from:*off])
		from = *off
		*off = len(dst) - start
	}
	move(&f.Head)
	for i := range f.Pairs {
		move(&f.Pairs[i].Start)
		move(&f.Pairs[i].End)
	}
	return appendNoNewline(dst, s[from:])
}
