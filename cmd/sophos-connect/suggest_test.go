package main

import (
	"strings"
	"testing"
)

// TestDidYouMean: a mistyped command gets a suggestion; -c appears once in
// every command's help.
func TestDidYouMean(t *testing.T) {
	code, _, errOut := runApp(t, ctxT(t), "valdate")
	if code != exitUsage || !strings.Contains(errOut, `unknown command "valdate" (did you mean validate?)`) {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, _, errOut = runApp(t, ctxT(t), "state", "shwo")
	if code != exitUsage || !strings.Contains(errOut, "(did you mean show?)") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, _, errOut = runApp(t, ctxT(t), "frobnicate"); strings.Contains(errOut, "did you mean") {
		t.Fatalf("no command is near frobnicate: %s", errOut)
	}
	for _, c := range commandTable() {
		if len(c.Subs) > 0 {
			continue
		}
		var b strings.Builder
		c.help(&b)
		if n := strings.Count(b.String(), "-config"); n != 1 || !strings.Contains(b.String(), "  -c, -config string") {
			t.Errorf("%s -h lists -config %d times:\n%s", c.Name, n, b.String())
		}
	}
}
