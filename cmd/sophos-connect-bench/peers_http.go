package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sophos-connect/sophos-connect/sinks/googlesecops/googlesecopstest"
	"github.com/sophos-connect/sophos-connect/sinks/httpout/outtest"
	"github.com/sophos-connect/sophos-connect/sinks/sentinel/sentineltest"
)

// The HTTP sinks' peers answer as the real services do and only count the
// records (gunzip and a scan, no decoding), so the figure is the
// collector's: Splunk HEC, the http sink and OTLP get a receiver here;
// Sentinel and Google SecOps, which need a token service and TLS, the
// in-repo test servers in their CountOnly mode (tokens, paths, limits and
// faults as in the tests, the rows counted, not parsed).

// peerRTT delays every answer of the HTTP and S3 peers (-sink-rtt): the
// round trip to a receiver far away, which overlapping requests and
// batches hide.
var peerRTT time.Duration

func httpPeer(config string, h func(n *atomic.Int64) http.Handler) *peer {
	var n atomic.Int64
	handler := h(&n)
	if rtt := peerRTT; rtt > 0 {
		inner := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(rtt)
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(handler)
	return &peer{config: fmt.Sprintf(config, srv.URL), count: func() int { return int(n.Load()) }, close: srv.Close}
}

func hecPeer() *peer {
	return httpPeer("  - {name: out, type: splunk_hec, url: %s, token: bench-token, batch: {max_events: 1000}}\n", func(n *atomic.Int64) http.Handler {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /services/collector/health", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `{"text":"HEC is healthy","code":17}`)
		})
		mux.HandleFunc("POST /services/collector/event", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Splunk bench-token" {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"text":"Invalid token","code":4}`)
				return
			}
			events := 0
			if err := outtest.Body(r, func(b []byte) { events = outtest.CountObjects(b, 0) }); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"text":"Invalid data format","code":6}`)
				return
			}
			if events == 0 {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"text":"No data","code":5}`)
				return
			}
			n.Add(int64(events))
			io.WriteString(w, `{"text":"Success","code":0}`)
		})
		return mux
	})
}

func httpSinkPeer() *peer {
	return httpPeer("  - {name: out, type: http, url: %s/in, batch: {max_events: 1000}}\n", func(n *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			lines := 0
			if err := outtest.Body(r, func(b []byte) { lines = bytes.Count(b, []byte{'\n'}) }); err != nil { // ndjson: one record per line
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			n.Add(int64(lines))
			w.WriteHeader(http.StatusOK)
		})
	})
}

// otlpPeer answers OTLP/HTTP protobuf log exports, counting the LogRecords
// by walking the wire format (ExportLogsServiceRequest.resource_logs(1) →
// ResourceLogs.scope_logs(2) → ScopeLogs.log_records(2)).
func otlpPeer() *peer {
	return httpPeer("  - {name: out, type: otlp, endpoint: %s, batch: {max_events: 1000}}\n", func(n *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			records, ok := 0, r.URL.Path == "/v1/logs"
			err := outtest.Body(r, func(b []byte) {
				for _, rl := range protoField(b, 1, &ok) {
					for _, sl := range protoField(rl, 2, &ok) {
						records += len(protoField(sl, 2, &ok))
					}
				}
			})
			if err != nil || !ok {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			n.Add(int64(records))
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.WriteHeader(http.StatusOK) // an empty ExportLogsServiceResponse
		})
	})
}

// protoField returns the length-delimited values of field num in msg.
func protoField(msg []byte, num protowire.Number, ok *bool) [][]byte {
	var out [][]byte
	for len(msg) > 0 {
		f, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			*ok = false
			return nil
		}
		msg = msg[n:]
		if f == num && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				*ok = false
				return nil
			}
			out = append(out, v)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(f, typ, msg)
		if m < 0 {
			*ok = false
			return nil
		}
		msg = msg[m:]
	}
	return out
}

func sentinelPeer(dir string) (*peer, error) {
	const tenant, client, secret, dcr = "72f988bf-86f1-41af-91ab-2d7cd011db47", "0c1ad2b3-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "bench-secret", "dcr-00112233445566778899aabbccddeeff"
	streams, err := sentineltest.LoadDCR(filepath.Join("examples", "sentinel-dcr.json"))
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository root)", err)
	}
	srv := sentineltest.New(sentineltest.Options{TenantID: tenant, ClientID: client, ClientSecret: secret, DCR: dcr, Streams: streams, CountOnly: true})
	ca := filepath.Join(dir, "sentinel-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return &peer{
		config: fmt.Sprintf("  - {name: out, type: sentinel, tenant_id: %s, client_id: %s, client_secret: %s, endpoint: %s, authority_host: %s, dcr_immutable_id: %s, tls: {ca_file: %s}, batch: {max_events: 1000}}\n",
			tenant, client, secret, srv.URL, srv.URL, dcr, ca),
		count: func() int { return srv.Stats().Rows },
		close: srv.Close,
	}, nil
}

