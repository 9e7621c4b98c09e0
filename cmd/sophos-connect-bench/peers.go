package main

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sophos-connect/sophos-connect/sinks/elasticsearch/elasticsearchtest"
)

// peer is a network sink's loopback counterpart.
type peer struct {
	config string
	count  func() int // events received; -1 when not counted
	close  func()
}

func startPeer(sink, dir string) (*peer, error) {
	switch sink {
	case "jsonl", "json", "txt":
		return &peer{count: func() int { return -1 }, close: func() {}}, nil
	case "syslog":
		return syslogPeer()
	case "kafka":
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "sophos-events"), kfake.BlackholeProduce())
		if err != nil {
			return nil, err
		}
		return &peer{
			config: fmt.Sprintf("  - {name: out, type: kafka, brokers: [%s], topic: sophos-events, format: raw, batch: {max_events: 1000}}\n", c.ListenAddrs()[0]),
			count:  func() int { return -1 }, // kfake discards the records here: its storage is not what is measured
			close:  c.Close,
		}, nil
	case "elasticsearch":
		s := elasticsearchtest.New(elasticsearchtest.Options{DiscardSource: true}) // ids and versions only: the peer's own storage is not what is measured
		return &peer{
			config: fmt.Sprintf("  - {name: out, type: elasticsearch, addresses: [%s], index: sophos-events, format: ecs, batch: {max_events: 1000}}\n", s.URL),
			count:  func() int { return s.Count("sophos-events") },
			close:  s.Close,
		}, nil
	case "opensearch":
		return openSearchPeer()
	case "splunk_hec":
		return hecPeer(), nil
	case "http":
		return httpSinkPeer(), nil
	case "otlp":
		return otlpPeer(), nil
	case "s3":
		return s3Peer(), nil
	case "sentinel":
		return sentinelPeer(dir)
	case "google_secops":
		return secopsPeer(dir)
	case "stdout":
		return &peer{config: "  - {name: out, type: stdout}\n", count: func() int { return -1 }, close: func() {}}, nil
	}
	return nil, fmt.Errorf("unknown sink %q (%s)", sink, strings.Join(benchSinks, ", "))
}

// benchSinks are the sinks the bench can measure: every sink type, the
// file sinks in their three layouts.
var benchSinks = []string{"jsonl", "txt", "json", "stdout", "syslog", "kafka", "elasticsearch", "opensearch", "splunk_hec", "sentinel", "http", "otlp", "s3", "google_secops"}

// syslogPeer is a TCP receiver that reads octet-counted frames and counts them.
func syslogPeer() (*peer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReaderSize(c, 1<<20)
				for {
					lenStr, err := r.ReadString(' ')
					if err != nil {
						return
					}
					size, err := strconv.Atoi(lenStr[:len(lenStr)-1])
					if err != nil {
						return
					}
					if _, err := r.Discard(size); err != nil {
						return
					}
					n.Add(1)
				}
			}()
		}
	}()
	return &peer{
		config: fmt.Sprintf("  - {name: out, type: syslog, address: tcp://%s, framing: octet-counting, format: cef, batch: {max_events: 1000}}\n", ln.Addr()),
		count:  func() int { return int(n.Load()) },
		close:  func() { ln.Close(); wg.Wait() },
	}, nil
}
