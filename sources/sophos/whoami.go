package sophos

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// Identity types returned by whoami.
const (
	IDTypeTenant       = "tenant"
	IDTypePartner      = "partner"
	IDTypeOrganization = "organization"
)

// Identity is the whoami answer: who the credentials belong to.
type Identity struct {
	ID         string // as sent (organization ids may be upper case)
	IDType     string // tenant | partner | organization
	GlobalHost string // apiHosts.global, trailing slash trimmed
	DataRegion string // apiHosts.dataRegion (tenant credentials only), trimmed
}

// Region is the short region id of a tenant identity's data host
// ("https://api-eu01.central.sophos.com" → "eu01"); "" when not recognised.
func (id *Identity) Region() string { return regionOf(id.DataRegion) }

// WhoAmI calls GET /whoami/v1 on the configured global host.
func (c *Client) WhoAmI(ctx context.Context) (*Identity, error) {
	var w struct {
		ID       string `json:"id"`
		IDType   string `json:"idType"`
		APIHosts struct {
			Global     string `json:"global"`
			DataRegion string `json:"dataRegion"`
		} `json:"apiHosts"`
	}
	if err := c.getJSON(ctx, &call{base: c.cfg.APIHost, path: "/whoami/v1"}, &w); err != nil {
		return nil, err
	}
	id := &Identity{ID: w.ID, IDType: strings.ToLower(w.IDType), GlobalHost: trimHost(w.APIHosts.Global), DataRegion: trimHost(w.APIHosts.DataRegion)}
	if id.ID == "" {
		return nil, fmt.Errorf("sophos: whoami answered without an id — check sophos.api_host (default %s)", DefaultAPIHost)
	}
	if id.GlobalHost != "" {
		if err := c.checkHost(id.GlobalHost, "whoami apiHosts.global"); err != nil {
			c.log.Error(err.Error())
			return nil, err
		}
	}
	switch id.IDType {
	case IDTypeTenant:
		if id.DataRegion == "" {
			return nil, fmt.Errorf("sophos: whoami: tenant %s has no apiHosts.dataRegion (the tenant may not be provisioned yet)", id.ID)
		}
		if err := c.checkHost(id.DataRegion, "tenant "+id.ID+": whoami apiHosts.dataRegion"); err != nil {
			c.log.Error(err.Error())
			return nil, err
		}
	case IDTypePartner, IDTypeOrganization:
	default:
		return nil, fmt.Errorf("sophos: whoami: unsupported idType %q for %s (want tenant, partner or organization credentials)", w.IDType, id.ID)
	}
	return id, nil
}

// globalHost is where partner/organization calls go: whoami's global host,
// else the configured one.
func (c *Client) globalHost(id *Identity) string {
	if id.GlobalHost != "" {
		return id.GlobalHost
	}
	return c.cfg.APIHost
}

// regionOf extracts "eu01" from "https://api-eu01.central.sophos.com".
func regionOf(host string) string {
	u, err := url.Parse(host)
	if err != nil {
		return ""
	}
	h := u.Hostname()
	if !strings.HasPrefix(h, "api-") {
		return ""
	}
	r, _, ok := strings.Cut(h[len("api-"):], ".")
	if !ok {
		return ""
	}
	return r
}
