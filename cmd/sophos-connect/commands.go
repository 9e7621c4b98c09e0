package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sophos-connect/sophos-connect/cluster"
	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos/emulator"
)

func (a *app) cmdValidate(ctx context.Context, g *globals, args []string) error {
	if rest, err := subFlags("validate", g, args, nil); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{"validate takes no arguments: use -c FILE"}
	}
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	streams := enabledStreams(c, g)
	as, err := assemble(c, streams, nil, true)
	if err != nil {
		return configError{prefixErrors(c.File, err)}
	}
	defer as.close()
	w := a.stdout
	fmt.Fprintf(w, "%s: ok\n\n", c.File)
	tenants := "every tenant the credentials reach"
	if len(c.Sophos.Tenants) > 0 {
		tenants = strings.Join(c.Sophos.Tenants, ", ")
	}
	var names []string
	for _, s := range streams {
		names = append(names, s.Plural())
	}
	fmt.Fprintf(w, "source  sophos  %s (auth %s)\n", c.Sophos.APIHost, c.Sophos.AuthURL)
	fmt.Fprintf(w, "        streams: %s; tenants: %s; pull every %s; state in %s\n", strings.Join(names, ", "), tenants, c.PullTime, c.StateDir)
	wk, inflight := pullWorkers(c)
	if c.Workers.Auto() {
		fmt.Fprintf(w, "        workers: auto (adaptive, at most %d requests at once); max_inflight_pages: %d\n", c.MaxWorkers, inflight)
	} else {
		if inflight == 0 {
			inflight = 4 * wk
		}
		fmt.Fprintf(w, "        workers: %d; max_inflight_pages: %d\n", wk, inflight)
	}
	if c.Sources.Events.Light || len(c.Sources.Events.ExcludeTypes) > 0 {
		fmt.Fprintf(w, "        events: light=%v exclude_types=%v\n", c.Sources.Events.Light, c.Sources.Events.ExcludeTypes)
	}
	if as.cluster != nil {
		fmt.Fprintf(w, "        %s\n", as.cluster.Describe())
	}
	fmt.Fprintln(w, "   │")
	if len(as.stages) == 0 {
		fmt.Fprintln(w, "stages  (none)")
	}
	for i, s := range as.stages {
		fmt.Fprintf(w, "stage %d %s  [%s]  %s\n", i+1, s.Name, streamList(s.Streams), s.Desc)
	}
	fmt.Fprintln(w, "   │")
	for _, s := range as.sinks {
		fmt.Fprintf(w, "   ├─► sink %s (%s)  [%s]  %s\n", s.Name, s.Type, s.Routes, s.Desc)
	}
	fmt.Fprintf(w, "\ndead letters: %s/dead-letter.ndjson\n", strings.TrimRight(c.StateDir, "/"))
	for _, k := range c.InsecureTLS() {
		fmt.Fprintf(w, "WARNING: %s\n", insecureWarning(k))
	}
	if errs := checkOutputPaths(w, outputPaths(c, streams)); len(errs) > 0 {
		return fmt.Errorf("%d path(s) above cannot be written by this user: create the directories or fix their owner and mode", len(errs))
	}
	return nil
}

// prefixErrors adds the file name to component errors ("line: key: msg").
func prefixErrors(file string, err error) error {
	var out config.Errors
	var list config.Errors
	if !asErrors(err, &list) {
		list = config.Errors{err}
	}
	for _, e := range list {
		var nested config.Errors
		if asErrors(e, &nested) {
			for _, n := range nested {
				out = append(out, fmt.Errorf("%s:%s", file, n.Error()))
			}
			continue
		}
		out = append(out, fmt.Errorf("%s:%s", file, e.Error()))
	}
	return out
}

func streamList(s []pipeline.Stream) string {
	if len(s) == 0 {
		return "streams: all"
	}
	var n []string
	for _, x := range s {
		n = append(n, x.Plural())
	}
	return "streams: " + strings.Join(n, ",")
}

