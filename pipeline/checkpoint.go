package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
	"unicode/utf8"
)

// Checkpoint is the committed position of one partition.
type Checkpoint struct {
	Cursor     string    `json:"cursor"`
	SavedAt    time.Time `json:"saved_at"`              // when the cursor was committed (the host's clock)
	TenantName string    `json:"tenant_name,omitempty"` // for `state show`
	// ServedUntil is, by the API's clock, what the cursor's page had
	// served up to: the 24 h window is measured from here.
	ServedUntil time.Time `json:"served_until,omitzero"`
}

// servedUntil is where the 24 h window is measured from: SavedAt for a
// checkpoint written before served_until was kept.
func (c Checkpoint) servedUntil() time.Time {
	if c.ServedUntil.IsZero() {
		return c.SavedAt
	}
	return c.ServedUntil
}

// Age is the checkpoint's age by the API's clock at apiNow.
func (c Checkpoint) Age(apiNow time.Time) time.Duration { return apiNow.Sub(c.servedUntil()) }

// Checkpointer is where the runner keeps cursors: the local file
// (CheckpointStore) or, in distributed mode, the cluster's compacted topic.
// Set only marks a cursor committed in memory; Flush makes every Set durable
// and is called only after the pages it covers were delivered.
type Checkpointer interface {
	Get(key string) (Checkpoint, bool)
	Set(key string, c Checkpoint)
	Flush() error
	// DurableGet and Durable are what the last successful Flush made
	// durable: the age alarms measure from there.
	DurableGet(key string) (Checkpoint, bool)
	Durable() map[string]Checkpoint
}

// CheckpointStore keeps every partition's cursor in one JSON file, replaced
// atomically (temp file, fsync, rename, fsync of the directory) on every
// commit. Commits are coalesced: Set only marks the store dirty, Flush (or
// the committer started by Run) writes the newest state.
type CheckpointStore struct {
	path string

	mu      sync.Mutex
	cps     map[string]Checkpoint
	disk    map[string]Checkpoint // what the file on disk holds (Durable)
	changed map[string]Checkpoint // set since the last Flush started
	removed map[string]bool       // deleted since the last Flush started
	sorted  []string              // keys of cps in order as of the last Flush
	added   []string              // keys set since, not in sorted
	buf     []byte                // the last file written, reused
	dirty   bool
	writeMu sync.Mutex // one writer at a time
	commits int
}

type checkpointFile struct {
	Version    int                   `json:"version"`
	Partitions map[string]Checkpoint `json:"partitions"`
}

// OpenCheckpoints loads <dir>/checkpoints.json (absent = no checkpoints).
func OpenCheckpoints(dir string) (*CheckpointStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	s := &CheckpointStore{path: filepath.Join(dir, "checkpoints.json"), cps: map[string]Checkpoint{},
		disk: map[string]Checkpoint{}, changed: map[string]Checkpoint{}, removed: map[string]bool{}}
	b, err := os.ReadFile(s.path)
	if os.IsNotExist(err) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("checkpoint file %s is damaged (%v): move it aside to start from the 24 h window, or restore it", s.path, err)
	}
	if f.Partitions != nil {
		s.cps = f.Partitions
	}
	for k, v := range s.cps {
		s.disk[k] = v
	}
	return s, nil
}

// Path is the checkpoint file.
func (s *CheckpointStore) Path() string { return s.path }

// Get returns the checkpoint of the partition key, if any.
func (s *CheckpointStore) Get(key string) (Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cps[key]
	return c, ok
}

// All returns a copy of every checkpoint, keyed by partition key.
func (s *CheckpointStore) All() map[string]Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Checkpoint, len(s.cps))
	for k, v := range s.cps {
		out[k] = v
	}
	return out
}

// Keys returns the partition keys in order.
func (s *CheckpointStore) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.cps))
	for k := range s.cps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Set records a new position in memory; Flush makes it durable.
func (s *CheckpointStore) Set(key string, c Checkpoint) {
	s.mu.Lock()
	if _, ok := s.cps[key]; !ok {
		s.added = append(s.added, key)
	}
	s.cps[key] = c
	s.changed[key] = c
	delete(s.removed, key)
	s.dirty = true
	s.mu.Unlock()
}

