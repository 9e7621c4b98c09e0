package sophos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Alert is a Common API alert (/common/v1/alerts).
type Alert struct {
	ID             string   `json:"id"`
	AllowedActions []string `json:"allowedActions"`
	Category       string   `json:"category"`
	Description    string   `json:"description"`
	GroupKey       string   `json:"groupKey"`
	ManagedAgent   struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"managedAgent"`
	Person struct {
		ID string `json:"id"`
	} `json:"person"`
	Product  string `json:"product"`
	RaisedAt string `json:"raisedAt"` // ISO-8601, with or without Z (UTC either way): see RaisedTime
	Severity string `json:"severity"`
	Tenant   struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"tenant"`
	Type string `json:"type"`

	withRaw // the alert as received
}

// UnmarshalJSON keeps the raw object in Raw.
func (a *Alert) UnmarshalJSON(b []byte) error {
	type plain Alert
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	a.Raw = rawOf(b)
	return nil
}

// MarshalJSON writes the alert as received (every field), else the typed fields.
func (a Alert) MarshalJSON() ([]byte, error) {
	if len(a.Raw) > 0 {
		return a.Raw, nil
	}
	type plain Alert
	return json.Marshal(plain(a))
}

// RaisedTime parses RaisedAt as UTC (Sophos sometimes omits the Z).
func (a *Alert) RaisedTime() time.Time { return parseTimeUTC(a.RaisedAt) }

// Allows reports whether action is in AllowedActions.
func (a *Alert) Allows(action string) bool {
	for _, x := range a.AllowedActions {
		if x == action {
			return true
		}
	}
	return false
}

// AlertFilter selects Common API alerts. Zero fields are not sent.
type AlertFilter struct {
	IDs      []string
	Severity []string // high, medium, low
	Category []string // malware, pua, runtimeDetections, …
	Product  []string // endpoint, server, …
	From, To time.Time
	GroupKey string
	Sort     []string // e.g. raisedAt:desc
	PageSize int      // default 100
}

func (f AlertFilter) query(key string) string {
	q := url.Values{}
	setCSV(q, "ids", f.IDs)
	setCSV(q, "severity", f.Severity)
	setCSV(q, "category", f.Category)
	setCSV(q, "product", f.Product)
	setCSV(q, "sort", f.Sort)
	if !f.From.IsZero() {
		q.Set("from", isoTime(f.From))
	}
	if !f.To.IsZero() {
		q.Set("to", isoTime(f.To))
	}
	if f.GroupKey != "" {
		q.Set("groupKey", f.GroupKey)
	}
	q.Set("pageSize", strconv.Itoa(f.pageSize()))
	if key != "" {
		q.Set("pageFromKey", key)
	}
	return q.Encode()
}

func (f AlertFilter) pageSize() int {
	if f.PageSize <= 0 {
		return 100
	}
	return f.PageSize
}

// body is the POST /common/v1/alerts/search criteria.
func (f AlertFilter) body(key string) map[string]any {
	b := map[string]any{"pageSize": f.pageSize()}
	put := func(k string, v []string) {
		if len(v) > 0 {
			b[k] = v
		}
	}
	put("ids", f.IDs)
	put("severity", f.Severity)
	put("category", f.Category)
	put("product", f.Product)
	put("sort", f.Sort)
	if !f.From.IsZero() {
		b["from"] = isoTime(f.From)
	}
	if !f.To.IsZero() {
		b["to"] = isoTime(f.To)
	}
	if f.GroupKey != "" {
		b["groupKey"] = f.GroupKey
	}
	if key != "" {
		b["pageFromKey"] = key
	}
	return b
}

// ListAlerts lists the tenant's Common API alerts matching f, every page
// (GET /common/v1/alerts, pageFromKey/nextKey).
func (c *Client) ListAlerts(ctx context.Context, t Tenant, f AlertFilter) ([]Alert, error) {
	return pageAll(ctx, "GET /common/v1/alerts", func(ctx context.Context, key string) (*keyPage[Alert], error) {
		var p keyPage[Alert]
		err := c.getJSON(ctx, &call{base: t.APIHost, path: "/common/v1/alerts", query: f.query(key), tenant: t.ID}, &p)
		return &p, err
	})
}

// SearchAlerts is ListAlerts with the criteria in a POST body
// (POST /common/v1/alerts/search).
func (c *Client) SearchAlerts(ctx context.Context, t Tenant, f AlertFilter) ([]Alert, error) {
	return pageAll(ctx, "POST /common/v1/alerts/search", func(ctx context.Context, key string) (*keyPage[Alert], error) {
		var p keyPage[Alert]
		err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: "/common/v1/alerts/search", tenant: t.ID, idempotent: true}, f.body(key), &p)
		return &p, err
	})
}

// GetAlert fetches one alert (GET /common/v1/alerts/{id}).
func (c *Client) GetAlert(ctx context.Context, t Tenant, id string) (*Alert, error) {
	var a Alert
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: "/common/v1/alerts/" + url.PathEscape(id), tenant: t.ID}, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// AlertAction is the answer to an alert action.
type AlertAction struct {
	ID          string  `json:"id"`
	AlertID     string  `json:"alertId"`
	Action      string  `json:"action"`
	Status      string  `json:"status"`
	RequestedAt string  `json:"requestedAt"`
	StartedAt   string  `json:"startedAt"`
	CompletedAt *string `json:"completedAt"`
	Result      string  `json:"result"`

	withRaw
}

// UnmarshalJSON keeps the raw object in Raw.
func (a *AlertAction) UnmarshalJSON(b []byte) error {
	type plain AlertAction
	if err := json.Unmarshal(b, (*plain)(a)); err != nil {
		return err
	}
	a.Raw = rawOf(b)
	return nil
}

// Standard alert actions.
const (
	ActionAcknowledge = "acknowledge"
	ActionCleanPUA    = "cleanPua"
	ActionClearThreat = "clearThreat"
)

// ActOnAlert performs action on the alert (POST /common/v1/alerts/{id}/actions,
// 201). The action must be one of the alert's allowedActions (the API
// answers 400 otherwise); message is optional.
func (c *Client) ActOnAlert(ctx context.Context, t Tenant, id, action, message string) (*AlertAction, error) {
	if strings.TrimSpace(action) == "" {
		return nil, fmt.Errorf("sophos: alert action is empty (e.g. %s, %s, %s)", ActionAcknowledge, ActionCleanPUA, ActionClearThreat)
	}
	body := map[string]string{"action": action}
	if message != "" {
		body["message"] = message
	}
	var out AlertAction
	err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: "/common/v1/alerts/" + url.PathEscape(id) + "/actions", tenant: t.ID}, body, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Acknowledge acknowledges an alert (SIEM alert ids are Common alert ids).
func (c *Client) Acknowledge(ctx context.Context, t Tenant, id string) (*AlertAction, error) {
	return c.ActOnAlert(ctx, t, id, ActionAcknowledge, "")
}

// isoTime formats t as the APIs expect: UTC with milliseconds and Z.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// parseTimeUTC parses Sophos timestamps leniently: RFC 3339 with or without
// zone (treated as UTC), and "2006-01-02 15.04.05 GMT" seen in mocks.
func parseTimeUTC(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15.04.05 MST", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