func secopsPeer(dir string) (*peer, error) {
	const project, customer = "soc-secops-prod", "c8c65bfa-5f2c-42d4-9189-64bb7b939f2c"
	srv := googlesecopstest.New(googlesecopstest.Options{Project: project, Location: "us", CustomerID: customer, CountOnly: true})
	ca, key := filepath.Join(dir, "secops-ca.pem"), filepath.Join(dir, "secops-key.json")
	if err := os.WriteFile(ca, srv.CAPEM, 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	if err := os.WriteFile(key, []byte(srv.Key()), 0o600); err != nil {
		srv.Close()
		return nil, err
	}
	return &peer{
		config: fmt.Sprintf("  - {name: out, type: google_secops, project: %s, region: us, customer_id: %s, credentials_file: %s, endpoint: %s, token_url: %s, tls: {ca_file: %s}, batch: {max_events: 1000}}\n",
			project, customer, key, srv.URL, srv.TokenURL, ca),
		count: func() int { return srv.Stats().Logs },
		close: srv.Close,
	}, nil
}

// s3Peer is an S3 endpoint for one bucket that takes PutObject and the
// multipart calls the s3 sink makes, counting the NDJSON lines of each
// gunzipped object (signatures are not checked: the figure is the
// collector's; the sink's tests run against a real S3 server).
func s3Peer() *peer {
	const bucket = "bench"
	var mu sync.Mutex
	parts := map[string]map[int][]byte{} // upload id → part number → bytes
	countObject := func(gz []byte) (int, error) {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return 0, err
		}
		b, err := io.ReadAll(zr)
		return bytes.Count(b, []byte{'\n'}), err
	}
	return httpPeer("  - {name: out, type: s3, bucket: "+bucket+", endpoint: %s, region: us-east-1, force_path_style: true, access_key_id: bench, secret_access_key: bench-secret, batch: {max_events: 1000}}\n", func(n *atomic.Int64) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			path := strings.TrimPrefix(r.URL.Path, "/")
			if path != bucket && !strings.HasPrefix(path, bucket+"/") {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			b, err := io.ReadAll(r.Body)
			if err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			switch {
			case r.Method == http.MethodHead && path == bucket: // HeadBucket
			case r.Method == http.MethodPost && q.Has("uploads"):
				mu.Lock()
				id := strconv.Itoa(len(parts) + 1)
				parts[id] = map[int][]byte{}
				mu.Unlock()
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`,
					bucket, strings.TrimPrefix(path, bucket+"/"), id)
			case r.Method == http.MethodPut && q.Has("uploadId"):
				num, _ := strconv.Atoi(q.Get("partNumber"))
				mu.Lock()
				parts[q.Get("uploadId")][num] = b
				mu.Unlock()
				w.Header().Set("ETag", fmt.Sprintf(`"%x"`, md5.Sum(b)))
			case r.Method == http.MethodPost && q.Has("uploadId"):
				mu.Lock()
				up := parts[q.Get("uploadId")]
				delete(parts, q.Get("uploadId"))
				mu.Unlock()
				var whole []byte
				for i := 1; i <= len(up); i++ {
					whole = append(whole, up[i]...)
				}
				lines, err := countObject(whole)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				n.Add(int64(lines))
				fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>%s</Bucket><Key>%s</Key><ETag>"x-%d"</ETag></CompleteMultipartUploadResult>`,
					bucket, strings.TrimPrefix(path, bucket+"/"), len(up))
			case r.Method == http.MethodPut:
				lines, err := countObject(b)
				if err != nil {
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				n.Add(int64(lines))
				w.Header().Set("ETag", fmt.Sprintf(`"%x"`, md5.Sum(b)))
			default:
				w.WriteHeader(http.StatusNotImplemented)
			}
		})
	})
}

// openSearchPeer is the real OpenSearch node at $OPENSEARCH_URL (as the
// tests use; test/services/search.sh starts one), into a fresh index that
// is counted after a refresh and deleted at the end.
func openSearchPeer() (*peer, error) {
	base := strings.TrimRight(os.Getenv("OPENSEARCH_URL"), "/")
	if base == "" {
		return nil, fmt.Errorf("-sink opensearch needs a real node: set OPENSEARCH_URL (bash test/services/search.sh start)")
	}
	index := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	call := func(method, path string) ([]byte, error) {
		req, _ := http.NewRequest(method, base+"/"+index+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer res.Body.Close()
		return io.ReadAll(res.Body)
	}
	return &peer{
		config: fmt.Sprintf("  - {name: out, type: opensearch, addresses: [%s], index: %s, format: ecs, batch: {max_events: 1000}}\n", base, index),
		count: func() int {
			if _, err := call(http.MethodPost, "/_refresh"); err != nil {
				return 0
			}
			b, err := call(http.MethodGet, "/_count")
			if err != nil {
				return 0
			}
			var c struct{ Count int }
			json.Unmarshal(b, &c)
			return c.Count
		},
		close: func() { call(http.MethodDelete, "") },
	}, nil
}
