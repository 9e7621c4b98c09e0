// Command gen writes schema/docs_gen.go from the config structs' comments:
//
//	go run ./schema/gen
//
// TestDocsUpToDate fails when the file is stale.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/sophos-connect/sophos-connect/schema"
)

func main() {
	wd, _ := os.Getwd()
	root, module, err := schema.ModuleRoot(wd)
	if err == nil {
		var src []byte
		if src, err = schema.Generate(root, module); err == nil {
			err = os.WriteFile(filepath.Join(root, "schema", "docs_gen.go"), src, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "schema/gen:", err)
		os.Exit(1)
	}
}
