package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestEveryCommandHasHelp walks the command table: every subcommand and
// sub-subcommand answers -h and --help with its own usage line, its flags
// and an example, exits 0, writes nothing to stderr and never loads the
// config (the config named by -c and $SOPHOS_CONNECT_CONFIG is broken, so
// loading it would exit 2).
func TestEveryCommandHasHelp(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("sophos: [this is: not valid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOPHOS_CONNECT_CONFIG", broken)
	cmds := allCommands()
	if len(cmds) < 20 {
		t.Fatalf("the table has only %d commands: some are missing", len(cmds))
	}
	for _, c := range cmds {
		if c.Short == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s: no short description or no example in the command table", c.Name)
		}
		if len(c.Subs) == 0 && c.Setup == nil {
			t.Errorf("%s: neither sub-commands nor a run function", c.Name)
		}
		for _, h := range []string{"-h", "--help", "-help"} {
			for _, args := range [][]string{
				append(strings.Fields(c.Name), h),
				append([]string{"-c", broken}, append(strings.Fields(c.Name), h)...),
			} {
				code, out, errOut := runApp(t, ctxT(t), args...)
				if code != 0 || errOut != "" {
					t.Errorf("%q: exit %d, stderr %q (help must exit 0 without loading the config)", args, code, errOut)
					continue
				}
				if !strings.HasPrefix(out, "Usage: sophos-connect "+c.Name) {
					t.Errorf("%q: help does not start with its usage line:\n%s", args, out)
				}
				if !strings.Contains(out, "\nExample:\n  sophos-connect ") {
					t.Errorf("%q: help has no example:\n%s", args, out)
				}
				if len(c.Subs) > 0 {
					for _, s := range c.Subs {
						if !strings.Contains(out, "\n  "+s.word()+" ") {
							t.Errorf("%q: help does not list %s", args, s.Name)
						}
					}
					continue
				}
				if !strings.Contains(out, "\nFlags:\n") {
					t.Errorf("%q: help has no flags section", args)
				}
				fs, _ := c.flagSet(nil)
				fs.VisitAll(func(f *flag.Flag) {
					// Aliases share a line: "  -c, -config string".
					if !regexp.MustCompile(`\n  (-\S+, )*-` + regexp.QuoteMeta(f.Name) + `[ ,\t\n]`).MatchString(out) {
						t.Errorf("%q: help does not show flag -%s", args, f.Name)
					}
				})
			}
		}
	}
	// The top-level usage lists every leaf command from the table.
	_, out, _ := runApp(t, ctxT(t), "-h")
	for _, c := range cmds {
		if len(c.Subs) == 0 && !strings.Contains(out, "  "+c.Name) {
			t.Errorf("sophos-connect -h does not list %s", c.Name)
		}
	}
	// help COMMAND is the same text as COMMAND -h.
	_, a, _ := runApp(t, ctxT(t), "help", "endpoints", "list")
	_, b, _ := runApp(t, ctxT(t), "endpoints", "list", "-h")
	if a != b || a == "" {
		t.Errorf("help endpoints list differs from endpoints list -h")
	}
}

func TestVersionFlags(t *testing.T) {
	for _, args := range [][]string{{"-version"}, {"--version"}, {"version"}} {
		code, out, errOut := runApp(t, ctxT(t), args...)
		if code != 0 || !strings.HasPrefix(out, "sophos-connect ") || errOut != "" {
			t.Errorf("%q: exit %d, out %q, err %q", args, code, out, errOut)
		}
	}
}

func TestUnknownSubcommandListsActions(t *testing.T) {
	code, _, errOut := runApp(t, ctxT(t), "endpoints", "frob")
	if code != 2 || !strings.Contains(errOut, "list, isolate, unisolate, scan, update-check, tamper") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
