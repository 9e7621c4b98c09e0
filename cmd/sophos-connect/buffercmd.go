package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/internal/texttable"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

func bufferCmd() *command {
	return &command{
		Name: "buffer", Args: "list | drop NAME", Short: "list disk buffers no sink uses any more; drop one",
		Example: "sophos-connect buffer list\nsophos-connect buffer drop old-siem",
		Subs: []*command{
			{
				Name: "buffer list", Short: "list the disk buffers holding records of a sink no longer in the config",
				Example: "sophos-connect buffer list -c sophos-connect.yaml",
				Setup: func(fs *flag.FlagSet) runFunc {
					return func(a *app, ctx context.Context, g *globals, args []string) error {
						if len(args) > 0 {
							return usageError{"buffer list takes no arguments"}
						}
						return a.bufferList(g)
					}
				},
			},
			{
				Name: "buffer drop", Args: "[-yes] NAME", Short: "delete the disk buffer of a sink no longer in the config (its records are lost)",
				Long: "A renamed or removed sink's disk buffer holds records whose pages were committed when they\n" +
					"reached it: nothing will pull them again. Prefer `buffer: {type: disk, adopt: NAME}` on the sink\n" +
					"that replaced it. drop asks you to type the name unless -yes is given.",
				Example: "sophos-connect buffer drop old-siem",
				Setup: func(fs *flag.FlagSet) runFunc {
					var yes bool
					fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
					return func(a *app, ctx context.Context, g *globals, args []string) error {
						if len(args) != 1 {
							return usageError{"buffer drop takes the buffer's (old sink's) name"}
						}
						return a.bufferDrop(g, args[0], yes)
					}
				},
			},
		},
	}
}

func (a *app) bufferList(g *globals) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	orphans, err := collector.FindOrphans(c)
	if err != nil {
		return err
	}
	if len(orphans) == 0 {
		fmt.Fprintln(a.stdout, "no disk buffer holds records of a sink that is not in the config")
		return nil
	}
	t := texttable.New(a.stdout, "BUFFER", "RECORDS", "DIRECTORY")
	for _, o := range orphans {
		t.Row(o.Name, fmt.Sprint(o.Records), o.Dir)
	}
	t.Flush()
	return fmt.Errorf("%d disk buffer(s) of sinks no longer in %s hold records: adopt them (buffer: {type: disk, adopt: NAME}) or `buffer drop NAME`", len(orphans), c.File)
}

func (a *app) bufferDrop(g *globals, name string, yes bool) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	lock, err := pipeline.LockStateDir(c.StateDir, "buffer drop")
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if !yes {
		fmt.Fprintf(a.stdout, "The records in the disk buffer of sink %q exist nowhere else. Type its name to delete them: ", name)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != name {
			return usageError{"buffer drop: not confirmed, nothing deleted (type the name, or give -yes)"}
		}
	}
	n, err := collector.DropBuffer(c, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "dropped the disk buffer of sink %s: %d record(s) deleted\n", name, n)
	return nil
}
