package sophos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// AlertIDs lists the ids of the tenant's Common API alerts raised in
// [from, to), every page (reconciliation's upstream: the Common API's alert
// ids are the SIEM alert ids).
func (c *Client) AlertIDs(ctx context.Context, t Tenant, from, to time.Time) ([]string, error) {
	list, err := c.ListAlerts(ctx, t, AlertFilter{From: from, To: to, PageSize: 1000})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list))
	for _, a := range list {
		ids = append(ids, a.ID)
	}
	return ids, nil
}

// RepairedField marks an alert item that reconcile -repair fetched from the
// Common API and delivered in the SIEM alert shape.
const RepairedField = "sophos_connect_repaired"

// SIEMItem maps a Common API alert to the SIEM alert shape the encoders
// expect (reference §4, §5): id, description, severity, type, created_at
// and when (raisedAt), customer_id (the tenant), data.endpoint_id and
// data.endpoint_type (managedAgent), source "n/a" and location "" (the
// Common API names neither), plus category, product and the marker
// "sophos_connect_repaired": true.
func (a *Alert) SIEMItem(tenantID string) []byte {
	raised := a.RaisedTime().UTC()
	at := raised.Format("2006-01-02T15:04:05.000Z")
	type data struct {
		EndpointID   string `json:"endpoint_id"`
		EndpointType string `json:"endpoint_type"`
		CreatedAt    int64  `json:"created_at"`
		InsertedAt   int64  `json:"inserted_at"`
	}
	item := struct {
		Description string `json:"description"`
		Source      string `json:"source"`
		Severity    string `json:"severity"`
		Data        data   `json:"data"`
		CustomerID  string `json:"customer_id"`
		CreatedAt   string `json:"created_at"`
		When        string `json:"when"`
		Type        string `json:"type"`
		Location    string `json:"location"`
		ID          string `json:"id"`
		Category    string `json:"category,omitempty"`
		Product     string `json:"product,omitempty"`
		Repaired    bool   `json:"sophos_connect_repaired"`
	}{
		Description: a.Description, Source: "n/a", Severity: a.Severity,
		Data:       data{EndpointID: a.ManagedAgent.ID, EndpointType: a.ManagedAgent.Type, CreatedAt: raised.UnixMilli(), InsertedAt: raised.UnixMilli()},
		CustomerID: tenantID, CreatedAt: at, When: at, Type: a.Type, ID: a.ID, Category: a.Category, Product: a.Product, Repaired: true,
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(item) // plain strings and numbers: cannot fail
	return bytes.TrimRight(b.Bytes(), "\n")
}

// DetectionCounts returns the tenant's detections per hour (by
// sensorGeneratedAt) in [from, to), as the Detections API counts them
// (GET /detections/v1/queries/detections/counts?resolution=hour), keyed by
// the hour's Unix time / 3600.
func (c *Client) DetectionCounts(ctx context.Context, t Tenant, from, to time.Time) (map[int64]int, error) {
	q := url.Values{}
	q.Set("from", isoTime(from))
	q.Set("to", isoTime(to))
	q.Set("resolution", "hour")
	var res struct {
		Items []struct {
			Time  string `json:"time"`
			Count int    `json:"count"`
		} `json:"items"`
	}
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: detectionsPath + "/counts", query: q.Encode(), tenant: t.ID}, &res); err != nil {
		return nil, err
	}
	out := map[int64]int{}
	for _, it := range res.Items {
		ts := parseTimeUTC(it.Time)
		if ts.IsZero() {
			return nil, fmt.Errorf("sophos: detections counts: a bucket's time %q is not a time", it.Time)
		}
		out[ts.Unix()/3600] += it.Count
	}
	return out, nil
}
