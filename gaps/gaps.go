// Package gaps keeps the list of gaps the collector found: spans of a
// tenant's stream that fell out of Sophos Central's 24 h window before they
// could be read. The list is state_dir/gaps.ndjson, one JSON gap per line,
// appended and synced as each gap is found; `sophos-connect state gaps`
// prints it.
package gaps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// FileName is the list's name in the state dir.
const FileName = "gaps.ndjson"

// Store appends gaps to the state dir's list. It implements
// pipeline.GapRecorder and is safe for concurrent use.
type Store struct {
	path string
	mu   sync.Mutex
}

var _ pipeline.GapRecorder = (*Store)(nil)

// Open returns the store of stateDir (the file is created with the first gap).
func Open(stateDir string) *Store { return &Store{path: filepath.Join(stateDir, FileName)} }

// Path is the list's file.
func (s *Store) Path() string { return s.path }

// RecordGap appends g and syncs the file.
func (s *Store) RecordGap(g pipeline.Gap) error {
	line, err := json.Marshal(g)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("gap list %s: %w", s.path, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("gap list %s: %w", s.path, err)
	}
	return nil
}

// List reads the gaps of stateDir, oldest first. A gap found twice (a crash
// before its page was committed finds it again) is listed once; a torn last
// line (a crash mid-append) is skipped. No file is no gaps.
func List(stateDir string) ([]pipeline.Gap, error) {
	path := filepath.Join(stateDir, FileName)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	var out []pipeline.Gap
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var g pipeline.Gap
		if err := json.Unmarshal(line, &g); err != nil {
			continue // a torn append
		}
		if i, ok := seen[g.ID()]; ok {
			out[i] = g
			continue
		}
		seen[g.ID()] = len(out)
		out = append(out, g)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].From.Before(out[j].From) })
	return out, sc.Err()
}
