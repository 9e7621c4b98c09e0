package pipeline

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestParseTimeMatchesTime: parseTime gives what time.Parse with RFC 3339
// gives (the same Time, or an error for both) on the fast path's form and
// near misses: impossible dates, leap days, non-digits, other forms.
func TestParseTimeMatchesTime(t *testing.T) {
	cases := []string{"2024-05-14T08:02:11.482Z", "2024-02-29T23:59:59.999Z", "2023-02-29T00:00:00.000Z", "2024-04-31T00:00:00.000Z",
		"2024-13-01T00:00:00.000Z", "2024-00-10T00:00:00.000Z", "2024-05-00T00:00:00.000Z", "2024-05-14T24:00:00.000Z",
		"2024-05-14T08:60:00.000Z", "2024-05-14T08:02:60.000Z", "2024-05-14T08:02:11.48xZ", "2024-05-14T08:02:11:482Z",
		"+024-05-14T08:02:11.482Z", "2024-05-14T08:02:11Z", "2024-05-14T08:02:11.482+02:00", "2024-05-14 08:02:11.482Z",
		"0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z", "", "2024-05-14T08:02:11.4821Z"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := []byte("2024-05-14T08:02:11.482Z")
		for range 1 + rng.IntN(3) {
			b[rng.IntN(len(b))] = "0123456789:-.TZ/ "[rng.IntN(17)]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		got, gerr := parseTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (gerr == nil) != (werr == nil) || got != want {
			t.Fatalf("%q: parseTime %v, %v; time.Parse %v, %v", s, got, gerr, want, werr)
		}
	}
}
