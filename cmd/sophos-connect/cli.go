package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// runFunc runs a parsed subcommand with its positional arguments.
type runFunc func(a *app, ctx context.Context, g *globals, args []string) error

// command is one subcommand, as cmd/go's base.Command: its name, usage,
// flags, example and run function live here and nowhere else, so help,
// flag parsing and dispatch all come from this table. A command with Subs
// is a group (`endpoints`, `alerts`, `state`, `replay`): its first argument
// names the sub-subcommand.
type command struct {
	Name    string // the words after the binary's name: "endpoints list"
	Args    string // what follows the name on the usage line: "[flags] ID|HOSTNAME..."
	Short   string // one line for the command list
	Long    string // optional paragraph shown by -h
	Example string // one or more command lines, shown by -h
	// Setup defines the command's own flags on fs (-c/-config and -h are
	// added for every command) and returns the run function bound to them.
	// Help calls Setup without running anything, so it must not load the
	// config or touch the network.
	Setup func(fs *flag.FlagSet) runFunc
	Subs  []*command
}

// word is the last word of the name ("list" for "endpoints list").
func (c *command) word() string { return c.Name[strings.LastIndexByte(c.Name, ' ')+1:] }

func (c *command) sub(word string) *command {
	for _, s := range c.Subs {
		if s.word() == word {
			return s
		}
	}
	return nil
}

func (c *command) subWords() string {
	var w []string
	for _, s := range c.Subs {
		w = append(w, s.word())
	}
	return strings.Join(w, ", ")
}

// commandTable lists every subcommand. Add new ones here (with their flags,
// an example and the run function); TestEveryCommandHasHelp walks it.
func commandTable() []*command {
	return []*command{
		validateCmd(),
		demoCmd(),
		emulateCmd(),
		tenantsCmd(),
		endpointsCmd(),
		alertsCmd(),
		stateCmd(),
		bufferCmd(),
		reconcileCmd(),
		replayCmd(),
		statusCmd(),
		migrateCmd(),
		serviceCmd(),
		schemaCmd(),
		versionCmd(),
		{
			Name: "help", Args: "[COMMAND...]", Short: "show the usage of sophos-connect or of one command",
			Example: "sophos-connect help endpoints list",
			Setup: func(fs *flag.FlagSet) runFunc {
				return func(a *app, _ context.Context, _ *globals, args []string) error {
					if len(args) == 0 {
						a.usage(a.stdout)
						return nil
					}
					c := findCommand(commandTable(), args)
					if c == nil {
						return usageError{fmt.Sprintf("help: no command %q", strings.Join(args, " "))}
					}
					return c.help(a.stdout)
				}
			},
		},
	}
}

// findCommand follows the words through the table (nil if one is unknown).
func findCommand(table []*command, words []string) *command {
	var cur *command
	for _, c := range table {
		if c.Name == words[0] {
			cur = c
		}
	}
	for _, w := range words[1:] {
		if cur == nil {
			return nil
		}
		cur = cur.sub(w)
	}
	return cur
}

func isHelpArg(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "--h" }

// dispatch runs c with args: a group picks its sub-subcommand, a leaf
// parses its flags (before, between or after its arguments) and runs. -h
// prints the command's own help and returns before anything is loaded.
func (a *app) dispatch(ctx context.Context, g *globals, c *command, args []string) error {
	if len(c.Subs) > 0 {
		if len(args) == 0 {
			return usageError{fmt.Sprintf("%s: use one of %s (see `sophos-connect %s -h`)", c.Name, c.subWords(), c.Name)}
		}
		if isHelpArg(args[0]) {
			return c.help(a.stdout)
		}
		s := c.sub(args[0])
		if s == nil {
			var words []string
			for _, s := range c.Subs {
				words = append(words, s.word())
			}
			return usageError{fmt.Sprintf("%s: unknown action %q%s: use one of %s", c.Name, args[0], didYouMean(args[0], words), c.subWords())}
		}
		return a.dispatch(ctx, g, s, args[1:])
	}
	fs, run := c.flagSet(g)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return c.help(a.stdout)
			}
			return usageError{fmt.Sprintf("%s: %v (see `sophos-connect %s -h`)", c.Name, err, c.Name)}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return run(a, ctx, g, pos)
}

// flagSet builds the command's flag set: -c/-config plus its own flags.
func (c *command) flagSet(g *globals) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if g == nil {
		g = &globals{}
	}
	addConfigFlag(fs, g)
	var run runFunc
	if c.Setup != nil {
		run = c.Setup(fs)
	}
	return fs, run
}

// help writes the command's usage, description, flags and example.
func (c *command) help(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Usage: sophos-connect %s", c.Name)
	if c.Args != "" {
		fmt.Fprintf(&b, " %s", c.Args)
	}
	fmt.Fprintf(&b, "\n\n%s\n", capitalize(c.Short))
	if c.Long != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimRight(c.Long, "\n"))
	}
	if len(c.Subs) > 0 {
		b.WriteString("\nCommands:\n")
		for _, s := range c.Subs {
			fmt.Fprintf(&b, "  %-44s %s\n", s.word()+" "+s.Args, s.Short)
		}
		fmt.Fprintf(&b, "\nRun `sophos-connect %s COMMAND -h` for one command's flags.\n", c.Name)
	} else {
		fs, _ := c.flagSet(nil)
		b.WriteString("\nFlags:\n")
		printFlags(&b, fs)
	}
	b.WriteString("\nExample:\n")
	for _, l := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// commandList is the command section of the top-level usage, from the table.
func commandList() string {
	var b strings.Builder
	var walk func(cs []*command)
	walk = func(cs []*command) {
		for _, c := range cs {
			if len(c.Subs) > 0 {
				walk(c.Subs)
				continue
			}
			line := c.Name
			if c.Args != "" {
				line += " " + c.Args
			}
			if len(line) > 38 {
				fmt.Fprintf(&b, "  %s\n  %-38s %s\n", line, "", c.Short)
			} else {
				fmt.Fprintf(&b, "  %-38s %s\n", line, c.Short)
			}
		}
	}
	walk(commandTable())
	return b.String()
}

// allCommands returns every command and sub-subcommand, sorted by name.
func allCommands() []*command {
	var out []*command
	var walk func(cs []*command)
	walk = func(cs []*command) {
		for _, c := range cs {
			out = append(out, c)
			walk(c.Subs)
		}
	}
	walk(commandTable())
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
