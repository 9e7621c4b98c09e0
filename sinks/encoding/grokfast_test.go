package encoding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestGrokFastMatchesRegexp holds the grok fast paths to the regexp: on
// every IPS raw data text of the fixtures, on edge cases and on variants
// of the fixtures (lines dropped, repeated, moved, blank lines, a line
// before the Message line), each pattern's match gives exactly
// FindSubmatchIndex's answer.
func TestGrokFastMatchesRegexp(t *testing.T) {
	texts := rawDataTexts(t)
	if len(texts) < 5 {
		t.Fatalf("found %d raw data texts in testdata, want the fixtures'", len(texts))
	}
	var variants []string
	for _, s := range texts {
		lines := strings.Split(s, "\n")
		for i := range lines {
			drop := append(append([]string{}, lines[:i]...), lines[i+1:]...)
			variants = append(variants, strings.Join(drop, "\n"))
			dup := append(append(append([]string{}, lines[:i+1]...), lines[i]), lines[i+1:]...)
			variants = append(variants, strings.Join(dup, "\n"))
			blank := append(append(append([]string{}, lines[:i+1]...), ""), lines[i+1:]...)
			variants = append(variants, strings.Join(blank, "\n"))
		}
		variants = append(variants, "noise\n"+s, s+"\n", s+"\n\n", "Message x\n"+s, strings.ReplaceAll(s, "\n", "\r\n"),
			strings.ReplaceAll(s, "  ", "\t"), strings.ReplaceAll(s, ":", ""), s+"\n"+s)
	}
	edge := []string{"", "\n", "\n\n\n", "Message", "Message\n", "Message\nReference\nPacket type\nLocal IP:1.2.3.4",
		"Message\nReference\nPacket type\nLocal IP:1.2.3.4\n\n\n", "Message\nPacket type\nLocal IP:\n1.2.3.4",
		"x\nMessage m\nPacket type p\nLocal IP: ::1\nRemote IP: 10.0.0.1", "Message m\nPacket type p\nLocal IP: 999.1.1.1",
		"Message m\nReference r\nPacket type p\nLocal IP: fe80::1\nLocal Port: 1\nLocal MAC: aa-bb-cc-dd-ee-ff\nRemote IP: 1.1.1.1\nRemote Port: 2\nRemote MAC: 0011.2233.4455",
		"Message m\nReference r\nPacket type p\nLocal IP: 1.2.3.4\nVersion: 1\nSigner: s\nSHA-256: abc",
		"Message m\nReference r\nPacket type p\nLocal IP: 1.2.3.4\n\nSigner: s\n",
		"Message \xff\nPacket type p\nLocal IP: 1.2.3.4", "just one line", "a\nMessage"}
	all := append(append(texts, variants...), edge...)
	matched := map[int]int{}
	for _, pats := range [][]grokPattern{alertRawData, eventRawData} {
		for _, text := range all {
			for i := range pats {
				g := &pats[i]
				want := g.re.FindSubmatchIndex([]byte(text))
				got := g.match([]byte(text), nil)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("pattern %d on %q:\n got %v\nwant %v", i+1, text, got, want)
				}
				if want != nil {
					matched[i]++
				}
			}
		}
	}
	for i := range alertRawData {
		if matched[i] == 0 {
			t.Errorf("pattern %d matched none of the texts: the comparison does not cover it", i+1)
		}
	}
}