func (a *app) cmdState(ctx context.Context, g *globals, args []string) error {
	rest, err := subFlags("state", g, args, nil)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usageError{"state: use `state show` or `state reset [TENANT] [STREAM]`"}
	}
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	if cc, err := cluster.Parse(c.Cluster); err != nil {
		return configError{err}
	} else if cc != nil {
		return a.clusterState(ctx, cc, rest) // the cursors live in the cluster's topic
	}
	cps, err := pipeline.OpenCheckpoints(c.StateDir)
	if err != nil {
		return err
	}
	switch rest[0] {
	case "show":
		all := cps.All()
		if len(all) == 0 {
			fmt.Fprintf(a.stdout, "no checkpoints in %s: the next run starts from the 24 h window (or -since)\n", cps.Path())
			return nil
		}
		return a.printCheckpoints(all)
	case "reset":
		lock, err := pipeline.LockStateDir(c.StateDir, "state reset")
		if err != nil {
			return err
		}
		defer lock.Unlock()
		// Read again under the lock: a collector may have committed since.
		if cps, err = pipeline.OpenCheckpoints(c.StateDir); err != nil {
			return err
		}
		tenant, stream, err := resetArgs(rest)
		if err != nil {
			return err
		}
		n := cps.Delete(resetMatch(tenant, stream))
		if err := cps.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "removed %d checkpoint(s) from %s\n", n, cps.Path())
		return nil
	}
	return usageError{fmt.Sprintf("state: unknown action %q: use show or reset", rest[0])}
}

// printCheckpoints is the `state show` table.
func (a *app) printCheckpoints(all map[string]pipeline.Checkpoint) error {
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := newTable(a.stdout, "TENANT", "STREAM", "NAME", "SAVED", "AGE", "CURSOR")
	now := time.Now()
	for _, k := range keys {
		cp := all[k]
		tenant, stream, _ := strings.Cut(k, "/")
		cur := cp.Cursor
		if len(cur) > 24 {
			cur = cur[:24] + "…"
		}
		age := now.Sub(cp.SavedAt).Round(time.Second).String()
		if now.Sub(cp.SavedAt) > 20*time.Hour {
			age += " (near or past the 24 h window!)"
		}
		tw.row(tenant, stream, orDash(cp.TenantName), cp.SavedAt.UTC().Format(time.RFC3339), age, cur)
	}
	return tw.flush()
}

// resetArgs reads `state reset [TENANT] [STREAM]`.
func resetArgs(rest []string) (tenant, stream string, err error) {
	if len(rest) > 1 {
		tenant = rest[1]
	}
	if len(rest) > 2 {
		s, err := pipeline.ParseStream(rest[2])
		if err != nil {
			return "", "", usageError{"state reset: " + err.Error()}
		}
		stream = string(s)
	}
	return tenant, stream, nil
}

// resetMatch selects the checkpoint keys a reset removes.
func resetMatch(tenant, stream string) func(key string) bool {
	return func(key string) bool {
		t, s, _ := strings.Cut(key, "/")
		return (tenant == "" || tenant == "all" || strings.EqualFold(t, tenant)) && (stream == "" || s == stream)
	}
}

func (a *app) cmdVersion(ctx context.Context, g *globals, args []string) error {
	fmt.Fprintf(a.stdout, "sophos-connect %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" {
				fmt.Fprintf(a.stdout, "%s: %s\n", s.Key, s.Value)
			}
		}
	}
	return nil
}

func (a *app) cmdEmulate(ctx context.Context, g *globals, args []string) error {
	if err := emulator.RunCommand(ctx, args, a.stdout, a.stderr); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageError{"emulate: " + err.Error()}
	}
	return nil
}

