package main

import (
	"net/http"
	"regexp"
	"testing"
	"time"
)

// TestSinkRTTDelaysEveryAnswer: with -sink-rtt the HTTP peers answer each
// request that much later (the figures "peer answers after 20 ms" rest on
// it), and without it at once.
func TestSinkRTTDelaysEveryAnswer(t *testing.T) {
	defer func(old time.Duration) { peerRTT = old }(peerRTT)
	for _, rtt := range []time.Duration{0, 150 * time.Millisecond} {
		peerRTT = rtt
		p := hecPeer()
		url := regexp.MustCompile(`url: (\S+),`).FindStringSubmatch(p.config)[1]
		start := time.Now()
		res, err := http.Get(url + "/services/collector/health")
		took := time.Since(start)
		p.close()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if took < rtt || (rtt == 0 && took >= 150*time.Millisecond) {
			t.Fatalf("-sink-rtt %s: the answer took %s", rtt, took)
		}
	}
}
