// Package ledger keeps a compact, bounded record of what the collector read
// and delivered, per tenant, stream and hour, for the last 48 hours: enough
// for `sophos-connect reconcile` to compare with what Sophos Central holds.
//
// Per (tenant, stream, hour) it keeps the items read, and per sink the
// records routed to it and delivered (or durably buffered); for alerts also
// the ids read, as 8-byte hashes (alert ids are what the Common API lists;
// detection ids make the hourly count exact). The hour is the item's
// created_at hour (UTC); for detections its sensorGeneratedAt hour, which
// the Detections API counts by.
//
// On disk: one file per tenant, state_dir/ledger/<tenant>.ldg, a sequence
// of framed entries (length, payload, CRC-32) appended as pages settle.
// Compact (run at start and every hour) drops hours older than 48 h and
// merges a file's entries into one per (stream, hour), rewriting it
// atomically. Memory does not grow with tenants: a write opens, appends and
// closes its tenant's file; reading and compacting hold one tenant's file.
//
// Entries are written after delivery and before the checkpoint commit, but
// not synced: a host crash may lose the newest entries, which reconcile then
// reports missing (and -repair delivers again: a repeat, never a loss).
package ledger

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// Retention is how long the ledger keeps an hour: the API's 24 h window
// twice, so a reconciliation of the last 24 h always has what it needs.
const Retention = 48 * time.Hour

// Dir is the ledger's directory in the state dir.
const Dir = "ledger"

// SinkCount is one sink's share of an hour.
type SinkCount struct {
	Name      string
	Routed    uint64 // records the sink's streams and when took
	Delivered uint64 // of those, delivered or durably buffered (the rest were dead-lettered)
}

// Entry is what was read and delivered of one tenant's stream in one hour.
type Entry struct {
	Hour   int64 // Unix hour (seconds / 3600) of created_at
	Stream string
	Read   uint64      // items read from the API
	Sinks  []SinkCount // by sink name
	IDs    []uint64    // alerts: hashes of the ids read (HashID)
}

// Time is the start of the entry's hour.
func (e *Entry) Time() time.Time { return time.Unix(e.Hour*3600, 0).UTC() }

// HashID is the 8-byte form an id is kept in (FNV-1a 64): at 10 k tenants
// with thousands of alerts a day the chance of two ids colliding is below
// one in a billion.
func HashID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(id)))
	return h.Sum64()
}

// Ledger writes and reads the ledger of one state dir. It is a
// pipeline.PageObserver and safe for concurrent use.
type Ledger struct {
	dir string
	now func() time.Time
	mu  sync.Mutex // one writer per file at a time (files are small: one lock)
}

var _ pipeline.PageObserver = (*Ledger)(nil)

// Open creates the ledger's directory in stateDir.
func Open(stateDir string, now func() time.Time) (*Ledger, error) {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Join(stateDir, Dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return &Ledger{dir: dir, now: now}, nil
}

// Path is the ledger's directory.
func (l *Ledger) Path() string { return l.dir }

func (l *Ledger) file(tenant string) string {
	// Tenant ids are UUIDs; anything else is made safe for a file name.
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, tenant)
	return filepath.Join(l.dir, safe+".ldg")
}

// PageSettled records a page every sink settled (pipeline.PageObserver).
// Gap records are not items of the API and are not counted.
func (l *Ledger) PageSettled(sp *pipeline.SettledPage) {
	p := sp.Page.Partition
	fallback := sp.Page.APITime
	if fallback.IsZero() {
		fallback = l.now()
	}
	hourOf := func(r *pipeline.Record) int64 {
		if p.Stream == pipeline.Detections {
			// The Detections API counts by sensorGeneratedAt.
			if t, err := time.Parse(time.RFC3339Nano, rawjson.StringView(rawjson.Get(r.Raw, "sensorGeneratedAt"))); err == nil {
				return t.Unix() / 3600
			}
		}
		t := r.CreatedTime()
		if t.IsZero() {
			t = r.WhenTime()
		}
		if t.IsZero() {
			t = fallback
		}
		return t.Unix() / 3600
	}
	byHour := map[int64]*Entry{}
	entry := func(h int64) *Entry {
		e := byHour[h]
		if e == nil {
			e = &Entry{Hour: h, Stream: string(p.Stream)}
			for _, name := range sp.Sinks {
				e.Sinks = append(e.Sinks, SinkCount{Name: name})
			}
			byHour[h] = e
		}
		return e
	}
	// Alert ids are compared with the Common API's; detection ids make
	// the hourly count exact although the detections query overlaps.
	keepIDs := p.Stream == pipeline.Alerts || p.Stream == pipeline.Detections
	for i := range sp.Page.Records {
		r := &sp.Page.Records[i]
		if r.IsGap() {
			continue
		}
		e := entry(hourOf(r))
		e.Read++
		if keepIDs {
			e.IDs = append(e.IDs, HashID(r.ID))
		}
	}
	for _, r := range sp.Out {
		if r.IsGap() {
			continue
		}
		e := entry(hourOf(r))
		for i := range sp.Sinks {
			if sp.Routed(i, r) {
				e.Sinks[i].Routed++
				if r.DeliveredBy(i) {
					e.Sinks[i].Delivered++
				}
			}
		}
	}
	if len(byHour) == 0 {
		return
	}
	entries := make([]Entry, 0, len(byHour))
	for _, e := range byHour {
		entries = append(entries, *e)
	}
	if err := l.Append(p.Tenant, entries); err != nil {
		// The ledger is an instrument: a failure must not hold delivery
		// back; reconcile reports what it lacks as missing.
		fmt.Fprintf(os.Stderr, "ledger: %v\n", err)
	}
}

