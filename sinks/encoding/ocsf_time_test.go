package encoding

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestISOFastPaths holds canonISO and appendISOMs to the parsers and the
// formatter they stand in for, on random instants over years 0000-9999,
// the days around leap days and month ends, and malformed or invalid text.
func TestISOFastPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC).UnixMilli()
	var ms []int64
	for range 20000 {
		ms = append(ms, lo+rng.Int64N(hi-lo+1))
	}
	for _, y := range []int{0, 1, 4, 100, 1600, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999} {
		for _, m := range []time.Month{1, 2, 3, 12} {
			for _, d := range []int{0, 1, 28, 29, 30, 31} {
				tm := time.Date(y, m, d, 23, 59, 59, 999e6, time.UTC)
				ms = append(ms, tm.UnixMilli(), tm.UnixMilli()+1)
			}
		}
	}
	for _, v := range ms {
		tm := time.UnixMilli(v).UTC()
		if tm.Year() < 0 || tm.Year() > 9999 {
			continue // below
		}
		for _, c := range []struct{ layout, zone string }{{"2006-01-02T15:04:05.000Z", "Z"}, {"2006-01-02T15:04:05.000-0700", "+0000"}} {
			want := tm.AppendFormat(nil, c.layout)
			got, ok := appendISOMs(nil, v, c.zone)
			if !ok || string(got) != string(want) {
				t.Fatalf("appendISOMs(%d, %q) = %q, %v; want %q", v, c.zone, got, ok, want)
			}
		}
		s := tm.AppendFormat(nil, "2006-01-02T15:04:05.000Z")
		got, ok := canonISO(s)
		if !ok || got != v {
			t.Fatalf("canonISO(%s) = %d, %v; want %d", s, got, ok, v)
		}
		if p, ok := parseISO8601(s); !ok || p != v {
			t.Fatalf("parseISO8601(%s) = %d, %v; canonISO says %d", s, p, ok, v)
		}
	}
	// Outside 0000-9999 the time package writes the year differently: no fast path.
	for _, y := range []int{-1, 10000} {
		if _, ok := appendISOMs(nil, time.Date(y, 6, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), "Z"); ok {
			t.Errorf("appendISOMs took year %d", y)
		}
	}
	// Anything canonISO rejects goes to the general parser; anything it
	// accepts, time.Parse and parseISO8601 accept with the same instant.
	for _, s := range []string{
		"2024-02-29T00:00:00.000Z", "2023-02-29T00:00:00.000Z", "2024-04-31T00:00:00.000Z", "2024-13-01T00:00:00.000Z",
		"2024-00-01T00:00:00.000Z", "2024-01-00T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-01-01T23:60:00.000Z",
		"2024-01-01T23:59:60.000Z", "2024-01-01T23:59:59.000+00:00", "2024-01-01T23:59:59.00Z", "2024-01-01T23:59:59.0000Z",
		"2024-01-01 23:59:59.000Z", "2024-01-01T23:59:59,000Z", "2024-0a-01T00:00:00.000Z", "+024-01-01T00:00:00.000Z",
		"2024-01-01T00:00:00.00/Z", "2024-01-01T00:00:00.000z", "",
	} {
		v, ok := canonISO([]byte(s))
		if !ok {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		p, pok := parseISO8601([]byte(s))
		if err != nil || tm.UnixMilli() != v || !pok || p != v {
			t.Errorf("canonISO(%q) = %d; time.Parse %v %v, parseISO8601 %d %v", s, v, tm, err, p, pok)
		}
	}
	for _, s := range []string{"2023-02-29T00:00:00.000Z", "2024-01-01T24:00:00.000Z", "2024-01-01T23:59:60.000Z", "2024-01-01T23:59:59.00Z", "2024-0a-01T00:00:00.000Z"} {
		if _, ok := canonISO([]byte(s)); ok {
			t.Errorf("canonISO accepted %q", s)
		}
	}
}