// Delete removes checkpoints whose key matches (used by `state reset`).
func (s *CheckpointStore) Delete(match func(key string) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k := range s.cps {
		if match(k) {
			delete(s.cps, k)
			delete(s.changed, k)
			s.removed[k] = true
			n++
		}
	}
	if n > 0 {
		s.sorted, s.added = s.sorted[:0], s.added[:0] // rebuilt by the next Flush
		s.dirty = true
	}
	return n
}

// Commits counts the files written (for tests and metrics).
func (s *CheckpointStore) Commits() int {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.commits
}

// Flush writes the checkpoints if anything changed since the last write.
func (s *CheckpointStore) Flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if !s.dirty {
		s.mu.Unlock()
		return nil
	}
	switch {
	case len(s.sorted)+len(s.added) != len(s.cps): // keys were deleted
		s.sorted = s.sorted[:0]
		for k := range s.cps {
			s.sorted = append(s.sorted, k)
		}
		sort.Strings(s.sorted)
	case len(s.added) > 0: // merge the new keys in
		sort.Strings(s.added)
		merged := make([]string, 0, len(s.cps))
		i, j := 0, 0
		for i < len(s.sorted) || j < len(s.added) {
			if j == len(s.added) || (i < len(s.sorted) && s.sorted[i] < s.added[j]) {
				merged = append(merged, s.sorted[i])
				i++
			} else {
				merged = append(merged, s.added[j])
				j++
			}
		}
		s.sorted = merged
	}
	s.added = s.added[:0]
	b := s.encode(s.buf[:0])
	s.dirty = false
	changed, removed := s.changed, s.removed
	s.changed, s.removed = map[string]Checkpoint{}, map[string]bool{}
	s.mu.Unlock()
	s.buf = b // only the writer (writeMu) uses buf

	if err := WriteFileAtomic(s.path, b, 0o600); err != nil {
		s.mu.Lock()
		s.dirty = true
		for k, c := range changed { // not on disk: still to write (unless set again since)
			_, newer := s.changed[k]
			if _, alive := s.cps[k]; alive && !newer {
				s.changed[k] = c
			}
		}
		for k := range removed {
			if _, set := s.cps[k]; !set {
				s.removed[k] = true
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("commit checkpoints: %w", err)
	}
	s.commits++
	s.mu.Lock()
	for k, c := range changed {
		s.disk[k] = c
	}
	for k := range removed {
		delete(s.disk, k)
	}
	s.mu.Unlock()
	return nil
}

// DurableGet is one partition's checkpoint as the file on disk holds it.
func (s *CheckpointStore) DurableGet(key string) (Checkpoint, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.disk[key]
	return c, ok
}

// Durable returns the checkpoints as the file on disk holds them: the age
// alarms measure from the last commit that reached disk, not the last try.
func (s *CheckpointStore) Durable() map[string]Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Checkpoint, len(s.disk))
	for k, v := range s.disk {
		out[k] = v
	}
	return out
}

// encode appends the checkpoint file: the JSON of checkpointFile, one
// partition per line in key order. Hand-written because with thousands of
// tenants the file is rewritten many times a second: encoding/json with
// indentation was two thirds of the collector's CPU at 2,000 tenants.
func (s *CheckpointStore) encode(b []byte) []byte {
	b = append(b, "{\n  \"version\": 1,\n  \"partitions\": {"...)
	for i, k := range s.sorted {
		c := s.cps[k]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = appendJSONString(b, k)
		b = append(b, `: {"cursor": `...)
		b = appendJSONString(b, c.Cursor)
		b = append(b, `, "saved_at": "`...)
		b = c.SavedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
		if !c.ServedUntil.IsZero() {
			b = append(b, `, "served_until": "`...)
			b = c.ServedUntil.UTC().AppendFormat(b, time.RFC3339Nano)
			b = append(b, '"')
		}
		if c.TenantName != "" {
			b = append(b, `, "tenant_name": `...)
			b = appendJSONString(b, c.TenantName)
		}
		b = append(b, '}')
	}
	return append(b, "\n  }\n}\n"...)
}

// appendJSONString appends s as a JSON string (invalid UTF-8 through
// encoding/json, which replaces it).
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// WriteFileAtomic replaces path with data: temp file in the same directory,
// fsync, rename, fsync of the directory. A crash leaves the old or the new
// file, never a mix.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