// Append adds entries to tenant's file.
func (l *Ledger) Append(tenant string, entries []Entry) error {
	var buf []byte
	for i := range entries {
		buf = appendFrame(buf, &entries[i])
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.file(tenant), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Load returns tenant's entries from since on, merged: one per (stream,
// hour), sorted by stream and hour.
func (l *Ledger) Load(tenant string, since time.Time) ([]Entry, error) {
	l.mu.Lock()
	data, err := os.ReadFile(l.file(tenant))
	l.mu.Unlock()
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entries, _ := decodeAll(data)
	return merge(entries, since.Unix()/3600), nil
}

// Tenants lists the tenants with a ledger file.
func (l *Ledger) Tenants() ([]string, error) {
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, de := range des {
		if name, ok := strings.CutSuffix(de.Name(), ".ldg"); ok {
			out = append(out, name)
		}
	}
	return out, nil
}

// Compact drops hours older than Retention from every file and merges each
// file's entries into one per (stream, hour). A file left empty is removed.
func (l *Ledger) Compact() error {
	des, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	oldest := l.now().Add(-Retention).Unix() / 3600
	var errs []error
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), ".ldg") {
			continue
		}
		if err := l.compactFile(filepath.Join(l.dir, de.Name()), oldest); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (l *Ledger) compactFile(path string, oldest int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	entries, clean := decodeAll(data)
	merged := merge(entries, oldest)
	if clean && len(merged) == len(entries) {
		return nil // nothing to drop or merge
	}
	if len(merged) == 0 {
		return os.Remove(path)
	}
	var buf []byte
	for i := range merged {
		buf = appendFrame(buf, &merged[i])
	}
	// Replaced by rename, not synced: the ledger is never synced (see the
	// package comment), and 10 k fsyncs would make an hourly compaction
	// take minutes.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// merge sums entries of the same (stream, hour) at or after oldest.
func merge(entries []Entry, oldest int64) []Entry {
	type key struct {
		stream string
		hour   int64
	}
	byKey := map[key]*Entry{}
	var keys []key
	for i := range entries {
		e := &entries[i]
		if e.Hour < oldest {
			continue
		}
		k := key{e.Stream, e.Hour}
		m := byKey[k]
		if m == nil {
			c := Entry{Hour: e.Hour, Stream: e.Stream}
			m = &c
			byKey[k] = m
			keys = append(keys, k)
		}
		m.Read += e.Read
		for _, s := range e.Sinks {
			found := false
			for j := range m.Sinks {
				if m.Sinks[j].Name == s.Name {
					m.Sinks[j].Routed += s.Routed
					m.Sinks[j].Delivered += s.Delivered
					found = true
					break
				}
			}
			if !found {
				m.Sinks = append(m.Sinks, s)
			}
		}
		m.IDs = append(m.IDs, e.IDs...)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].stream != keys[j].stream {
			return keys[i].stream < keys[j].stream
		}
		return keys[i].hour < keys[j].hour
	})
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		m := byKey[k]
		if len(m.IDs) > 1 {
			// An id read twice (a page repeated after a crash) is kept once.
			sort.Slice(m.IDs, func(i, j int) bool { return m.IDs[i] < m.IDs[j] })
			w := 1
			for _, id := range m.IDs[1:] {
				if id != m.IDs[w-1] {
					m.IDs[w] = id
					w++
				}
			}
			m.IDs = m.IDs[:w]
		}
		out = append(out, *m)
	}
	return out
}

// appendFrame appends uvarint(len) payload crc32(payload).
func appendFrame(b []byte, e *Entry) []byte {
	p := make([]byte, 0, 32+len(e.IDs)*8)
	p = binary.AppendUvarint(p, uint64(e.Hour))
	p = appendString(p, e.Stream)
	p = binary.AppendUvarint(p, e.Read)
	p = binary.AppendUvarint(p, uint64(len(e.Sinks)))
	for _, s := range e.Sinks {
		p = appendString(p, s.Name)
		p = binary.AppendUvarint(p, s.Routed)
		p = binary.AppendUvarint(p, s.Delivered)
	}
	p = binary.AppendUvarint(p, uint64(len(e.IDs)))
	for _, id := range e.IDs {
		p = binary.LittleEndian.AppendUint64(p, id)
	}
	b = binary.AppendUvarint(b, uint64(len(p)))
	b = append(b, p...)
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(p))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeAll reads every intact frame; clean is false when it stopped at a
// damaged or torn one (a crash mid-append): what follows is dropped.
func decodeAll(data []byte) (entries []Entry, clean bool) {
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			return entries, true
		}
		if err != nil || n > 64<<20 {
			return entries, false
		}
		p := make([]byte, n+4)
		if _, err := io.ReadFull(r, p); err != nil {
			return entries, false
		}
		payload := p[:n]
		if crc32.ChecksumIEEE(payload) != binary.LittleEndian.Uint32(p[n:]) {
			return entries, false
		}
		e, ok := decodeEntry(payload)
		if !ok {
			return entries, false
		}
		entries = append(entries, e)
	}
}

func decodeEntry(p []byte) (Entry, bool) {
	var e Entry
	d := decoder{b: p}
	e.Hour = int64(d.uvarint())
	e.Stream = d.string()
	e.Read = d.uvarint()
	ns := d.uvarint()
	if ns > 64 {
		return e, false
	}
	for range ns {
		s := SinkCount{Name: d.string()}
		s.Routed, s.Delivered = d.uvarint(), d.uvarint()
		e.Sinks = append(e.Sinks, s)
	}
	ni := d.uvarint()
	if ni*8 > uint64(len(d.b)) {
		return e, false
	}
	e.IDs = make([]uint64, ni)
	for i := range e.IDs {
		e.IDs[i] = d.u64()
	}
	return e, !d.bad && len(d.b) == 0
}

type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
