package sophos

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Tenant is one Sophos Central tenant the credentials reach.
type Tenant struct {
	ID         string // X-Tenant-ID value, as sent by Sophos
	Name       string
	ShowAs     string
	DataRegion string // short region id, e.g. eu01 ("" when unknown)
	APIHost    string // base URL of every call about this tenant, trailing slash trimmed
}

// Label is the tenant's display name (ShowAs, else Name, else ID).
func (t Tenant) Label() string {
	switch {
	case t.ShowAs != "":
		return t.ShowAs
	case t.Name != "":
		return t.Name
	}
	return t.ID
}

// tenantsPageSize: the documented examples use 50 (maxSize 100 seen).
const (
	tenantsPageSize = 50
	maxPages        = 100000 // bounds every paging loop
	tenantsFetchers = 16     // tenant pages fetched at once when the count is known
)

// Tenants resolves the tenants to pull: with tenant credentials the one
// tenant (whoami.id at apiHosts.dataRegion); with partner or organization
// credentials every tenant they manage, narrowed by Config.Tenants. A
// configured tenant that does not exist is an error naming it.
func (c *Client) Tenants(ctx context.Context) ([]Tenant, error) {
	id, err := c.WhoAmI(ctx)
	if err != nil {
		return nil, err
	}
	return c.TenantsFor(ctx, id)
}

// TenantsFor is Tenants for an Identity already fetched.
func (c *Client) TenantsFor(ctx context.Context, id *Identity) ([]Tenant, error) {
	var all []Tenant
	if id.IDType == IDTypeTenant {
		all = []Tenant{{ID: id.ID, DataRegion: id.Region(), APIHost: id.DataRegion}}
	} else {
		var err error
		if all, err = c.ListTenants(ctx, id); err != nil {
			return nil, err
		}
	}
	return narrowTenants(all, c.cfg.Tenants, id)
}

// tenantJSON is the partner/organization tenant object.
type tenantJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ShowAs     string `json:"showAs"`
	DataRegion string `json:"dataRegion"`
	APIHost    string `json:"apiHost"`
	Status     string `json:"status"`
}

