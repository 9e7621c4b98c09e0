// Package reconcile compares what the collector delivered (its ledger) with
// what Sophos Central holds, per tenant and stream:
//
//   - alerts: the ids the Common API lists (/common/v1/alerts, raised in the
//     window) against the ids the collector read from the SIEM stream;
//   - every stream: per hour, the records routed to each sink against those
//     it delivered (the rest were dead-lettered). For events that is all
//     there is: Sophos offers no count to compare them with upstream.
package reconcile

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/ledger"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Settle is how long an alert may take between being raised and being
// served by the SIEM stream: alerts raised this close to what the SIEM
// stream had served when the checkpoint was committed are not judged yet.
const Settle = 5 * time.Minute

// Tenant is a tenant to reconcile.
type Tenant struct{ ID, Name string }

// AlertLister lists the ids of a tenant's Common API alerts raised in
// [from, to) (paged by key).
type AlertLister interface {
	AlertIDs(ctx context.Context, tenant string, from, to time.Time) ([]string, error)
}

// DetectionCounter counts a tenant's detections per hour (Unix hour) in
// [from, to), as the Detections API does.
type DetectionCounter interface {
	DetectionCounts(ctx context.Context, tenant string, from, to time.Time) (map[int64]int, error)
}

// Options say what to reconcile.
type Options struct {
	Ledger      *ledger.Ledger
	Checkpoints map[string]pipeline.Checkpoint // the committed checkpoints, by partition key
	Tenants     []Tenant
	Streams     []pipeline.Stream
	Since, Now  time.Time // the window, by the API's clock
	Alerts      AlertLister
	Detections  DetectionCounter // needed only with the detections stream
}

// HourShort is an hour in which a sink delivered fewer records than were
// routed to it.
type HourShort struct {
	Hour      time.Time `json:"hour"`
	Sink      string    `json:"sink"`
	Routed    uint64    `json:"routed"`
	Delivered uint64    `json:"delivered"`
}

// Result is one tenant's stream.
type Result struct {
	Tenant     string      `json:"tenant"`
	TenantName string      `json:"tenant_name,omitempty"`
	Stream     string      `json:"stream"`
	Complete   bool        `json:"complete"`
	MissingIDs []string    `json:"missing_ids"`   // alerts listed by the Common API that were never read
	Short      []HourShort `json:"missing_hours"` // hours a sink did not get everything routed to it
	Read       uint64      `json:"read"`          // items read in the window (the ledger)
	Upstream   int         `json:"upstream"`      // alerts: ids the Common API listed; -1 when there is nothing upstream to compare with
	Checked    string      `json:"checked"`       // what was compared, in words
	Error      string      `json:"error,omitempty"`
}

// Missing is how much is missing: ids plus undelivered records.
func (r *Result) Missing() int64 {
	n := int64(len(r.MissingIDs))
	for _, h := range r.Short {
		n += int64(h.Routed - h.Delivered)
	}
	return n
}

