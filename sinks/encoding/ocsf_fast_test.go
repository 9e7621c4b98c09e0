package encoding

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestIsIPv4MatchesNetip holds the dotted-quad fast path to
// netip.ParseAddr: whatever it accepts netip accepts, and every IPv4 text
// netip accepts it accepts too.
func TestIsIPv4MatchesNetip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []byte("0123456789..:a")
	cases := []string{"", ".", "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
		"1..2.3", "1.2.3.4.", ".1.2.3.4", "1000.1.1.1", "1.2.3.04", "10.20.4.142", "::1", "1.2.3.4%eth0"}
	for range 50000 {
		b := make([]byte, rng.IntN(16))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for range 2000 {
		a := netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		cases = append(cases, a.String())
	}
	for _, s := range cases {
		a, err := netip.ParseAddr(s)
		want := err == nil && a.Is4()
		if got := isIPv4([]byte(s)); got != want {
			t.Fatalf("isIPv4(%q) = %v, netip says %v (%v)", s, got, want, err)
		}
	}
}
