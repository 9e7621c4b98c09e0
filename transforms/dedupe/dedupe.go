// Package dedupe is the transform stage that drops a (stream, id) repeat
// seen within a TTL. It remembers an id only once the record was delivered
// (pipeline.DeliveryObserver), so a crash before delivery never makes a
// replay drop a record nobody received; until then the id is pending, and a
// second copy within the same run is a repeat too.
//
// Memory is bounded by max_entries: each id is a 12-byte hash plus a 4-byte
// time in one 16-byte slot of an open-addressing table (about 21 to 32
// bytes per id with the table's free slots). When full, expired ids and then the
// oldest ~1/16 are forgotten at once. Remembered ids persist in
// <state_dir>/dedupe-<name>.db: appended (fsync) at most once per second or
// every 4096 ids, and rewritten atomically (temp, fsync, rename) when the
// appends outgrow the live set and on Close.
package dedupe

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// Config is the dedupe stage's own keys.
type Config struct {
	// TTL is how long a delivered id is remembered (default 25h: covers
	// Sophos' 24 h window, the longest a replay can reach back).
	TTL config.Duration `yaml:"ttl"`
	// MaxEntries bounds the ids remembered (default 2,000,000: about
	// 43 MB when full; see BenchmarkMemory for bytes per id).
	MaxEntries int `yaml:"max_entries"`
	// StateDir overrides the collector's state_dir for this stage's file;
	// "" uses it. With neither, ids are kept in memory only.
	StateDir string `yaml:"state_dir"`
}

// Defaults.
const (
	DefaultTTL        = 25 * time.Hour
	DefaultMaxEntries = 2_000_000
)

// Flush policy: persist when this many ids are waiting, or this long after
// the last flush.
const (
	flushIDs      = 4096
	flushInterval = time.Second
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{TTL: config.Duration(DefaultTTL), MaxEntries: DefaultMaxEntries}
}