// cmdMigrate converts the seed's sophos.conf ("key = value" lines, keys found
// by substring, booleans True/False) to the YAML config.
func (a *app) cmdMigrate(ctx context.Context, g *globals, args []string) error {
	var out string
	var force bool
	rest, err := subFlags("migrate", g, args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "o", "", "write the YAML here (mode 0600) instead of standard output")
		fs.BoolVar(&force, "force", false, "with -o: replace an existing file, keeping its owner and mode")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"migrate: give the seed's config file, e.g. `sophos-connect migrate sophos.conf -o sophos-connect.yaml`"}
	}
	y, secret, err := migrateSeed(rest[0], out != "")
	if err != nil {
		return err
	}
	if out == "" {
		fmt.Fprint(a.stdout, y)
		if secret {
			fmt.Fprintln(a.stderr, "note: client_secret is written as ${SOPHOS_CLIENT_SECRET}: export it, or use -o FILE to keep it in a private file")
		}
		return nil
	}
	if err := writeMigrated(out, []byte(y), force); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "wrote %s — check it with `sophos-connect validate -c %s`\n", out, out)
	return nil
}

// seedKeys are the seed's keys in its order; the longest first for the
// substring match (events_txt_file_name must not match txt_file_creation).
var seedKeys = []string{
	"alerts_auto_acknowledge_status", "alerts_auto_acknowledge_level",
	"events_auto_acknowledge_status", "events_auto_acknowledge_level",
	"alerts_json_file_name", "events_json_file_name", "alerts_txt_file_name", "events_txt_file_name",
	"save_file_location", "json_file_creation", "txt_file_creation",
	"client_secret", "client_id", "log_file_name", "log_level", "pull_time", "run",
}

func migrateSeed(path string, keepSecret bool) (string, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	var unknown []string
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, ";") || strings.HasPrefix(text, "[") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%s:%d: not a `key = value` line", path, line))
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		matched := false
		for _, sk := range seedKeys {
			if strings.Contains(k, sk) {
				if _, dup := vals[sk]; !dup {
					vals[sk] = v
				}
				matched = true
				break
			}
		}
		if !matched {
			unknown = append(unknown, fmt.Sprintf("%s:%d: unknown key %q", path, line, k))
		}
	}
	if err := sc.Err(); err != nil {
		return "", false, err
	}
	if len(unknown) > 0 {
		return "", false, configError{fmt.Errorf("%s", strings.Join(unknown, "\n"))}
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, value *yaml.Node) {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, value)
	}
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!str"} }
	sophosNode := &yaml.Node{Kind: yaml.MappingNode}
	id := vals["client_id"]
	if id == "" {
		id = "${SOPHOS_CLIENT_ID}"
	}
	secret := vals["client_secret"]
	hadSecret := secret != ""
	if secret == "" || !keepSecret {
		secret = "${SOPHOS_CLIENT_SECRET}"
	}
	sophosNode.Content = append(sophosNode.Content, str("client_id"), str(id), str("client_secret"), str(secret))
	add("sophos", sophosNode)
	for _, k := range []string{"pull_time", "run", "save_file_location", "txt_file_creation", "json_file_creation",
		"alerts_txt_file_name", "events_txt_file_name", "alerts_json_file_name", "events_json_file_name",
		"log_level", "log_file_name", "alerts_auto_acknowledge_status", "alerts_auto_acknowledge_level"} {
		v, ok := vals[k]
		if !ok {
			continue
		}
		switch v {
		case "True", "False":
			add(k, &yaml.Node{Kind: yaml.ScalarNode, Value: strings.ToLower(v), Tag: "!!bool"})
		default:
			if k == "pull_time" {
				add(k, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
			} else {
				add(k, str(v))
			}
		}
	}
	var b strings.Builder
	b.WriteString("# Converted from " + path + " by `sophos-connect migrate`.\n# Sinks, transforms and sources can be added: see examples/ and README.md.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return "", false, err
	}
	enc.Close()
	return b.String(), hadSecret && !keepSecret, nil
}
