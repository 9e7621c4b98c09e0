package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// seedNotes is a pipeline.DeliveryObserver writing the seed's per-pull and
// per-item notes once records are delivered: "Added N new Event IDs" at
// LOG+, and at VERBOSE one line per item, as Sophos API Connect did.
type seedNotes struct{ log *slog.Logger }

func (n seedNotes) Delivered(records []*pipeline.Record) {
	ctx := context.Background()
	if len(records) == 0 || !n.log.Enabled(ctx, pipeline.LevelLogPlus) {
		return
	}
	var alerts, events, xdr int
	verbose := n.log.Enabled(ctx, pipeline.LevelVerbose)
	for _, r := range records {
		if !r.Stream.SIEM() {
			xdr++
			if verbose {
				n.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("(%s ID: %s at %s added. Name: %s)", r.Stream, r.ID, r.When, r.Name), "source", r.Stream.Plural())
			}
			continue
		}
		if r.Stream == pipeline.Alerts {
			alerts++
			if verbose {
				n.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("Alert ID: %s created at %s added. Description: %s", r.ID, r.CreatedAt, r.Name), "source", "Alerts")
			}
		} else {
			events++
			if verbose {
				n.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("Event ID: %s created at %s added. Name: %s", r.ID, r.CreatedAt, r.Name), "source", "Events")
			}
		}
	}
	if alerts > 0 {
		n.log.Log(ctx, pipeline.LevelLogPlus, fmt.Sprintf("Added %d new Alert IDs", alerts), "source", "Alerts")
	}
	if xdr > 0 {
		n.log.Log(ctx, pipeline.LevelLogPlus, fmt.Sprintf("(added %d new detections and cases)", xdr))
	}
	if events > 0 {
		n.log.Log(ctx, pipeline.LevelLogPlus, fmt.Sprintf("Added %d new Event IDs", events), "source", "Events")
	}
}