// Validate checks the keys.
func (c *Config) Validate() error {
	var errs config.Errors
	if c.TTL.D() < time.Second {
		errs = append(errs, &config.FieldError{Key: "ttl", Msg: fmt.Sprintf("%s is too short: use a duration such as 25h (Sophos replays reach back 24 h)", c.TTL)})
	} else if c.TTL.D() > 366*24*time.Hour {
		errs = append(errs, &config.FieldError{Key: "ttl", Msg: fmt.Sprintf("%s is longer than a year: use a duration such as 25h", c.TTL)})
	}
	if c.MaxEntries < 1 || c.MaxEntries > 1<<28 {
		errs = append(errs, &config.FieldError{Key: "max_entries", Msg: fmt.Sprintf("%d is out of range: use 1 to 268435456 (each id costs 21 to 32 bytes)", c.MaxEntries)})
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Dedupe is the stage; it implements pipeline.Stage,
// pipeline.DeliveryObserver and io.Closer, and is safe for concurrent use.
type Dedupe struct {
	name  string
	cfg   Config
	path  string // state file; "" = memory only
	shown string // state file named by String (set even for a dry run)
	log   *slog.Logger
	now   func() time.Time

	mu        sync.Mutex
	tab       *table
	live      int            // entries in tab not known to be expired
	pending   map[key]uint32 // passed Process, not yet delivered
	unsaved   []entry        // remembered, not yet in the file
	lastFlush time.Time
	lastGC    time.Time
	closed    bool

	fileMu       sync.Mutex // serializes file writes (held without mu)
	fileEntries  int        // entries in the file, expired or not
	fileChunks   []span     // what the file holds, to see how much expired
	needSnapshot bool       // the file's tail is damaged: rewrite, do not append
}

// span is a run of entries in the state file and the newest time in it:
// once that time is past the TTL, the whole run is garbage.
type span struct {
	newest uint32
	n      int
}

// garbage counts the file's entries known to be expired.
func (d *Dedupe) garbage(min uint32) int {
	g := 0
	for _, s := range d.fileChunks {
		if s.newest < min {
			g += s.n
		}
	}
	return g
}

// New builds the stage and loads the ids it remembered before a restart.
// stateDir is the collector's state_dir (Config.StateDir overrides it).
func New(name string, c Config, stateDir string, log *slog.Logger) (*Dedupe, error) {
	return newDedupe(name, c, stateDir, log, time.Now)
}

func newDedupe(name string, c Config, stateDir string, log *slog.Logger, now func() time.Time) (*Dedupe, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dedupe{name: name, cfg: c, log: log, now: now, pending: map[key]uint32{}}
	if c.StateDir != "" {
		stateDir = c.StateDir
	}
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o750); err != nil {
			return nil, fmt.Errorf("dedupe: state_dir: %w", err)
		}
		d.path = filepath.Join(stateDir, "dedupe-"+fileName(name)+".db")
		d.shown = d.path
	} else {
		log.Warn("dedupe keeps its ids in memory only: set state_dir so a restart still knows what was forwarded", "stage", name)
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	return d, nil
}

// NewDryRun builds a memory-only stage that describes itself (String) as
// New would, without creating state_dir or reading its file: for
// `validate`.
func NewDryRun(name string, c Config, stateDir string) (*Dedupe, error) {
	d, err := newDedupe(name, c, "", slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		return nil, err
	}
	if c.StateDir != "" {
		stateDir = c.StateDir
	}
	if stateDir != "" {
		d.shown = filepath.Join(stateDir, "dedupe-"+fileName(name)+".db")
	}
	return d, nil
}

// fileName keeps letters, digits, '-', '_' and '.' of a stage name.
func fileName(name string) string {
	if name == "" {
		return "dedupe"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
}

func (d *Dedupe) nowSec() uint32 { return uint32(d.now().Unix()) }

// minLive is the oldest first-seen time still within the TTL.
func (d *Dedupe) minLive(now uint32) uint32 {
	ttl := uint32(d.cfg.TTL.D() / time.Second)
	if now <= ttl {
		return 1
	}
	return now - ttl + 1
}

// load reads the state file into a fresh table, then rewrites the file
// when it holds much more than the live ids or has a damaged tail.
func (d *Dedupe) load() error {
	d.tab = newTable(minSlots)
	if d.path == "" {
		return nil
	}
	data, err := readFile(d.path)
	if errors.Is(err, fs.ErrNotExist) {
		d.needSnapshot = true
		return d.snapshot()
	}
	if err != nil {
		return fmt.Errorf("dedupe: read %s: %w", d.path, err)
	}
	min := d.minLive(d.nowSec())
	newest := uint32(0)
	n, torn, err := decodeFile(data, func(e entry) {
		newest = maxU32(newest, e.ts)
		if e.ts >= min {
			d.remember(e.k, e.ts, min)
		}
	})
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", d.path, time.Now().Unix())
		d.log.Error("dedupe state file unreadable; moved aside, starting empty (repeats of already forwarded records may pass once)",
			"stage", d.name, "file", d.path, "moved_to", aside, "err", err)
		if rerr := os.Rename(d.path, aside); rerr != nil {
			return fmt.Errorf("dedupe: %s is unreadable (%v) and cannot be moved aside: %w", d.path, err, rerr)
		}
		d.needSnapshot = true
		return d.snapshot()
	}
	if torn {
		d.log.Warn("dedupe state file has a damaged tail (a crash during a write); the ids in it are forgotten", "stage", d.name, "file", d.path)
	}
	d.fileEntries = n
	d.fileChunks = []span{{newest, n}}
	d.log.Info("dedupe state loaded", "stage", d.name, "file", d.path, "ids", d.live, "read", n)
	if torn || n > 2*d.live+flushIDs {
		d.needSnapshot = true
		return d.snapshot()
	}
	return nil
}

// remember adds k to the table, growing it or evicting as needed. Caller
// holds mu (or owns d exclusively).
func (d *Dedupe) remember(k key, ts, min uint32) bool {
	if d.live >= d.cfg.MaxEntries || d.tab.full() {
		// Drop the expired; when still at the bound, forget the oldest
		// 1/16 too, so the next rebuild is max_entries/16 ids away.
		target := d.cfg.MaxEntries
		if d.live >= d.cfg.MaxEntries {
			target -= max(1, d.cfg.MaxEntries/16)
		}
		d.tab = d.tab.rebuild(min, target, d.cfg.MaxEntries)
		d.live = d.tab.used
	}
	added, newSlot := d.tab.put(k, ts, min)
	if newSlot {
		d.live++
	}
	return added
}

// Process drops r when its (stream, id) is remembered or pending.
func (d *Dedupe) Process(r *pipeline.Record, out []*pipeline.Record) ([]*pipeline.Record, error) {
	k := hashKey(string(r.Stream), r.ID)
	now := d.nowSec()
	min := d.minLive(now)
	d.mu.Lock()
	repeat := d.tab.seen(k, min)
	if !repeat {
		if ts, ok := d.pending[k]; ok && ts >= min {
			repeat = true
		} else {
			d.pending[k] = now
		}
	}
	d.mu.Unlock()
	if repeat {
		return out, nil
	}
	return append(out, r), nil
}

// Delivered remembers the ids of delivered records (pending or not: a
// record delivered is a record forwarded) and persists them in batches: at
// most once per second or every 4096 ids (Close writes the rest).
func (d *Dedupe) Delivered(records []*pipeline.Record) {
	now := d.now()
	sec := uint32(now.Unix())
	min := d.minLive(sec)
	d.mu.Lock()
	for _, r := range records {
		k := hashKey(string(r.Stream), r.ID)
		delete(d.pending, k)
		// Remembered from its delivery: the TTL runs from when the record
		// was last forwarded.
		if d.remember(k, sec, min) && d.path != "" {
			d.unsaved = append(d.unsaved, entry{k, sec})
		}
	}
	if now.Sub(d.lastGC) > time.Minute {
		d.lastGC = now
		for k, ts := range d.pending {
			if ts < min { // never delivered: lost downstream or dropped by a later stage
				delete(d.pending, k)
			}
		}
	}
	flush := d.path != "" && !d.closed && (len(d.unsaved) >= flushIDs || (len(d.unsaved) > 0 && now.Sub(d.lastFlush) >= flushInterval))
	d.mu.Unlock()
	if flush {
		if err := d.Flush(); err != nil {
			d.log.Error("dedupe state not saved (a restart may let repeats through once)", "stage", d.name, "err", err)
		}
	}
}

// Flush writes the remembered ids not yet in the state file.
func (d *Dedupe) Flush() error {
	if d.path == "" {
		return nil
	}
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	d.mu.Lock()
	batch := d.unsaved
	d.unsaved = nil
	d.lastFlush = d.now()
	live := d.live
	min := d.minLive(d.nowSec())
	d.mu.Unlock()
	// Rewrite when at least half the file would be garbage: ids the table
	// dropped (live is exact after each rebuild) or runs known expired.
	g := d.garbage(min)
	if d.needSnapshot || d.fileEntries+len(batch) > 2*live+flushIDs || 2*g > d.fileEntries+len(batch)+flushIDs {
		return d.snapshot() // includes batch: it is in the table
	}
	if len(batch) == 0 {
		return nil
	}
	if err := appendFile(d.path, appendChunk(nil, batch)); err != nil {
		d.needSnapshot = true // the tail may be torn: rewrite next time
		d.mu.Lock()
		d.unsaved = append(batch, d.unsaved...)
		d.mu.Unlock()
		return err
	}
	d.fileEntries += len(batch)
	newest := uint32(0)
	for _, e := range batch {
		newest = maxU32(newest, e.ts)
	}
	d.fileChunks = append(d.fileChunks, span{newest, len(batch)})
	return nil
}

// snapshot rewrites the state file from the table. Caller holds fileMu (or
// owns d exclusively).
func (d *Dedupe) snapshot() error {
	d.mu.Lock()
	min := d.minLive(d.nowSec())
	buf := make([]byte, 0, len(magic)+d.live*15+64)
	buf = append(buf, magic...)
	chunk := make([]entry, 0, 65536)
	n := 0
	newest := uint32(0)
	d.tab.each(min, func(k key, ts uint32) {
		newest = maxU32(newest, ts)
		chunk = append(chunk, entry{k, ts})
		if len(chunk) == cap(chunk) {
			buf = appendChunk(buf, chunk)
			n += len(chunk)
			chunk = chunk[:0]
		}
	})
	buf = appendChunk(buf, chunk)
	n += len(chunk)
	d.unsaved = nil
	d.mu.Unlock()
	if err := writeAtomic(d.path, buf); err != nil {
		d.needSnapshot = true
		return fmt.Errorf("dedupe: write %s: %w", d.path, err)
	}
	d.needSnapshot = false
	d.fileEntries = n
	d.fileChunks = []span{{newest, n}}
	return nil
}

// Close saves the state (a compact snapshot). Process and Delivered must
// not be called after it.
func (d *Dedupe) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	if d.path == "" {
		return nil
	}
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	return d.snapshot()
}

// Abandoned forgets the pending ids of records that will never be
// delivered (a page given up or to be fetched and processed again), so they
// are not taken for repeats. Ids already remembered stay.
func (d *Dedupe) Abandoned(records []*pipeline.Record) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range records {
		delete(d.pending, hashKey(string(r.Stream), r.ID))
	}
}

// Len returns the number of remembered ids and of pending ones.
func (d *Dedupe) Len() (remembered, pending int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live, len(d.pending)
}

// Path returns the state file ("" when memory only).
func (d *Dedupe) Path() string { return d.path }

// String describes the stage for `validate`, e.g.
// dedupe(ttl=25h0m0s, max_entries=2000000, state=state/dedupe-x.db).
func (d *Dedupe) String() string {
	state := "memory only"
	if d.shown != "" {
		state = "state=" + d.shown
	}
	return fmt.Sprintf("dedupe(ttl=%s, max_entries=%d, %s)", d.cfg.TTL, d.cfg.MaxEntries, state)
}
