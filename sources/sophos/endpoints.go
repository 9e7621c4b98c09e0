package sophos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Endpoint is an Endpoint API endpoint (the summary/full view; fields a
// view omits stay zero).
type Endpoint struct {
	ID     string `json:"id"`
	Type   string `json:"type"` // computer, server, …
	Tenant struct {
		ID string `json:"id"`
	} `json:"tenant"`
	Hostname string `json:"hostname"`
	Health   struct {
		Overall string `json:"overall"` // good, suspicious, bad, unknown
		Threats struct {
			Status string `json:"status"`
		} `json:"threats"`
		Services struct {
			Status         string `json:"status"`
			ServiceDetails []struct {
				Name   string `json:"name"`
				Status string `json:"status"` // running, stopped, missing
			} `json:"serviceDetails"`
		} `json:"services"`
	} `json:"health"`
	OS struct {
		IsServer     FlexBool `json:"isServer"`
		Platform     string   `json:"platform"`
		Name         string   `json:"name"`
		MajorVersion int      `json:"majorVersion"`
		MinorVersion int      `json:"minorVersion"`
		Build        int      `json:"build"`
	} `json:"os"`
	IPv4Addresses []string `json:"ipv4Addresses"`
	IPv6Addresses []string `json:"ipv6Addresses"`
	MACAddresses  []string `json:"macAddresses"`
	Group         *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"group"`
	AssociatedPerson *struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		ViaLogin string `json:"viaLogin"`
	} `json:"associatedPerson"`
	TamperProtectionSupported *bool `json:"tamperProtectionSupported"`
	TamperProtectionEnabled   *bool `json:"tamperProtectionEnabled"`
	AssignedProducts          []struct {
		Code    string `json:"code"`
		Version string `json:"version"`
		Status  string `json:"status"` // installed, notInstalled
	} `json:"assignedProducts"`
	LastSeenAt string `json:"lastSeenAt"`
	Online     *bool  `json:"online"`
	Isolation  *struct {
		Status        string `json:"status"` // isolated, notIsolated
		AdminIsolated bool   `json:"adminIsolated"`
		SelfIsolated  bool   `json:"selfIsolated"`
	} `json:"isolation"`

	withRaw // the endpoint as received (encryption, lockdown, cloud, …)
}

// UnmarshalJSON keeps the raw object in Raw.
func (e *Endpoint) UnmarshalJSON(b []byte) error {
	type plain Endpoint
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	e.Raw = rawOf(b)
	return nil
}

// MarshalJSON writes the endpoint as received, else the typed fields.
func (e Endpoint) MarshalJSON() ([]byte, error) {
	if len(e.Raw) > 0 {
		return e.Raw, nil
	}
	type plain Endpoint
	return json.Marshal(plain(e))
}

// LastSeen parses LastSeenAt (zero when absent).
func (e *Endpoint) LastSeen() time.Time { return parseTimeUTC(e.LastSeenAt) }

// FlexBool decodes a JSON boolean, also accepting "true"/"False" strings
// (seen in third-party data for os.isServer).
type FlexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *FlexBool) UnmarshalJSON(d []byte) error {
	s := strings.Trim(string(d), `"`)
	v, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		if s == "null" || s == "" {
			*b = false
			return nil
		}
		return err
	}
	*b = FlexBool(v)
	return nil
}

// Views of the Endpoint API.
const (
	ViewBasic   = "basic"
	ViewSummary = "summary"
	ViewFull    = "full"
)

// EndpointFilter selects endpoints. Zero fields are not sent.
type EndpointFilter struct {
	IDs                     []string
	HealthStatus            []string // bad, good, suspicious, unknown
	Type                    []string // computer, server
	IsolationStatus         string   // isolated, notIsolated
	HostnameContains        string
	Search                  string
	SearchFields            []string // hostname, groupName, associatedPersonName, ipAddresses, osName
	Online                  *bool
	TamperProtectionEnabled *bool
	View                    string     // basic, summary (API default), full
	PageSize                int        // default 100
	Extra                   url.Values // any other documented parameter (lastSeenBefore, lockdownStatus, …)
}

func (f EndpointFilter) query(key string) string {
	q := url.Values{}
	for k, v := range f.Extra {
		q[k] = append([]string(nil), v...)
	}
	setCSV(q, "ids", f.IDs)
	setCSV(q, "healthStatus", f.HealthStatus)
	setCSV(q, "type", f.Type)
	setCSV(q, "searchFields", f.SearchFields)
	if f.IsolationStatus != "" {
		q.Set("isolationStatus", f.IsolationStatus)
	}
	if f.HostnameContains != "" {
		q.Set("hostnameContains", f.HostnameContains)
	}
	if f.Search != "" {
		q.Set("search", f.Search)
	}
	if f.Online != nil {
		q.Set("online", strconv.FormatBool(*f.Online))
	}
	if f.TamperProtectionEnabled != nil {
		q.Set("tamperProtectionEnabled", strconv.FormatBool(*f.TamperProtectionEnabled))
	}
	if f.View != "" {
		q.Set("view", f.View)
	}
	ps := f.PageSize
	if ps <= 0 {
		ps = 100
	}
	q.Set("pageSize", strconv.Itoa(ps))
	if key != "" {
		q.Set("pageFromKey", key)
	}
	return q.Encode()
}