// ListTenants lists every tenant of a partner or organization identity
// (page-number paging until pages.total or an empty page), without narrowing.
func (c *Client) ListTenants(ctx context.Context, id *Identity) ([]Tenant, error) {
	hdr := http.Header{}
	switch id.IDType {
	case IDTypePartner:
		hdr.Set("X-Partner-ID", id.ID)
	case IDTypeOrganization:
		hdr.Set("X-Organization-ID", id.ID)
	default:
		return nil, fmt.Errorf("sophos: listing tenants needs partner or organization credentials, these are %s credentials", id.IDType)
	}
	path := "/" + id.IDType + "/v1/tenants"
	type tenantPage struct {
		Items []tenantJSON `json:"items"`
		Pages struct {
			Current int `json:"current"`
			Total   int `json:"total"`
		} `json:"pages"`
	}
	get := func(page int) (*tenantPage, error) {
		var p tenantPage
		q := "page=" + strconv.Itoa(page) + "&pageSize=" + strconv.Itoa(tenantsPageSize) + "&pageTotal=true"
		if err := c.getJSON(ctx, &call{base: c.globalHost(id), path: path, query: q, header: hdr}, &p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	var out []Tenant
	var refused []string
	defer func() {
		c.refusedMu.Lock()
		c.refused = refused
		c.refusedMu.Unlock()
	}()
	seen := map[string]bool{}
	// add keeps a page's new tenants and says how many ids were new.
	add := func(p *tenantPage) (int, error) {
		fresh := 0
		for _, t := range p.Items {
			if t.ID == "" || seen[strings.ToLower(t.ID)] {
				continue // a repeat: the listing ignores page, or overlaps
			}
			seen[strings.ToLower(t.ID)] = true
			fresh++
			if t.APIHost == "" {
				return fresh, fmt.Errorf("sophos: %s tenant %s (%s) has no apiHost (the tenant may not be provisioned yet)", id.IDType, t.ID, t.Name)
			}
			if err := c.checkHost(trimHost(t.APIHost), "tenant "+t.ID+" ("+t.Name+") apiHost"); err != nil {
				c.log.Error(err.Error() + "; this tenant is skipped")
				refused = append(refused, err.Error())
				continue
			}
			out = append(out, Tenant{ID: t.ID, Name: t.Name, ShowAs: t.ShowAs, DataRegion: t.DataRegion, APIHost: trimHost(t.APIHost)})
		}
		return fresh, nil
	}
	first, err := get(1)
	if err != nil {
		return nil, err
	}
	if _, err := add(first); err != nil {
		return nil, err
	}
	// A plausible page count (≤ 1000 pages: 50,000 tenants) is fetched at
	// once; anything else is walked page by page until one brings no new
	// tenant, so a listing that ignores page cannot run forever.
	if total := first.Pages.Total; total > 1 && total <= 1000 && len(first.Items) > 0 {
		// The page count is known: fetch the rest at once (the limiter
		// bounds the requests), keeping the order. Thousands of tenants
		// are 100 pages: 15 s one after another at 150 ms each.
		pages := make([]*tenantPage, min(total, maxPages)+1)
		errs := make([]error, len(pages))
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(tenantsFetchers, total-1) {
			wg.Go(func() {
				for n := range next {
					pages[n], errs[n] = get(n)
				}
			})
		}
		for n := 2; n < len(pages); n++ {
			next <- n
		}
		close(next)
		wg.Wait()
		for n := 2; n < len(pages); n++ {
			if errs[n] != nil {
				return nil, errs[n]
			}
			if _, err := add(pages[n]); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	for page := 2; page <= maxPages && len(first.Items) > 0 && first.Pages.Total != 1; page++ {
		p, err := get(page)
		if err != nil {
			return nil, err
		}
		fresh, err := add(p)
		if err != nil {
			return nil, err
		}
		if fresh == 0 || (p.Pages.Total > 0 && page >= p.Pages.Total) {
			break
		}
	}
	return out, nil
}

// MissingTenantsError names the configured tenants (sophos.tenants) that
// the credentials do not reach — a typo, or a tenant that left the partner
// account. Tenants returns it together with the tenants that were found, so
// one bad entry does not stop the others.
type MissingTenantsError struct {
	Missing []string // the sophos.tenants entries not found
	msgs    []string
}

func (e *MissingTenantsError) Error() string { return strings.Join(e.msgs, "; ") }

// narrowTenants keeps the tenants named in want (ids, case-insensitively, or
// names / showAs), in want's order. Entries that match nothing are returned
// as a *MissingTenantsError beside the tenants found.
func narrowTenants(all []Tenant, want []string, id *Identity) ([]Tenant, error) {
	if len(want) == 0 {
		return all, nil
	}
	var out []Tenant
	var missing *MissingTenantsError
	seen := map[string]bool{}
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		found := false
		for _, t := range all {
			if strings.EqualFold(t.ID, w) || (t.Name != "" && strings.EqualFold(t.Name, w)) || (t.ShowAs != "" && strings.EqualFold(t.ShowAs, w)) {
				found = true
				if !seen[t.ID] {
					seen[t.ID] = true
					out = append(out, t)
				}
			}
		}
		if found {
			continue
		}
		if missing == nil {
			missing = &MissingTenantsError{}
		}
		missing.Missing = append(missing.Missing, w)
		if id.IDType == IDTypeTenant {
			missing.msgs = append(missing.msgs, fmt.Sprintf("sophos.tenants: %q is not the tenant these credentials belong to (%s): tenant credentials reach only their own tenant — remove sophos.tenants or use partner/organization credentials", w, id.ID))
			continue
		}
		names := make([]string, 0, min(len(all), 10))
		for i, t := range all {
			if i == 10 {
				names = append(names, "…")
				break
			}
			names = append(names, t.ID+" ("+t.Label()+")")
		}
		missing.msgs = append(missing.msgs, fmt.Sprintf("sophos.tenants: tenant %q not found among the %d tenants of %s %s (known: %s) — fix or remove it (`sophos-connect tenants` lists them)",
			w, len(all), id.IDType, id.ID, strings.Join(names, ", ")))
	}
	if missing != nil {
		return out, missing
	}
	return out, nil
}

// Regions lists the data regions of tenants, each once, in order of first
// appearance ("eu01,us03"): the region of partner or organization
// credentials, which have none of their own.
func Regions(tenants []Tenant) string {
	var regions []string
	seen := map[string]bool{}
	for _, t := range tenants {
		if t.DataRegion != "" && !seen[t.DataRegion] {
			seen[t.DataRegion] = true
			regions = append(regions, t.DataRegion)
		}
	}
	return strings.Join(regions, ",")
}
