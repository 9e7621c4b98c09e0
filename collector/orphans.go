package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline/buffer"
	"github.com/sophos-connect/sophos-connect/pipeline/diskq"
)

// Orphan is a disk buffer with records and no sink of its name: the sink
// was renamed or removed. Its records' pages were committed when they
// reached the buffer, so nothing would ever pull them again.
type Orphan struct {
	Name    string
	Dir     string
	Records int64
}

// FindOrphans lists the disk buffers under stateDir holding records whose
// sink is not in c (a disk-buffered sink of that name).
func FindOrphans(c *config.Config) ([]Orphan, error) {
	entries, err := os.ReadDir(filepath.Join(c.StateDir, "buffer"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	own := map[string]bool{}
	for _, s := range c.Sinks {
		if s.Buffer.Type == "disk" {
			own[s.Name] = true
		}
	}
	var out []Orphan
	for _, e := range entries {
		if !e.IsDir() || own[e.Name()] {
			continue
		}
		dir := buffer.Dir(c.StateDir, e.Name())
		n, err := pendingRecords(dir)
		if err != nil {
			return nil, fmt.Errorf("disk buffer %s: %w", dir, err)
		}
		if n > 0 {
			out = append(out, Orphan{Name: e.Name(), Dir: dir, Records: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func pendingRecords(dir string) (int64, error) {
	q, err := diskq.Open(dir, diskq.Options{})
	if err != nil {
		return 0, err
	}
	defer q.Close()
	return q.Stats().Entries, nil
}

// adoptOrphans runs at start, before the disk buffers open: an orphaned
// buffer named by a sink's buffer.adopt moves into that sink's buffer (its
// drainer delivers the records); any other orphan stops the start with a
// configuration error (exit 2) naming it, its record count and the two
// ways out — never a silent loss.
func adoptOrphans(c *config.Config, log *slog.Logger) error {
	orphans, err := FindOrphans(c)
	if err != nil || len(orphans) == 0 {
		return err
	}
	adopter := map[string]string{} // old name -> sink
	for _, s := range c.Sinks {
		if s.Buffer.Type == "disk" && s.Buffer.Adopt != "" {
			adopter[s.Buffer.Adopt] = s.Name
		}
	}
	var refused []string
	for _, o := range orphans {
		to, ok := adopter[o.Name]
		if !ok {
			refused = append(refused, fmt.Sprintf("%s holds %d record(s) of sink %q, which is no longer in the config", o.Dir, o.Records, o.Name))
			continue
		}
		if err := moveBuffer(o.Dir, buffer.Dir(c.StateDir, to)); err != nil {
			return fmt.Errorf("adopting disk buffer %s into sink %s: %w", o.Dir, to, err)
		}
		log.Warn(fmt.Sprintf("sink %s adopted the disk buffer of sink %s (buffer.adopt): %d record(s) will be delivered by it", to, o.Name, o.Records))
	}
	if len(refused) > 0 {
		return ConfigError{fmt.Errorf("%s: %s — their pages were committed when they reached the buffer, so they exist nowhere else. "+
			"Either give the sink that replaced it `buffer: {type: disk, adopt: <old name>}` to deliver them, or drop them with "+
			"`sophos-connect buffer drop <old name>` (it asks for confirmation)", c.File, strings.Join(refused, "; "))}
	}
	return nil
}

// moveBuffer moves the pending records of the queue in from into the queue
// in to, then removes from. When to holds nothing pending, the directory is
// renamed (one atomic step); otherwise the records are appended to it and
// acknowledged in from only once they are safely in to, so a crash in
// between delivers some twice rather than none.
func moveBuffer(from, to string) error {
	if n, err := pendingRecords(to); err == nil && n == 0 {
		if err := os.RemoveAll(to); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			return err
		}
		return os.Rename(from, to)
	}
	src, err := diskq.Open(from, diskq.Options{})
	if err != nil {
		return err
	}
	dst, err := diskq.Open(to, diskq.Options{})
	if err != nil {
		src.Close()
		return err
	}
	for {
		entries, err := src.Read(1000)
		if err == nil && len(entries) > 0 {
			payloads := make([][]byte, len(entries))
			for i, e := range entries {
				payloads[i] = e.Payload
			}
			if err = dst.Append(context.Background(), payloads); err == nil {
				err = src.Ack(entries[len(entries)-1].Pos)
			}
		}
		if err != nil {
			src.Close()
			dst.Close()
			return err
		}
		if len(entries) == 0 {
			break
		}
	}
	if err := dst.Close(); err != nil {
		src.Close()
		return err
	}
	src.Close()
	return os.RemoveAll(from)
}

// DropBuffer deletes a disk buffer that no sink of c uses (the operator's
// `buffer drop`), returning how many records it held.
func DropBuffer(c *config.Config, name string) (int64, error) {
	for _, s := range c.Sinks {
		if s.Name == name && s.Buffer.Type == "disk" {
			return 0, fmt.Errorf("sink %q is in %s and uses this buffer: remove or rename the sink first (or let it deliver)", name, c.File)
		}
	}
	dir := buffer.Dir(c.StateDir, name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return 0, fmt.Errorf("no disk buffer %s", dir)
	}
	n, err := pendingRecords(dir)
	if err != nil {
		return 0, err
	}
	return n, os.RemoveAll(dir)
}
