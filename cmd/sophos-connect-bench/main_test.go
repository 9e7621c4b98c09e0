package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEverySinkBenchRuns runs the bench for every sink type with a small
// backlog: the collector binary delivers into each peer and the peer must
// count every event (run fails otherwise), so a peer that stopped
// answering as its sink expects, or stopped counting, is caught here and
// not when the README's figures are measured.
func TestEverySinkBenchRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the collector for every sink")
	}
	if err := os.Chdir(filepath.Join("..", "..")); err != nil { // the bench runs from the repository root
		t.Fatal(err)
	}
	bin, dir, cleanup, err := prepare("", t.TempDir())
	defer cleanup()
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range benchSinks {
		t.Run(sink, func(t *testing.T) {
			if sink == "opensearch" && os.Getenv("OPENSEARCH_URL") == "" {
				if os.Getenv("CI") != "" {
					t.Fatal("OPENSEARCH_URL is not set in CI (test/services/search.sh starts the node)")
				}
				t.Skip("OPENSEARCH_URL not set: no OpenSearch node to bench against")
			}
			if err := run(sink, 2000, 2, 1, bin, filepath.Join(dir, sink), false, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	if !slices.Contains(benchSinks, "s3") || len(benchSinks) < 14 {
		t.Fatalf("benchSinks lost a sink: %v", benchSinks)
	}
}
