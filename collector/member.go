package collector

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/seed"
	"github.com/sophos-connect/sophos-connect/sinks"
)

// clusterConfig reads the cluster block (nil when absent) and refuses the
// sinks that cannot work in distributed mode.
func clusterConfig(c *config.Config, comps []config.Component, nUser int) (*cluster.Config, error) {
	cc, err := cluster.Parse(c.Cluster)
	if err != nil || cc == nil {
		return nil, err
	}
	var errs config.Errors
	for i, s := range comps {
		if f := sinks.Lookup(s.Type); f == nil || !f.Local {
			continue
		}
		why := fmt.Sprintf("a %s sink cannot run in distributed mode: each member pulls only its share of the tenants and a member's tenants move to another machine when it fails, so the output would be split across hosts and a moved tenant's file would stop mid-stream; use a network sink (syslog, kafka, elasticsearch, splunk_hec, sentinel, http)", s.Type)
		if s.Seed {
			key := seed.Key(s)
			errs = append(errs, &config.FieldError{Key: key, Msg: "true (the seed's file sink " + s.Name + "): " + why + " — set " + key + ": false"})
			continue
		}
		errs = append(errs, &config.FieldError{Line: s.Line, Key: fmt.Sprintf("sinks[%d].type", i-len(comps)+nUser), Msg: why})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return cc, nil
}

// runMember runs the pipeline as one member of the cluster until ctx ends
// (then it drains, commits and leaves the group) or run: false.
func runMember(ctx context.Context, cc *cluster.Config, log *slog.Logger, metrics *pipeline.Metrics, opts pipeline.Options) (pipeline.Stats, error) {
	log.Info(cc.Describe())
	m, err := cluster.New(ctx, cc, log, metrics, cluster.Options{})
	if err != nil {
		return pipeline.Stats{}, err
	}
	defer m.Close()
	return m.Run(ctx, opts)
}
