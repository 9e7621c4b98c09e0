package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/transforms/dedupe"
)

// adoptWindow is how far back adopted ids are kept: what Sophos Central
// still serves (24 h) plus a margin for clock skew.
const adoptWindow = 25 * time.Hour

// adoptSeedFiles lets a first run beside the seed's files ("Sophos API
// Connect") leave alone what the seed already wrote: for every seed file
// sink whose file exists while its stream has no checkpoint yet, the ids in
// the file (txt `EventID:`/`AlertID:`, json `id`), as the seed read them on
// every pass, are kept in a bounded set — only those created within the
// 24 h window — and records with those ids are not routed to that sink.
// Other sinks still receive them. Once the pass commits checkpoints, the
// next start adopts nothing: checkpoints take over.
func (as *assembly) adoptSeedFiles(cps *pipeline.CheckpointStore, now time.Time, log *slog.Logger) error {
	hasCheckpoint := map[pipeline.Stream]bool{}
	for key, cp := range cps.All() {
		if cp.Cursor == "" {
			continue
		}
		for _, s := range []pipeline.Stream{pipeline.Alerts, pipeline.Events} {
			if len(key) > len(s) && key[len(key)-len(s)-1:] == "/"+string(s) {
				hasCheckpoint[s] = true
			}
		}
	}
	for _, sf := range as.seedFiles {
		// Only the seed's own streams: it never wrote detections or cases,
		// and a case's id repeats by design (each status change is a new
		// record of the same case), so ids must not block them.
		if hasCheckpoint[sf.stream] || !sf.stream.SIEM() {
			continue
		}
		f, err := os.Open(sf.path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("adopt the seed's file %s: %w", sf.path, err)
		}
		set := dedupe.NewSet()
		var old int
		add := func(id, created string) {
			if id == "" {
				return
			}
			t, err := time.Parse(time.RFC3339Nano, created)
			if err != nil {
				t = now // unknown time: keep it, a repeat is worse than a kept id
			}
			if now.Sub(t) > adoptWindow {
				old++
				return
			}
			set.Add(string(sf.stream), id, t)
		}
		if sf.kind == "json" {
			err = readJSONIDs(f, add)
		} else {
			err = readTxtIDs(f, sf.stream, add)
		}
		f.Close()
		if err != nil {
			log.Error(fmt.Sprintf("reading the ids of the seed's file %s: %v — the ids read before that point are adopted", sf.path, err))
		}
		src, noun := sourceTag(sf.stream), "Event"
		if sf.stream == pipeline.Alerts {
			noun = "Alert"
		}
		log.Info(fmt.Sprintf("Adopted %d %s IDs from %s", set.Len(), noun, sf.path), "source", src)
		log.Info(fmt.Sprintf("(no checkpoint yet: records with those ids are not written to %s again; %d older ids are outside the 24 h window)", sf.path, old), "source", src)
		if set.Len() == 0 {
			continue
		}
		spec := &as.sinks[sf.sink]
		prev, stream := spec.Routes.When, string(sf.stream)
		spec.Routes.When = func(r *pipeline.Record) bool {
			if set.Has(stream, r.ID) {
				return false
			}
			return prev == nil || prev(r)
		}
	}
	return nil
}

// readTxtIDs reads the seed's txt lines: the id is the text between
// "EventID: " (or "AlertID: ") and the next "]", the time the text after
// "[Timestamp: ". A line is read up to its first 64 KiB, which holds both.
func readTxtIDs(r io.Reader, stream pipeline.Stream, add func(id, created string)) error {
	marker := []byte("[EventID: ")
	if stream == pipeline.Alerts {
		marker = []byte("[AlertID: ")
	}
	ts := []byte("[Timestamp: ")
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: use its head, skip the rest.
			head := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			line = head
		}
		if i := bytes.Index(line, marker); i >= 0 {
			rest := line[i+len(marker):]
			if j := bytes.IndexByte(rest, ']'); j >= 0 {
				created := ""
				if k := bytes.Index(line[:i], ts); k >= 0 {
					t := line[k+len(ts) : i]
					if e := bytes.IndexByte(t, ']'); e >= 0 {
						created = string(t[:e])
					}
				}
				add(string(rest[:j]), created)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readJSONIDs streams the seed's JSON array, one item at a time (the file
// can be large: the seed never trimmed it), reading each item's id and
// created_at.
func readJSONIDs(r io.Reader, add func(id, created string)) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	tok, err := dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return errors.New("not a JSON array")
	}
	for dec.More() {
		var item struct {
			ID        any `json:"id"`
			CreatedAt any `json:"created_at"`
		}
		if err := dec.Decode(&item); err != nil {
			return err
		}
		id, _ := item.ID.(string)
		created, _ := item.CreatedAt.(string)
		add(id, created)
	}
	return nil
}

// missingSeedJSON lists the seed's JSON file sinks whose file does not exist
// yet (the seed logged their creation).
func (as *assembly) missingSeedJSON() []seedFile {
	var out []seedFile
	for _, sf := range as.seedFiles {
		if sf.kind != "json" {
			continue
		}
		if _, err := os.Stat(sf.path); errors.Is(err, os.ErrNotExist) {
			out = append(out, sf)
		}
	}
	return out
}

// sourceTag is the seed's log tag of a stream.
func sourceTag(s pipeline.Stream) string {
	if s == pipeline.Alerts {
		return "Alerts"
	}
	return "Events"
}