// TestGrokFastDerivation checks that the fast paths are in use for the
// raw data patterns, so TestGrokFastMatchesRegexp compares them.
func TestGrokFastDerivation(t *testing.T) {
	for _, pats := range [][]grokPattern{alertRawData, eventRawData} {
		p1, p2, p3, p4 := pats[0].fast, pats[1].fast, pats[2].fast, pats[3].fast
		if !p4.firstLine || p1.firstLine || p2.firstLine || p3.firstLine {
			t.Error("only the last pattern is the first line")
		}
		if len(p2.steps) != 9 || p1.steps != nil || p3.steps != nil {
			t.Errorf("pattern 2 should be matched line by line (steps %d, %d, %d)", len(p1.steps), len(p2.steps), len(p3.steps))
		}
		for i, f := range []grokFast{p1, p2, p3} {
			if f.lead != "Message" || f.anchored == nil {
				t.Errorf("pattern %d: lead %q", i+1, f.lead)
			}
		}
		wantNeed := []string{"Message", "\nReference", "\nPacket type", "\nLocal IP:"}
		if !reflect.DeepEqual(p1.need, wantNeed) {
			t.Errorf("pattern 1 needs %q, want %q", p1.need, wantNeed)
		}
		if want := [][2]string{{"\nVersion:", "\n\n"}}; !reflect.DeepEqual(p1.anyOf, want) {
			t.Errorf("pattern 1 any of %q, want %q", p1.anyOf, want)
		}
		if want := append(wantNeed, "\nLocal Port:", "\nLocal MAC:", "\nRemote IP:", "\nRemote Port:", "\nRemote MAC:"); !reflect.DeepEqual(p2.need, want) {
			t.Errorf("pattern 2 needs %q, want %q", p2.need, want)
		}
		if want := []string{"Message", "\nPacket type", "\nLocal IP:"}; !reflect.DeepEqual(p3.need, want) {
			t.Errorf("pattern 3 needs %q, want %q", p3.need, want)
		}
	}
}

// rawDataTexts are the rawData / raw_data strings anywhere in testdata.
func rawDataTexts(t testing.TB) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "rawData" || k == "raw_data" || k == "original" && strings.Contains(s, "\nPacket type")) && !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	err := filepath.Walk("testdata", func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, chunk := range append([][]byte{b}, bytes.Split(b, []byte("\n"))...) {
			var v any
			if json.Unmarshal(chunk, &v) == nil {
				walk(v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGrokHandMatchersAgree holds the hand-written NUMBER, MAC and IPv4
// tests to the grok definitions' regexps on all of a string.
func TestGrokHandMatchersAgree(t *testing.T) {
	full := func(name string) *regexp.Regexp {
		g := compileGrok("^%{" + name + ":x}$")
		return regexp.MustCompile(`\A(?:` + strings.TrimSuffix(strings.TrimPrefix(g.re.String(), "(?m)^"), "$") + `)\z`)
	}
	number, mac, ip := full("NUMBER"), full("MAC"), full("IP")
	in := []string{"", "0", "1", "+1", "-1", "+", "-", ".", "1.", ".5", "1.5", "-.5", "1.2.3", "12a", " 1", "1 ", "00", "9999999999999999999",
		"00:1C:B3:09:85:15", "00-1c-b3-09-85-15", "aabb.ccdd.eeff", "aabb.ccdd.eefg", "00:1C:B3:09:85", "00:1C:B3:09:85:15:", "00:1C-B3:09:85:15",
		"0011.2233.4455.6677", "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.", "1.2.3.4.5", "01.2.3.4", "001.2.3.4", "1..2.3",
		"10.20.9.17", "198.51.100.23", "::1", "1.2.3.4 ", "1.2.3.a", "1234.1.1.1", ".1.2.3"}
	for a := 0; a < 300; a++ { // every one- to three-digit octet
		in = append(in, fmt.Sprintf("%d.1.%d.9", a, a), fmt.Sprintf("0%d.1.1.1", a))
	}
	if !isPlainIPv4([]byte("10.20.9.17")) || !isPlainIPv4([]byte("0.0.0.0")) {
		t.Error("plain IPv4 addresses must take the hand path")
	}
	for _, s := range in {
		if got, want := isGrokNumber([]byte(s)), number.MatchString(s); got != want {
			t.Errorf("NUMBER %q: hand %v, regexp %v", s, got, want)
		}
		if got, want := isGrokMAC([]byte(s)), mac.MatchString(s); got != want {
			t.Errorf("MAC %q: hand %v, regexp %v", s, got, want)
		}
		if isPlainIPv4([]byte(s)) && !ip.MatchString(s) {
			t.Errorf("IP %q: hand accepts, regexp does not", s)
		}
	}
}
