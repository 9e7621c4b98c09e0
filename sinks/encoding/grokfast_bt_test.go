package encoding

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestGrokBacktrackMatchesRegexp holds the backtracking matcher of the IPS
// raw data patterns to RE2 (FindSubmatchIndex) on generated texts: the
// fixtures' line layout with lines dropped, repeated, swapped, blank or
// joined, separators of spaces, tabs, CRs and newlines, and values at the
// types' edges (IPv4 octets 0-299 with leading zeros, IPv6 forms, MACs of
// each form and near misses, signed and decimal numbers, Unix and Windows
// paths over lines, with ? and *, non-ASCII and invalid UTF-8). Every
// pattern's whole match must agree; the matcher must be sure on most
// texts, or the comparison would only exercise the regexp.
func TestGrokBacktrackMatchesRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	// mostly the first (a value of the type), else any: most texts match
	valid := func(xs ...string) string {
		if rng.IntN(5) != 0 {
			return xs[0]
		}
		return pick(xs...)
	}
	octet := func() string {
		if rng.IntN(2) == 0 {
			return "10"
		}
		return pick("0", "1", "9", "10", "99", "01", "001", "099", "100", "199", "200", "249", "250", "255", "256", "299", "300", "1000")
	}
	ip := func() string {
		switch rng.IntN(10) {
		case 0, 1, 2, 3, 4, 5:
			return "192.168.0.3"
		case 6:
			return pick("::1", "fe80::1", "2001:db8::1", "::ffff:10.0.0.1", "1:2:3:4:5:6:7:8", "1::", "::", "1:2:3:4:5:6:1.2.3.4", "g::1", "1:::2", "1.2.3")
		default:
			return octet() + "." + octet() + "." + octet() + "." + octet()
		}
	}
	mac := func() string {
		if rng.IntN(5) != 0 {
			return pick("00:50:b6:90:9e:e3", "00-1C-B3-09-85-15", "aabb.ccdd.eeff")
		}
		return pick("00:50:b6:90:9e:e3", "00-1C-B3-09-85-15", "aabb.ccdd.eeff", "00:50:b6:90:9e", "00:50:b6:90:9e:e3:11", "0050.b690.9ee3x", "zz:50:b6:90:9e:e3", "00-50:b6-90:9e-e3")
	}
	num := func() string {
		return valid("0", "123", "+5", "-7", "1.5", ".5", "1.", "12a", "", "99999999999999999999", "2468")
	}
	path := func() string {
		return valid(`C:\\Program Files\\Bad Vendor\\Bad Program.exe`, `C:\\a?b`, `\\\\server\\share\\x`, `/usr/bin/x`, `/usr/bin/a\\ b`, `/a/é`,
			`relative\\x`, `C:`, `C:\\`, `/`, `C:\\dir*\\x`, "C:\\\\a\nb", "/x\xff")
	}
	data := func() string {
		return pick("OS-WINDOWS Microsoft Windows SMB remote code execution attempt", "CVE-2017-0146", "TCP", "", "  ", "a\tb", "é \xff", "x:y", "7.6.5", "PositiveSSL CA 2")
	}
	word := func() string {
		return valid("19648CE85F07F4DEC80C4B37266C31A1025DAB5318DFF5C1AB1F65A7E7886B3C", "abc", "a-b", "", "_x_", "ab cd")
	}
	sep := func() string { return pick("       ", " ", "", "\t", "  \t ", " \r", "\n", "   \n  ") }
	type line struct{ label, value string }
	var texts []string
	for n := 0; n < 1000; n++ {
		lines := []line{{"Message", data()}, {"Reference", data()}, {"Packet type", pick("TCP", "UDP", "")},
			{"Local IP:", ip()}, {"Local Port:", num()}, {"Local MAC:", mac()}, {"Remote IP:", ip()}, {"Remote Port:", num()},
			{"Remote MAC:", mac()}, {"PID:", num()}, {"Executable:", path()}, {"Version:", data()}, {"Signer:", data()}, {"SHA-256:", word()}}
		if rng.IntN(2) == 0 {
			lines = lines[:9] // the event form
		}
		for range rng.IntN(2) {
			i := rng.IntN(len(lines))
			switch rng.IntN(5) {
			case 0:
				lines = append(lines[:i], lines[i+1:]...)
			case 1:
				lines = append(lines[:i+1], lines[i:]...)
			case 2:
				lines = append(lines[:i+1], append([]line{{"", ""}}, lines[i+1:]...)...)
			case 3:
				j := rng.IntN(len(lines))
				lines[i], lines[j] = lines[j], lines[i]
			case 4:
				lines[i].value += pick("Remote IP: 1.2.3.4", "\n", " ", "x")
			}
			if len(lines) == 0 {
				break
			}
		}
		var b strings.Builder
		for i, l := range lines {
			if i > 0 {
				b.WriteString(valid("\n", "\n\n", ""))
			}
			b.WriteString(l.label)
			if l.label != "" {
				b.WriteString(sep())
			}
			b.WriteString(l.value)
		}
		b.WriteString(pick("", "", "", "\n", "\n\n"))
		texts = append(texts, b.String())
	}
	sure, matched := 0, 0
	for _, pats := range [][]grokPattern{alertRawData, eventRawData} {
		for i := range pats {
			g := &pats[i]
			if g.fast.bt == nil {
				continue
			}
			for _, text := range texts {
				want := g.re.FindSubmatchIndex([]byte(text))
				if got := g.match([]byte(text), nil); !reflect.DeepEqual(got, want) {
					t.Fatalf("pattern %d on %q:\n got %v\nwant %v", i+1, text, got, want)
				}
				if want != nil && want[0] == 0 {
					if m, ok := g.fast.bt.match([]byte(text), 0, nil); ok {
						if !reflect.DeepEqual(m, want) {
							t.Fatalf("pattern %d, the matcher alone, on %q:\n got %v\nwant %v", i+1, text, m, want)
						}
						sure++
					}
					matched++
				}
			}
		}
	}
	// the fixtures' texts: the matcher decides every one (no regexp)
	for _, text := range rawDataTexts(t) {
		for _, pats := range [][]grokPattern{alertRawData, eventRawData} {
			for i := range pats[:3] {
				want := pats[i].re.FindSubmatchIndex([]byte(text))
				if want == nil || want[0] != 0 {
					continue
				}
				if m, ok := pats[i].fast.bt.match([]byte(text), 0, nil); !ok || !reflect.DeepEqual(m, want) {
					t.Errorf("pattern %d on the fixture text %q: sure %v, %v, want %v", i+1, text, ok, m, want)
				}
			}
		}
	}
	if matched < 500 || sure*10 < matched*9 {
		t.Fatalf("the matcher was sure on %d of %d matching texts", sure, matched)
	}
	t.Logf("the matcher was sure on %d of %d matching texts", sure, matched)
}

// BenchmarkGrokRawData matches the sample event's IPS raw data (the
// 14-line form, pattern 1) with RE2 as the pipeline's grok did and with
// the fast paths (TestGrokBacktrackMatchesRegexp holds them equal):
//
//	go test -run XXX -bench GrokRawData -benchtime 2000x ./sinks/encoding/
func BenchmarkGrokRawData(b *testing.B) {
	texts := rawDataTexts(b)
	var text []byte
	for _, s := range texts {
		if strings.Contains(s, "SHA-256:") {
			text = []byte(s)
			break
		}
	}
	g := &alertRawData[0]
	if text == nil || g.re.FindSubmatchIndex(text) == nil {
		b.Fatal("no 14-line raw data text matching pattern 1 in the fixtures")
	}
	b.Run("regexp", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			g.re.FindSubmatchIndex(text)
		}
	})
	b.Run("fast", func(b *testing.B) {
		var m []int
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m = g.match(text, m[:0])
		}
	})
}
