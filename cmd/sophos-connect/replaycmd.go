package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/sophos-connect/sophos-connect/collector"
	"github.com/sophos-connect/sophos-connect/seed"
)

// replayCmd is `replay dlq` (collector.Replay does the work).
func replayCmd() *command {
	return &command{
		Name: "replay", Args: "dlq [-sink NAME]", Short: "send dead-lettered records again once the cause is fixed",
		Example: "sophos-connect replay dlq -sink siem",
		Subs: []*command{{
			Name: "replay dlq", Args: "[-sink NAME] [-attempts N]",
			Short: "send the dead-letter file's records again (run it while the collector is stopped)",
			Long: "Each record goes back to the sink that refused it (or, for a stage failure, through the stages\n" +
				"to every sink that routes it). Delivered records leave the file; refused ones stay with the new reason.",
			Example: "sophos-connect replay dlq -c sophos-connect.yaml -sink siem",
			Setup: func(fs *flag.FlagSet) runFunc {
				var only string
				var attempts int
				fs.StringVar(&only, "sink", "", "replay only the records this sink refused")
				fs.IntVar(&attempts, "attempts", 3, "attempts per record before it stays in the file")
				return func(a *app, ctx context.Context, g *globals, args []string) error {
					if len(args) > 0 {
						return usageError{"replay dlq takes no arguments: use -sink NAME"}
					}
					return a.replayDLQ(ctx, g, only, attempts)
				}
			},
		}},
	}
}

func (a *app) replayDLQ(ctx context.Context, g *globals, only string, attempts int) error {
	c, err := loadConfig(g)
	if err != nil {
		return err
	}
	mode, _ := c.FileMode.Mode() // validated with the config
	log, closeLog, err := seed.NewLogger(c.LogLevel, seed.LogFilePath(c), a.stderr, mode)
	if err != nil {
		return err
	}
	defer closeLog()
	res, err := collector.Replay(ctx, c, collector.ReplayOptions{Sink: only, Attempts: attempts, Log: log})
	var unknown *collector.UnknownSinkError
	if errors.As(err, &unknown) {
		return usageError{err.Error()}
	}
	if err != nil {
		return err
	}
	if res.Empty {
		fmt.Fprintf(a.stdout, "no dead letters in %s\n", res.Path)
		return nil
	}
	fmt.Fprintf(a.stdout, "replayed %d record(s) from %s: %d refused again (kept with the new reason), %d not replayed (other sinks)", res.Delivered, res.Path, res.Refused, res.Skipped)
	if len(res.Damaged) > 0 {
		fmt.Fprintf(a.stdout, ", %d damaged line(s) skipped and kept", len(res.Damaged))
	}
	fmt.Fprintln(a.stdout)
	for _, d := range res.Damaged {
		fmt.Fprintf(a.stderr, "damaged dead-letter line: %s\n", d)
	}
	if res.Refused > 0 {
		return fmt.Errorf("%d record(s) were refused again: see %s", res.Refused, res.Path)
	}
	if len(res.Damaged) > 0 {
		return fmt.Errorf("%d damaged dead-letter line(s) could not be replayed (kept in place, listed above)", len(res.Damaged))
	}
	return nil
}
