package encoding

import (
	"math/rand/v2"
	"testing"
)

// TestCEFEscapeMatchesByteLoop holds the word-at-a-time CEF escaping to a
// byte-by-byte reference for every special and strict mode, on random
// values with specials at every offset.
func TestCEFEscapeMatchesByteLoop(t *testing.T) {
	ref := func(s []byte, special byte, strict bool) []byte {
		var out []byte
		for _, c := range s {
			switch {
			case strict && c == '\n':
				out = append(out, '\\', 'n')
			case strict && c == '\r':
				out = append(out, '\\', 'r')
			case special != 0 && (c == special || c == '\\'):
				out = append(out, '\\', c)
			default:
				out = append(out, c)
			}
		}
		return out
	}
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []byte("ab=|\\\n\r \x00\xff")
	for _, strict := range []bool{false, true} {
		e := newCEFEncoder(newOfficial(Options{}), strict)
		for range 20000 {
			s := make([]byte, rng.IntN(30))
			for i := range s {
				if rng.IntN(5) == 0 {
					s[i] = alphabet[rng.IntN(len(alphabet))]
				} else {
					s[i] = 'a' + byte(rng.IntN(26))
				}
			}
			for _, special := range []byte{0, '|', '='} {
				if got, want := e.escape([]byte("x"), s, special), append([]byte("x"), ref(s, special, strict)...); string(got) != string(want) {
					t.Fatalf("strict=%v special=%q %q: %q, want %q", strict, special, s, got, want)
				}
			}
		}
	}
}
