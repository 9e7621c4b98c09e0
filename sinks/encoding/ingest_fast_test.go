package encoding

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemberIndexMatchesScan holds ingest.in (an index of the members of
// the objects asked about) to tape.lastMember (a scan) on every object of
// the sample pages' and random items (repeated and escaped names, many
// objects, large ones), for every member name and some absent ones, with
// the index carried from item to item as the encoder does.
func TestMemberIndexMatchesScan(t *testing.T) {
	items := diffSeeds(t)
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 1500; i++ {
		items = append(items, randItem(rng))
	}
	big := []byte(`{"o":{`)
	for i := 0; i < 300; i++ {
		big = append(big, `"k`+string(rune('a'+i%26))+string(rune('a'+i/26%26))+`":1,`...)
	}
	big = append(big, `"id":2}}`...)
	items = append(items, []byte(`{"a":{"x":1,"x":2,"y":{"x":3}},"b":{"\u0078":4,"x":5},"c":{"x":6,"\u0078":7}}`), big)
	var tp tape
	p := ingest{t: &tp}
	checks, indexed := 0, 0
	for _, item := range items {
		if !tp.parseItem(item) {
			continue
		}
		p.newRecord()
		for obj := int32(1); obj < int32(len(tp.nodes)); obj++ {
			if tp.kind(obj) != '{' || rng.IntN(3) == 0 { // some objects are never asked about
				continue
			}
			names := []string{"", "missing", "x", "id"}
			for k, end := tp.members(obj); k < end; k = tp.nodes[k+1].next {
				names = append(names, tp.keyName(k), string(tp.appendStrText(nil, k)))
			}
			for _, name := range names {
				if got, want := p.in(obj, name), tp.lastMember(obj, name); got != want {
					t.Fatalf("item %s: in(%d, %q) = %d, a scan finds %d", item, obj, name, got, want)
				}
				checks++
			}
		}
		for _, o := range p.memObjs[:p.memObjN] {
			if o > 0 {
				indexed++
			}
		}
	}
	if checks < 10000 || indexed < 500 {
		t.Fatalf("only %d checks, %d indexed objects", checks, indexed)
	}
}

// TestParseISO8601MatchesTime holds parseISO8601 (its own calendar
// arithmetic) to the version that asked time.Date (refParseISO8601), on
// random and edge-case dates: every year 0000-9999 form, invalid months
// and days, leap days, fractions of 1 to 10 digits, zones.
func TestParseISO8601MatchesTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	two := func(n int) string { return string([]byte{byte('0' + n/10%10), byte('0' + n%10)}) }
	inputs := []string{"2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z",
		"1970-01-01", "1969-12-31T23:59:59.999-00:30", "2022-11-24T07:07:52.085Z", "2022-11-24T07:07:52,1+05", "2022-11-24T07", "2022-11-24T07:07"}
	for i := 0; i < 200000; i++ {
		y := rng.IntN(10000)
		if rng.IntN(2) == 0 {
			y = 1600 + rng.IntN(900)
		}
		s := string([]byte{byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10)}) +
			"-" + two(rng.IntN(14)) + "-" + two(rng.IntN(33))
		if rng.IntN(4) != 0 {
			s += "T" + two(rng.IntN(25)) + ":" + two(rng.IntN(61)) + ":" + two(rng.IntN(61))
			if rng.IntN(2) == 0 {
				s += "."
				for range rng.IntN(11) {
					s += string(rune('0' + rng.IntN(10)))
				}
			}
		}
		switch rng.IntN(5) {
		case 0:
			s += "Z"
		case 1:
			s += "+" + two(rng.IntN(20)) + ":" + two(rng.IntN(61))
		case 2:
			s += "-" + two(rng.IntN(20)) + two(rng.IntN(61))
		case 3:
			s += "-" + two(rng.IntN(20))
		}
		inputs = append(inputs, s)
	}
	ok := 0
	for _, s := range inputs {
		gotMs, gotOK := parseISO8601([]byte(s))
		wantMs, wantOK := refParseISO8601([]byte(s))
		if gotOK != wantOK || gotMs != wantMs {
			t.Fatalf("parseISO8601(%q) = %d %v, time.Date gives %d %v", s, gotMs, gotOK, wantMs, wantOK)
		}
		if gotOK {
			ok++
		}
	}
	if ok < 20000 {
		t.Fatalf("only %d valid dates compared", ok)
	}
}

// refParseISO8601 is parseISO8601 as it was, with time.Date.
func refParseISO8601(s []byte) (int64, bool) {
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, len(b) > 0
	}
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	y, ok1 := num(s[0:4])
	mo, ok2 := num(s[5:7])
	dd, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || mo < 1 || mo > 12 || dd < 1 || dd > 31 {
		return 0, false
	}
	rest := s[10:]
	var hh, mi, ss, nanos int
	if len(rest) > 0 && rest[0] == 'T' {
		rest = rest[1:]
		var ok bool
		if len(rest) < 2 {
			return 0, false
		}
		if hh, ok = num(rest[:2]); !ok || hh > 23 {
			return 0, false
		}
		rest = rest[2:]
		if len(rest) >= 3 && rest[0] == ':' {
			if mi, ok = num(rest[1:3]); !ok || mi > 59 {
				return 0, false
			}
			rest = rest[3:]
			if len(rest) >= 3 && rest[0] == ':' {
				if ss, ok = num(rest[1:3]); !ok || ss > 59 {
					return 0, false
				}
				rest = rest[3:]
				if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
					i := 1
					for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
						i++
					}
					if i == 1 || i > 10 {
						return 0, false
					}
					frac := string(rest[1:i]) + strings.Repeat("0", 10-i)
					nanos, _ = strconv.Atoi(frac)
					rest = rest[i:]
				}
			}
		}
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == 'Z':
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var oh, om int
		var ok bool
		switch len(z) {
		case 2:
			oh, ok = num(z)
		case 4:
			oh, ok = num(z[:2])
			if ok {
				om, ok = num(z[2:])
			}
		case 5:
			if z[2] != ':' {
				return 0, false
			}
			oh, ok = num(z[:2])
			if ok {
				om, ok = num(z[3:])
			}
		}
		if !ok || oh > 18 || om > 59 {
			return 0, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	t := time.Date(y, time.Month(mo), dd, hh, mi, ss, nanos, time.UTC)
	if t.Day() != dd { // 2023-02-30
		return 0, false
	}
	return t.UnixMilli() - int64(offset)*1000, true
}

// TestAppendISOMillisMatchesTime holds appendISOMillis (its own calendar
// arithmetic) to time's formatting over years 1 to 9999, both ends and
// around the epoch included.
func TestAppendISOMillisMatchesTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	ms := []int64{minISOMillis, maxISOMillis, 0, -1, 1, 951782400000, -86400000, 86399999}
	for i := 0; i < 200000; i++ {
		ms = append(ms, minISOMillis+rng.Int64N(maxISOMillis-minISOMillis+1))
		ms = append(ms, rng.Int64N(4e12)-2e12) // 1906-2033
	}
	for _, m := range ms {
		want := `"` + time.UnixMilli(m).UTC().Format("2006-01-02T15:04:05.000Z") + `"`
		if got := string(appendISOMillis(nil, m)); got != want {
			t.Fatalf("appendISOMillis(%d) = %s, time gives %s", m, got, want)
		}
	}
}
