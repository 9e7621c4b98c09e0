package retryafter

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		v  string
		d  time.Duration
		ok bool
	}{
		{"", 0, false},
		{"120", 120 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"Tue, 01 Dec 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Tue, 01 Dec 2026 09:00:00 GMT", 0, true},
	}
	for _, c := range cases {
		d, ok := Parse(c.v, now)
		if d != c.d || ok != c.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", c.v, d, ok, c.d, c.ok)
		}
	}
}