// ListEndpoints lists the tenant's endpoints matching f, every page.
func (c *Client) ListEndpoints(ctx context.Context, t Tenant, f EndpointFilter) ([]Endpoint, error) {
	return pageAll(ctx, "GET /endpoint/v1/endpoints", func(ctx context.Context, key string) (*keyPage[Endpoint], error) {
		var p keyPage[Endpoint]
		err := c.getJSON(ctx, &call{base: t.APIHost, path: "/endpoint/v1/endpoints", query: f.query(key), tenant: t.ID}, &p)
		return &p, err
	})
}

// GetEndpoint fetches one endpoint; view "" is the API default (summary).
func (c *Client) GetEndpoint(ctx context.Context, t Tenant, id, view string) (*Endpoint, error) {
	q := ""
	if view != "" {
		q = "view=" + url.QueryEscape(view)
	}
	var e Endpoint
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: endpointPath(id), query: q, tenant: t.ID}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

func endpointPath(id string) string { return "/endpoint/v1/endpoints/" + url.PathEscape(id) }

// Actor is who changed an isolation setting.
type Actor struct {
	ID          string `json:"id"`
	Type        string `json:"type"` // user, service
	Name        string `json:"name"`
	AccountType string `json:"accountType"` // partner, organization, tenant
	AccountID   string `json:"accountId"`
}

// IsolationSettings is an endpoint's isolation setting.
type IsolationSettings struct {
	Enabled        bool   `json:"enabled"`
	LastEnabledAt  string `json:"lastEnabledAt"`
	LastEnabledBy  *Actor `json:"lastEnabledBy"`
	LastDisabledAt string `json:"lastDisabledAt"`
	LastDisabledBy *Actor `json:"lastDisabledBy"`
	Comment        string `json:"comment"`
}

// IsolationResult is one item of the bulk isolation answer.
type IsolationResult struct {
	ID        string            `json:"id"`
	Isolation IsolationSettings `json:"isolation"`
}

// SetIsolation turns isolation on or off for endpoints in bulk
// (POST /endpoint/v1/endpoints/isolation, 202). A change still in progress
// is an error matching ErrIsolationInProgress.
func (c *Client) SetIsolation(ctx context.Context, t Tenant, ids []string, enabled bool, comment string) ([]IsolationResult, error) {
	body := map[string]any{"enabled": enabled, "ids": ids}
	if comment != "" {
		body["comment"] = comment
	}
	var out struct {
		Items []IsolationResult `json:"items"`
	}
	err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: "/endpoint/v1/endpoints/isolation", tenant: t.ID, idempotent: true}, body, &out)
	if err != nil {
		return nil, err
	}
	return out.Items, nil
}

// Isolation reads one endpoint's isolation setting.
func (c *Client) Isolation(ctx context.Context, t Tenant, id string) (*IsolationSettings, error) {
	var s IsolationSettings
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: endpointPath(id) + "/isolation", tenant: t.ID}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// SetEndpointIsolation changes one endpoint's isolation
// (PATCH /endpoint/v1/endpoints/{id}/isolation). 409 → ErrIsolationInProgress.
func (c *Client) SetEndpointIsolation(ctx context.Context, t Tenant, id string, enabled bool, comment string) (*IsolationSettings, error) {
	body := map[string]any{"enabled": enabled}
	if comment != "" {
		body["comment"] = comment
	}
	var s IsolationSettings
	err := c.sendJSON(ctx, &call{method: http.MethodPatch, base: t.APIHost, path: endpointPath(id) + "/isolation", tenant: t.ID, idempotent: true}, body, &s)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// TamperProtection is an endpoint's tamper protection setting.
type TamperProtection struct {
	Enabled           bool   `json:"enabled"`
	Password          string `json:"password"`
	PreviousPasswords []struct {
		Password      string `json:"password"`
		InvalidatedAt string `json:"invalidatedAt"`
	} `json:"previousPasswords"`
}

// TamperProtection reads an endpoint's tamper protection setting (it
// includes the endpoint's tamper protection password).
func (c *Client) TamperProtection(ctx context.Context, t Tenant, id string) (*TamperProtection, error) {
	var tp TamperProtection
	if err := c.getJSON(ctx, &call{base: t.APIHost, path: endpointPath(id) + "/tamper-protection", tenant: t.ID}, &tp); err != nil {
		return nil, err
	}
	return &tp, nil
}

// SetTamperProtection turns tamper protection on or off (enabled nil: leave
// it) and/or regenerates the password (POST …/tamper-protection, 201).
func (c *Client) SetTamperProtection(ctx context.Context, t Tenant, id string, enabled *bool, regeneratePassword bool) (*TamperProtection, error) {
	body := map[string]any{}
	if enabled != nil {
		body["enabled"] = *enabled
	}
	if regeneratePassword {
		body["regeneratePassword"] = true
	}
	var tp TamperProtection
	err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: endpointPath(id) + "/tamper-protection", tenant: t.ID, idempotent: !regeneratePassword}, body, &tp)
	if err != nil {
		return nil, err
	}
	return &tp, nil
}

