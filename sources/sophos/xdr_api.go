package sophos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// The Detections and Cases APIs (reference/sophos-xdr-api.md): the calls
// and their answers. What to ask for, and what to remember, is the
// streams' job (detections.go, cases.go).

// DetectionRun is the run object of the asynchronous detections query.
type DetectionRun struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	Result     string    `json:"result"` // notAvailable | succeeded | failed
	Status     string    `json:"status"` // pending | finished
	FinishedAt time.Time `json:"finishedAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Run results.
const (
	RunNotAvailable = "notAvailable"
	RunSucceeded    = "succeeded"
	RunFailed       = "failed"
)

// Expired reports whether the run's results are gone at now.
func (r DetectionRun) Expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

const detectionsPath = "/detections/v1/queries/detections"

// StartDetectionQuery POSTs a {from, to} window (sorted by sensorGeneratedAt).
func (c *Client) StartDetectionQuery(ctx context.Context, t Tenant, from, to time.Time) (DetectionRun, error) {
	body := map[string]any{
		"from": from.UTC().Format(time.RFC3339Nano),
		"to":   to.UTC().Format(time.RFC3339Nano),
		"sort": []map[string]string{{"field": "sensorGeneratedAt", "direction": "asc"}},
	}
	var run DetectionRun
	err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: detectionsPath, tenant: t.ID}, body, &run)
	if err == nil && run.ID == "" {
		err = fmt.Errorf("sophos: POST %s: the answer has no run id", detectionsPath)
	}
	return run, err
}

// DetectionRunStatus GETs the run.
func (c *Client) DetectionRunStatus(ctx context.Context, t Tenant, runID string) (DetectionRun, error) {
	var run DetectionRun
	err := c.getJSON(ctx, &call{base: t.APIHost, path: detectionsPath + "/" + url.PathEscape(runID), tenant: t.ID}, &run)
	return run, err
}

// xdrPage is one page of detections or cases: the records, malformed items,
// and the pages object as sent.
type xdrPage struct {
	Records  []pipeline.Record
	Rejected []pipeline.Rejected
	Pages    xdrPages
	Bytes    int
}

// xdrPages is the "pages" object of both APIs: detections results carry
// current/size/total (pages)/maxSize/items; cases carry nextKey.
type xdrPages struct {
	Current int    `json:"current"`
	Size    int    `json:"size"`
	Total   int    `json:"total"`
	MaxSize int    `json:"maxSize"`
	Items   int    `json:"items"`
	NextKey string `json:"nextKey"`
}

// lastPage tells whether page (1-based) with n items is the last of a
// results set. "total" is a page count in the documented shape; when the
// item count says fewer pages, that wins (a server that sends total as an
// item count must not make us ask for empty pages forever). An empty page
// always ends.
func (p xdrPages) lastPage(page, n int) bool {
	if n == 0 {
		return true
	}
	pages := p.Total
	if p.Items > 0 && p.Size > 0 {
		if byItems := (p.Items + p.Size - 1) / p.Size; pages == 0 || byItems < pages {
			pages = byItems
		}
	}
	return page >= pages
}

// decodeXDRPage reads {"items": [...], "pages": {...}}: each item becomes a
// record (or a rejected item); the body must be a JSON object with an items array.
func decodeXDRPage(body []byte, stream pipeline.Stream, tenant string) (*xdrPage, error) {
	if !rawjson.Valid(body) {
		return nil, errors.New("body is not valid JSON")
	}
	items := rawjson.Get(body, "items")
	if items == nil || items[0] != '[' {
		return nil, errors.New(`the page has no "items" array`)
	}
	p := &xdrPage{Bytes: len(body)}
	if _, err := decodeItems(items, 0, stream, tenant, &p.Records, &p.Rejected); err != nil {
		return nil, err
	}
	if pg := rawjson.Get(body, "pages"); pg != nil && pg[0] == '{' {
		if err := json.Unmarshal(pg, &p.Pages); err != nil {
			return nil, fmt.Errorf(`"pages" is not the expected object: %v`, err)
		}
	}
	return p, nil
}

// DetectionResults GETs one results page of a finished run.
func (c *Client) detectionResults(ctx context.Context, t Tenant, runID string, page, size int) (*xdrPage, error) {
	q := "pageSize=" + strconv.Itoa(size) + "&page=" + strconv.Itoa(page)
	res, err := c.do(ctx, &call{method: http.MethodGet, base: t.APIHost, path: detectionsPath + "/" + url.PathEscape(runID) + "/results", query: q, tenant: t.ID, idempotent: true})
	if err != nil {
		return nil, err
	}
	p, err := decodeXDRPage(res.body, pipeline.Detections, t.ID)
	if err != nil {
		return nil, &PageError{Tenant: t.ID, TenantName: t.Label(), Stream: "detections", Reason: err.Error()}
	}
	return p, nil
}

// casesPage GETs one page of /cases/v1/cases: createdAfter bounds the
// window, pageFromKey pages (never page=).
func (c *Client) casesPage(ctx context.Context, t Tenant, createdAfter time.Time, size int, key string) (*xdrPage, error) {
	q := url.Values{}
	q.Set("createdAfter", createdAfter.UTC().Format(time.RFC3339))
	q.Set("pageSize", strconv.Itoa(size))
	if key != "" {
		q.Set("pageFromKey", key)
	}
	res, err := c.do(ctx, &call{method: http.MethodGet, base: t.APIHost, path: "/cases/v1/cases", query: q.Encode(), tenant: t.ID, idempotent: true})
	if err != nil {
		return nil, err
	}
	p, err := decodeXDRPage(res.body, pipeline.Cases, t.ID)
	if err != nil {
		return nil, &PageError{Tenant: t.ID, TenantName: t.Label(), Stream: "cases", Reason: err.Error()}
	}
	return p, nil
}

// caseDetections GETs every page of a case's detections, as the raw JSON
// items (MITRE mapping included).
func (c *Client) caseDetections(ctx context.Context, t Tenant, caseID string) ([][]byte, error) {
	var out [][]byte
	key := ""
	seen := map[string]bool{}
	for range maxPages {
		q := "pageSize=100"
		if key != "" {
			q += "&pageFromKey=" + url.QueryEscape(key)
		}
		res, err := c.do(ctx, &call{method: http.MethodGet, base: t.APIHost, path: "/cases/v1/cases/" + url.PathEscape(caseID) + "/detections", query: q, tenant: t.ID, idempotent: true})
		if err != nil {
			return nil, err
		}
		if !rawjson.Valid(res.body) {
			return nil, fmt.Errorf("sophos: case %s detections: body is not valid JSON", caseID)
		}
		items := rawjson.Get(res.body, "items")
		if items == nil || items[0] != '[' {
			return nil, fmt.Errorf(`sophos: case %s detections: no "items" array`, caseID)
		}
		n := 0
		_ = rawjson.EachElement(items, func(v []byte) bool { out = append(out, v); n++; return true })
		var pg xdrPages
		if raw := rawjson.Get(res.body, "pages"); raw != nil {
			_ = json.Unmarshal(raw, &pg)
		}
		if pg.NextKey == "" || n == 0 || seen[pg.NextKey] {
			return out, nil
		}
		seen[pg.NextKey] = true
		key = pg.NextKey
	}
	return out, fmt.Errorf("sophos: case %s detections: more than %d pages", caseID, maxPages)
}

// NotLicensedError is a tenant whose detections or cases routes answer 403
// or 404: no XDR/MDR licence, or a credential without the role. It is not a
// failure of the pass: the stream is skipped for the tenant and retried later.
type NotLicensedError struct {
	Tenant, TenantName string
	Stream             string // detections | cases
	Status             int
	Until              time.Time // retried after this
}

func (e *NotLicensedError) Error() string {
	who := e.Tenant
	if e.TenantName != "" && e.TenantName != e.Tenant {
		who = fmt.Sprintf("%q (%s)", e.TenantName, e.Tenant)
	}
	return fmt.Sprintf("not licensed: tenant %s answers %d for %s (no XDR/MDR licence, or the API credential lacks the role; Sophos documents Service Principal Super Admin for detections): skipped, tried again at %s",
		who, e.Status, e.Stream, e.Until.UTC().Format(time.RFC3339))
}

// NotAvailable marks the error for the pipeline: skip, do not fail the pass.
func (e *NotLicensedError) NotAvailable() string { return "not licensed" }

// Retryable is false: fetching again in this pass cannot help.
func (e *NotLicensedError) Retryable() bool { return false }

// unlicensedStatus reports an answer that means "this tenant has no such API".
func unlicensedStatus(err error) (int, bool) {
	var ae *APIError
	if errors.As(err, &ae) && (ae.Status == http.StatusForbidden || ae.Status == http.StatusNotFound) {
		return ae.Status, true
	}
	return 0, false
}
