package pipeline

// PageObserver learns about every page every sink settled, with what each
// sink did: the delivery ledger (reconciliation) counts per sink. Called like
// DeliveryObserver: once per page, in page order per partition, before its
// checkpoint is committed.
type PageObserver interface {
	PageSettled(p *SettledPage)
}

// SettledPage is a page whose records every sink delivered, buffered or
// dead-lettered.
type SettledPage struct {
	Page *Page     // as pulled: Page.Records are every item read (a gap record first, if any)
	Out  []*Record // what left the stages
	// Sinks are the pipeline's sink names, in order: sink i delivered a
	// record when Record.DeliveredBy(i).
	Sinks  []string
	routes []Routes
}

// Routed reports whether sink i takes rec (its streams and when).
func (sp *SettledPage) Routed(i int, rec *Record) bool {
	if rec.IsGap() {
		return true
	}
	return i >= 0 && i < len(sp.routes) && sp.routes[i].Accepts(rec)
}

// NewSettledPage describes a settled page for a PageObserver outside the
// runner (tests, reconcile's repair): names and routes are the sinks'.
func NewSettledPage(page *Page, out []*Record, names []string, routes []Routes) *SettledPage {
	return &SettledPage{Page: page, Out: out, Sinks: names, routes: routes}
}
