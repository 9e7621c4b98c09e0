package outtest

import "testing"

// TestCountObjects: objects at the depth asked for, braces and quotes
// inside strings (escaped quotes and backslashes included) not counted.
func TestCountObjects(t *testing.T) {
	for _, c := range []struct {
		in    string
		depth int
		want  int
	}{
		{`{"a":1}{"b":{"c":2}}`, 0, 2},
		{`[{"a":"}{"},{"b":"\"{"},{"c":"\\"},{"d":"\\\"{\\"}]`, 1, 4},
		{`[{"a":[{"x":1}]},{}]`, 1, 2},
		{`{"inlineSource":{"logs":[{"data":"e30="},{"data":"W10="}]}}`, 3, 2},
		{`{"customer_id":"c","entries":[{"log_text":"{\"id\":\"}\"}"}]}`, 2, 1},
		{`[{"a":"unterminated`, 1, 1},
		{`[]`, 1, 0},
	} {
		if got := CountObjects([]byte(c.in), c.depth); got != c.want {
			t.Errorf("CountObjects(%s, %d) = %d, want %d", c.in, c.depth, got, c.want)
		}
	}
}
