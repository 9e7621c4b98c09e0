package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
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
		switch s.Type {
		case "txt", "json", "stdout":
		default:
			continue
		}
		why := fmt.Sprintf("a %s sink cannot run in distributed mode: each member pulls only its share of the tenants and a member's tenants move to another machine when it fails, so the output would be split across hosts and a moved tenant's file would stop mid-stream; use a network sink (syslog, kafka, elasticsearch, splunk_hec, sentinel, http)", s.Type)
		if s.Seed {
			key := "txt_file_creation"
			if s.Type == "json" {
				key = "json_file_creation"
			}
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

// clusterShow is `state show` in distributed mode: the checkpoint topic.
func (a *app) clusterShow(cc *cluster.Config, asJSON bool) error {
	all, err := cluster.Checkpoints(context.Background(), cc)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := time.Now()
	if asJSON {
		type entry struct {
			Tenant     string    `json:"tenant"`
			Stream     string    `json:"stream"`
			TenantName string    `json:"tenant_name,omitempty"`
			SavedAt    time.Time `json:"saved_at"`
			AgeSeconds int64     `json:"age_seconds"`
			Cursor     string    `json:"cursor"`
		}
		list := []entry{}
		for _, k := range keys {
			cp := all[k]
			tenant, stream, _ := strings.Cut(k, "/")
			list = append(list, entry{tenant, stream, cp.TenantName, cp.SavedAt, int64(now.Sub(cp.SavedAt).Seconds()), cp.Cursor})
		}
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(all) == 0 {
		fmt.Fprintf(a.stdout, "no checkpoints in topic %s: the cluster starts every tenant from the 24 h window (or -since)\n", cc.CheckpointTopic)
		return nil
	}
	tw := newTable(a.stdout, "TENANT", "STREAM", "NAME", "SAVED", "AGE", "CURSOR")
	for _, k := range keys {
		cp := all[k]
		tenant, stream, _ := strings.Cut(k, "/")
		age := now.Sub(cp.SavedAt).Round(time.Second).String()
		if now.Sub(cp.SavedAt) > 20*time.Hour {
			age += " (near or past the 24 h window!)"
		}
		tw.row(tenant, stream, orDash(cp.TenantName), cp.SavedAt.Local().Format(timeLayout), age, cp.Cursor)
	}
	return tw.flush()
}

// clusterReset is `state reset` in distributed mode: tombstones in the
// checkpoint topic, refused while the group has members.
func (a *app) clusterReset(cc *cluster.Config, tenant, stream string) error {
	n, err := cluster.ResetCheckpoints(context.Background(), cc, func(key string) bool {
		t, s, _ := strings.Cut(key, "/")
		return (tenant == "" || tenant == "all" || strings.EqualFold(t, tenant)) && (stream == "" || s == stream)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "removed %d checkpoint(s) from topic %s\n", n, cc.CheckpointTopic)
	return nil
}