// Detail says what is missing in a few words (the status page's column).
func (r *Result) Detail() string {
	var parts []string
	if len(r.MissingIDs) > 0 {
		ids := r.MissingIDs
		more := ""
		if len(ids) > 5 {
			ids, more = ids[:5], fmt.Sprintf(" and %d more", len(r.MissingIDs)-5)
		}
		parts = append(parts, "ids "+strings.Join(ids, ", ")+more)
	}
	for _, h := range r.Short {
		parts = append(parts, fmt.Sprintf("%s %s: %d of %d", h.Hour.Format("2006-01-02T15Z"), h.Sink, h.Delivered, h.Routed))
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	return strings.Join(parts, "; ")
}

// Run reconciles every tenant × stream of o.
func Run(ctx context.Context, o Options) ([]Result, error) {
	var out []Result
	for _, t := range o.Tenants {
		entries, err := o.Ledger.Load(t.ID, o.Since)
		if err != nil {
			return out, fmt.Errorf("ledger of tenant %s: %w", t.ID, err)
		}
		for _, st := range o.Streams {
			res := Result{Tenant: t.ID, TenantName: t.Name, Stream: st.Plural(), Upstream: -1}
			var ids map[uint64]bool
			for i := range entries {
				e := &entries[i]
				if e.Stream != string(st) {
					continue
				}
				res.Read += e.Read
				for _, s := range e.Sinks {
					if s.Delivered < s.Routed {
						res.Short = append(res.Short, HourShort{Hour: e.Time(), Sink: s.Name, Routed: s.Routed, Delivered: s.Delivered})
					}
				}
				if st == pipeline.Alerts || st == pipeline.Detections {
					if ids == nil {
						ids = map[uint64]bool{}
					}
					for _, id := range e.IDs {
						ids[id] = true
					}
				}
			}
			switch st {
			case pipeline.Detections:
				if err := o.detections(ctx, t, entries, &res); err != nil {
					if ctx.Err() != nil {
						return out, ctx.Err()
					}
					res.Error = err.Error()
				}
			case pipeline.Alerts:
				if err := o.alerts(ctx, t, ids, &res); err != nil {
					if ctx.Err() != nil {
						return out, ctx.Err()
					}
					res.Error = err.Error()
				}
			default:
				res.Checked = fmt.Sprintf("%d %s read since %s; per hour, each sink's deliveries against what was routed to it (Sophos offers no %s count to compare with upstream)",
					res.Read, st.Plural(), o.Since.UTC().Format(time.RFC3339), st.Plural())
			}
			res.Complete = res.Missing() == 0 && res.Error == ""
			if res.MissingIDs == nil {
				res.MissingIDs = []string{}
			}
			if res.Short == nil {
				res.Short = []HourShort{}
			}
			out = append(out, res)
		}
	}
	return out, nil
}

// alerts compares the Common API's alert ids with the ids read. The window
// ends where the SIEM stream had served up to at the last commit (less
// Settle): alerts raised later are not judged yet.
func (o *Options) alerts(ctx context.Context, t Tenant, read map[uint64]bool, res *Result) error {
	to := o.Now
	if cp, ok := o.Checkpoints[t.ID+"/"+string(pipeline.Alerts)]; ok {
		if su := cp.ServedUntil; !su.IsZero() && su.Before(to) {
			to = su
		} else if su.IsZero() && cp.SavedAt.Before(to) {
			to = cp.SavedAt
		}
	}
	to = to.Add(-Settle)
	if !to.After(o.Since) {
		res.Upstream = 0
		res.Checked = "nothing to judge yet: the alerts stream has not served past the window's start"
		return nil
	}
	listed, err := o.Alerts.AlertIDs(ctx, t.ID, o.Since, to)
	if err != nil {
		return fmt.Errorf("Common API alerts: %w", err)
	}
	res.Upstream = len(listed)
	for _, id := range listed {
		if !read[ledger.HashID(id)] {
			res.MissingIDs = append(res.MissingIDs, id)
		}
	}
	sort.Strings(res.MissingIDs)
	res.Checked = fmt.Sprintf("%d alert ids listed by the Common API raised %s to %s, against the ids read from the SIEM stream",
		len(listed), o.Since.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	return nil
}

// detectionsSettle is how long a detection may take to become visible
// after it was generated: the last hours are not judged yet.
const detectionsSettle = time.Hour

// detections compares the Detections API's hourly counts with the unique
// detection ids read per hour (by sensorGeneratedAt). Only whole hours
// that ended before the detections checkpoint was committed, less
// detectionsSettle, are judged.
func (o *Options) detections(ctx context.Context, t Tenant, entries []ledger.Entry, res *Result) error {
	to := o.Now
	if cp, ok := o.Checkpoints[t.ID+"/"+string(pipeline.Detections)]; ok && cp.SavedAt.Before(to) {
		to = cp.SavedAt
	}
	to = to.Add(-detectionsSettle).Truncate(time.Hour)
	from := o.Since.Truncate(time.Hour).Add(time.Hour) // whole hours only
	if !to.After(from) {
		res.Upstream = 0
		res.Checked = "nothing to judge yet: no whole hour of detections has settled"
		return nil
	}
	if o.Detections == nil {
		return fmt.Errorf("no Detections API to count with")
	}
	counts, err := o.Detections.DetectionCounts(ctx, t.ID, from, to)
	if err != nil {
		return fmt.Errorf("Detections API counts: %w", err)
	}
	read := map[int64]uint64{}
	for i := range entries {
		if e := &entries[i]; e.Stream == string(pipeline.Detections) {
			read[e.Hour] += uint64(len(e.IDs))
		}
	}
	res.Upstream = 0
	for h := from.Unix() / 3600; h < to.Unix()/3600; h++ {
		up := counts[h]
		res.Upstream += up
		if read[h] < uint64(up) {
			res.Short = append(res.Short, HourShort{Hour: time.Unix(h*3600, 0).UTC(), Sink: "read from the API", Routed: uint64(up), Delivered: read[h]})
		}
	}
	res.Checked = fmt.Sprintf("the Detections API's hourly counts %s to %s (%d detections) against the detections read per hour",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), res.Upstream)
	return nil
}
