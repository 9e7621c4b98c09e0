package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
)

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
	tw := texttable.New(a.stdout, "TENANT", "STREAM", "NAME", "SAVED", "AGE", "CURSOR")
	for _, k := range keys {
		cp := all[k]
		tenant, stream, _ := strings.Cut(k, "/")
		age := now.Sub(cp.SavedAt).Round(time.Second).String()
		if now.Sub(cp.SavedAt) > 20*time.Hour {
			age += " (near or past the 24 h window!)"
		}
		tw.Row(tenant, stream, orDash(cp.TenantName), cp.SavedAt.Local().Format(texttable.TimeLayout), age, cp.Cursor)
	}
	return tw.Flush()
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
