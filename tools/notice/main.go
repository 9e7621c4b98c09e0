// Command notice writes NOTICE at the repository root from the module graph
// of the product's binary (every release platform):
//
//	go run ./tools/notice
//
// It fails, naming the module, when a dependency has no recognisable licence
// or one that is not permissive.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sophos-connect/sophos-connect/tools/internal/licenses"
)

func main() {
	wd, _ := os.Getwd()
	root, err := licenses.Root(wd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(2)
	}
	notice, _, problems, err := licenses.Generate(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "notice:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(root, "NOTICE"), notice, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "notice:", err)
		os.Exit(1)
	}
}
