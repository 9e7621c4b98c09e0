package rawjson

import (
	"strings"
	"testing"
)

// refScanString is ScanString before it jumped from special byte to
// special byte: one byte at a time, the reference for FuzzScanString.
func refScanString(data []byte, i int) (end int, flags byte, err error) {
	start := i
	for i++; i < len(data); {
		switch c := data[i]; {
		case c == '"':
			return i + 1, flags, nil
		case c == '\\':
			flags |= Escaped
			if i+1 >= len(data) {
				return start, 0, syntaxErr(i, "unterminated escape")
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(data)-i < 6 || !isHex4(data[i+2:i+6]) {
					return start, 0, syntaxErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return start, 0, syntaxErr(i, "invalid escape")
			}
		case c < 0x20:
			return start, 0, syntaxErr(i, "control character in string")
		default:
			if c >= 0x80 {
				flags |= NonASCII
			}
			i++
		}
	}
	return start, 0, syntaxErr(start, "unterminated string")
}

// FuzzScanString holds the word-at-a-time string scan and SkipSpace to
// the byte-at-a-time references: the same end, flags and error (offset
// and reason) for every input, at every starting quote.
func FuzzScanString(f *testing.F) {
	for _, s := range []string{
		`"abc"`, `""`, `"a\nb"`, `"é"`, `"0123456789abcdefghij"`, `"0123456789abcdéfghij"`,
		`"0123456789\"bcdefghij"`, `"\u00e9\ud83d\ude00 x"`, `"\u00g0"`, `"\x"`, `"abc\`, `"abcdefghijkl`,
		"\"tab\there\"", "\"\x7f\xff\"", `"C:\\Users\\mreyes\\Downloads\\invoice_0514.exe"`,
		"{\n        \"a\": \"b\",\r\n\t\"c\" :\t1\n}", "\n" + strings.Repeat(" ", 17) + "x",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i := range data {
			if want := refSkipSpace(data, i); SkipSpace(data, i) != want {
				t.Fatalf("SkipSpace(%q, %d) = %d, want %d", data, i, SkipSpace(data, i), want)
			}
			if data[i] != '"' {
				continue
			}
			end, flags, ok := ScanStringFlags(data, i)
			wantEnd, wantFlags, wantErr := refScanString(data, i)
			if ok != (wantErr == nil) || ok && (end != wantEnd || flags != wantFlags) {
				t.Fatalf("ScanStringFlags(%q, %d) = %d, %d, %v; want %d, %d, %v", data, i, end, flags, ok, wantEnd, wantFlags, wantErr)
			}
			gotEnd, plain, err := ScanString(data, i)
			if gotEnd != wantEnd || plain != (wantErr == nil && wantFlags == 0) || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("ScanString(%q, %d) = %d, %v, %v; want %d, %v", data, i, gotEnd, plain, err, wantEnd, wantErr)
			}
		}
	})
}

func refSkipSpace(data []byte, i int) int {
	for i < len(data) && strings.IndexByte(" \t\r\n", data[i]) >= 0 {
		i++
	}
	return i
}
