package emulator

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	siemDefaultLimit = 200
	siemMaxLimit     = 1000
	windowMs         = int64(window / time.Millisecond)
	// scanFactor bounds the items one page may skip over (exclude_types).
	scanFactor = 50
)

// intParam parses an optional integer parameter.
func intParam(v string, def int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

// handleSIEM serves GET /siem/v1/events and /siem/v1/alerts (reference §4).
func (s *Server) handleSIEM(st streamID) func(http.ResponseWriter, *http.Request, *call) {
	return func(w http.ResponseWriter, r *http.Request, c *call) {
		q := r.URL.Query()
		now := s.nowMs()
		limit, ok := intParam(q.Get("limit"), siemDefaultLimit)
		if !ok || limit < 1 {
			s.writeError(w, 400, "limit must be an integer between 1 and 1000")
			return
		}
		if limit > siemMaxLimit {
			s.writeError(w, 400, "limit must not exceed 1000")
			return
		}
		offset, ok := intParam(q.Get("from_date_offset_minutes"), 0)
		if !ok || offset < 0 {
			s.writeError(w, 400, "from_date_offset_minutes must be an integer >= 0")
			return
		}
		windowStart := pos{now - windowMs - 1, maxU64, maxU64} // items created at or after now-24h
		start := windowStart
		cursor := q.Get("cursor")
		switch {
		case cursor != "":
			p, err := decodeCursor(cursor)
			if err != nil {
				s.writeError(w, 400, "Invalid cursor")
				return
			}
			if s.draw(s.opts.Faults.StaleCursor) {
				p = windowStart
			}
			if p.ms < windowStart.ms {
				p = windowStart // a cursor older than 24 h silently restarts at the window
			}
			start = p
		case q.Get("from_date") != "":
			secs, err := strconv.ParseFloat(strings.TrimSpace(q.Get("from_date")), 64)
			if err != nil {
				s.writeError(w, 400, "from_date must be a Unix time in seconds")
				return
			}
			ms := int64(secs * 1000)
			if ms < now-windowMs {
				s.writeError(w, 400, "from_date must be within the last 24 hours")
				return
			}
			start = pos{ms - 1, maxU64, maxU64}
		}
		var exclude []string
		if st == sEvents {
			for _, x := range strings.Split(q.Get("exclude_types"), ",") {
				if x = strings.TrimSpace(x); x != "" {
					exclude = append(exclude, x)
				}
			}
		}
		upper := int64(1<<62 - 1)
		if offset > 0 {
			upper = now - int64(offset)*60_000
		}
		if !s.midpage(w, c) {
			return
		}

		t := c.t
		faulty := s.opts.Faults.hits(t, t.idx)
		buf := getBuf()
		defer putBuf(buf)
		const head = 32 // room for `{"has_more":false,"items":[`
		b := append((*buf)[:0], make([]byte, head)...)
		last := start
		n, scanned := 0, 0
		t.mu.RLock()
		it := t.iterAfter(st, start)
		for n < limit && scanned < limit*scanFactor {
			x, ok := it.peek()
			if !ok || x.ms > upper {
				break
			}
			it.next()
			scanned++
			last = x.pos()
			if exclude != nil && t.excluded(x, exclude) {
				continue
			}
			if st == sAlerts && t.withheld[[2]uint64{x.hi, x.lo}] {
				continue // withheld from the SIEM stream (the Common API lists it)
			}
			if n > 0 {
				b = append(b, ',')
			}
			itemStart := len(b)
			if st == sAlerts {
				b = t.appendAlert(b, x)
			} else {
				b = t.appendEvent(b, x)
			}
			if faulty && s.draw(s.opts.Faults.MissingID) {
				b = append(b[:itemStart], dropID(b[itemStart:])...)
			}
			n++
		}
		nx, more := it.peek()
		more = more && nx.ms <= upper
		t.mu.RUnlock()

		next := encodeCursor(last)
		if cursor != "" && s.draw(s.opts.Faults.Replay) {
			next = cursor // the client will be served this page again
		}
		if cursor != "" && faulty {
			switch {
			case s.opts.Faults.SameCursor:
				next, more = cursor, true // a loop: has_more forever on the same cursor
			case s.opts.Faults.EmptyCursor:
				next = ""
			}
		}
		b = append(b, `],"next_cursor":"`...)
		b = append(b, next...)
		b = append(b, `"}`...)
		prefix := `{"has_more":false,"items":[`
		if more {
			prefix = `{"has_more":true,"items":[`
		}
		from := head - len(prefix)
		copy(b[from:], prefix)
		*buf = b
		s.writeBody(w, 200, b[from:])

		if s.draw(s.opts.Faults.LateArrivals) {
			t.lateArrival(st, now, int64(1000+s.drawInt(119_000)))
		}
	}
}

// excluded reports whether an event's type is in the exclude list.
func (t *tenant) excluded(x item, exclude []string) bool {
	in := t.incident(x.key, x.alert)
	for _, e := range exclude {
		if e == in.et.typ {
			return true
		}
	}
	return false
}

// midpage applies the 401-midpage fault: a token stops working after N
// SIEM pages, in the middle of paging.
func (s *Server) midpage(w http.ResponseWriter, c *call) bool {
	n := s.opts.Faults.Midpage401
	if n <= 0 || c.tok == nil {
		return true
	}
	s.mu.Lock()
	expired := c.tok.pages >= n
	if expired {
		c.tok.revoked = true
	} else {
		c.tok.pages++
	}
	s.mu.Unlock()
	if expired {
		s.writeError(w, http.StatusUnauthorized, "Invalid or expired token")
		return false
	}
	return true
}

// dropID removes the top-level "id" member of a generated item (the
// missing-id fault).
func dropID(item []byte) []byte {
	i := bytes.Index(item, []byte(`"id":"`))
	if i < 0 {
		return item
	}
	end := i + len(`"id":"`) + bytes.IndexByte(item[i+len(`"id":"`):], '"') + 1
	switch {
	case end < len(item) && item[end] == ',':
		end++
	case i > 0 && item[i-1] == ',':
		i--
	}
	out := append([]byte(nil), item[:i]...)
	return append(out, item[end:]...)
}
