package sophos

import (
	"context"
	"encoding/json"
	"net/url"
)

// HealthScore is the common part of every Account Health Check result.
type HealthScore struct {
	Total                 int  `json:"total"`
	NotFullyProtected     int  `json:"notFullyProtected"`
	NotOnRecommended      int  `json:"notOnRecommended"`
	NumberOfSecurityRisks int  `json:"numberOfSecurityRisks"`
	Disabled              int  `json:"disabled"`
	Snoozed               bool `json:"snoozed"`
	Score                 int  `json:"score"` // 0..100
}

// HealthCheck is the Account Health Check answer. The typed fields are the
// scores a summary prints; Raw keeps the whole document (policies,
// exclusions, snooze details, network devices).
type HealthCheck struct {
	Tenant struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"tenant"`
	Endpoint struct {
		Protection struct {
			Computer *HealthScore `json:"computer"`
			Server   *HealthScore `json:"server"`
		} `json:"protection"`
		Policy struct {
			Computer map[string]HealthScore `json:"computer"` // "threat-protection"
			Server   map[string]HealthScore `json:"server"`   // "server-threat-protection"
		} `json:"policy"`
		Exclusions struct {
			Policy struct {
				Computer *HealthScore `json:"computer"`
				Server   *HealthScore `json:"server"`
			} `json:"policy"`
			Global *HealthScore `json:"global"`
		} `json:"exclusions"`
		TamperProtection struct {
			Computer     *HealthScore `json:"computer"`
			Server       *HealthScore `json:"server"`
			GlobalDetail *struct {
				Enabled bool `json:"enabled"`
				Snoozed bool `json:"snoozed"`
				Score   int  `json:"score"`
			} `json:"globalDetail"`
			Global *bool `json:"global"`
		} `json:"tamperProtection"`
	} `json:"endpoint"`

	withRaw
}

// UnmarshalJSON keeps the raw document in Raw.
func (h *HealthCheck) UnmarshalJSON(b []byte) error {
	type plain HealthCheck
	if err := json.Unmarshal(b, (*plain)(h)); err != nil {
		return err
	}
	h.Raw = rawOf(b)
	return nil
}

// HealthCheck runs the Account Health Check
// (GET /account-health-check/v1/health-check). checks (protection, policy,
// exclusions, tamperProtection) and products (endpoint, networkDevice) are
// optional filters.
func (c *Client) HealthCheck(ctx context.Context, t Tenant, checks, products []string) (*HealthCheck, error) {
	q := url.Values{}
	setCSV(q, "checks", checks)
	setCSV(q, "products", products)
	var h HealthCheck
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: "/account-health-check/v1/health-check", query: q.Encode(), tenant: t.ID}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}