// GlobalTamperProtection reads the tenant-wide tamper protection setting
// (GET /endpoint/v1/settings/tamper-protection).
func (c *Client) GlobalTamperProtection(ctx context.Context, t Tenant) (bool, error) {
	var s struct {
		Enabled bool `json:"enabled"`
	}
	err := c.getJSON(ctx, &call{base: t.APIHost, path: "/endpoint/v1/settings/tamper-protection", tenant: t.ID}, &s)
	return s.Enabled, err
}

// EndpointTask is the answer to a scan or update-check request.
type EndpointTask struct {
	ID          string `json:"id"`
	Status      string `json:"status"` // requested
	RequestedAt string `json:"requestedAt"`
}

// Scan starts a scan of the endpoint (POST …/scans, 201).
func (c *Client) Scan(ctx context.Context, t Tenant, id string) (*EndpointTask, error) {
	return c.endpointTask(ctx, t, id, "/scans")
}

// UpdateCheck asks the endpoint to check for updates (POST …/update-checks, 201).
func (c *Client) UpdateCheck(ctx context.Context, t Tenant, id string) (*EndpointTask, error) {
	return c.endpointTask(ctx, t, id, "/update-checks")
}

func (c *Client) endpointTask(ctx context.Context, t Tenant, id, what string) (*EndpointTask, error) {
	var task EndpointTask
	err := c.sendJSON(ctx, &call{method: http.MethodPost, base: t.APIHost, path: endpointPath(id) + what, tenant: t.ID}, struct{}{}, &task)
	if err != nil {
		return nil, err
	}
	return &task, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// ResolveEndpoint finds the endpoint ref names in t: an endpoint id, or a
// hostname (exact, any case); a hostname of several endpoints is an error
// listing their ids.
func (c *Client) ResolveEndpoint(ctx context.Context, t Tenant, ref string) (*Endpoint, error) {
	if uuidRE.MatchString(ref) {
		return c.GetEndpoint(ctx, t, ref, ViewFull)
	}
	list, err := c.ListEndpoints(ctx, t, EndpointFilter{HostnameContains: ref, View: ViewFull})
	if err != nil {
		return nil, err
	}
	var hits []Endpoint
	for _, e := range list {
		if strings.EqualFold(e.Hostname, ref) {
			hits = append(hits, e)
		}
	}
	switch len(hits) {
	case 1:
		return &hits[0], nil
	case 0:
		return nil, fmt.Errorf("no endpoint named %q in tenant %s", ref, t.Label())
	}
	var ids []string
	for _, e := range hits {
		ids = append(ids, e.ID)
	}
	return nil, fmt.Errorf("hostname %q is ambiguous: %d endpoints (%s) — use the id", ref, len(hits), strings.Join(ids, ", "))
}

// FindTenant picks the tenant want names among tenants: its id, name or
// showAs, any case; no match or several are errors that say what to do.
func FindTenant(tenants []Tenant, want string) (Tenant, error) {
	var hits []Tenant
	for _, t := range tenants {
		if strings.EqualFold(t.ID, want) || strings.EqualFold(t.Name, want) || strings.EqualFold(t.ShowAs, want) {
			hits = append(hits, t)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return Tenant{}, fmt.Errorf("no tenant %q among the %d these credentials reach (see `sophos-connect tenants`)", want, len(tenants))
	}
	return Tenant{}, fmt.Errorf("tenant name %q is ambiguous (%d tenants): use its id", want, len(hits))
}

// String is the filter as the official script logs it ("Initiating Health
// Status Query {...}").
func (f EndpointFilter) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, fmt.Sprintf("'%s': '%s'", k, v))
		}
	}
	add("healthStatus", strings.Join(f.HealthStatus, ","))
	add("type", strings.Join(f.Type, ","))
	add("isolationStatus", f.IsolationStatus)
	add("hostnameContains", f.HostnameContains)
	if f.Online != nil {
		add("online", fmt.Sprint(*f.Online))
	}
	add("view", f.View)
	return "{" + strings.Join(parts, ", ") + "}"
}
