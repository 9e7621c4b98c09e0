package status

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/useragent"
)

//go:embed page.html
var pageHTML string

// Register adds / (and /status), the HTML page, and /status.json to mux.
func Register(mux *http.ServeMux, b *Board, now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	page := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		initial, err := json.Marshal(b.Snapshot(now())) // escapes <, > and & for the script element
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		// Self-contained: nothing is loaded from anywhere, the script may only
		// fetch status.json from this origin.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		fmt.Fprint(w, strings.Replace(pageHTML, "{{INITIAL}}", string(initial), 1))
	}
	mux.HandleFunc("/{$}", page)
	mux.HandleFunc("/status", page)
	mux.HandleFunc("/status.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(b.Snapshot(now()))
	})
}

// Fetch reads /status.json from a collector's metrics_addr.
func Fetch(ctx context.Context, addr string) (Status, error) {
	var st Status
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + addr
	}
	url = strings.TrimSuffix(url, "/") + "/status.json"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := (&http.Client{Transport: useragent.Transport(nil)}).Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: %s (is this a sophos-connect metrics_addr?)", url, resp.Status)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return st, err
	}
	if err := json.Unmarshal(buf.Bytes(), &st); err != nil {
		return st, fmt.Errorf("%s: not a status document: %v", url, err)
	}
	return st, nil
}
