package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
)

// parseLevel maps the seed's level names to slog levels.
func parseLevel(s string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "OFF":
		return pipeline.LevelOff
	case "ERROR":
		return pipeline.LevelError
	case "LOG+":
		return pipeline.LevelLogPlus
	case "VERBOSE":
		return pipeline.LevelVerbose
	}
	return pipeline.LevelInfo // INFO and its alias LOG
}

// seedHandler writes the seed's log lines, "[<Source> Log dd/mm/YYYY
// HH:MM:SS] <note>" in local time, to every writer (the log file and
// stderr). The "source" attribute picks System, Alerts or Events.
type seedHandler struct {
	mu     *sync.Mutex
	outs   []io.Writer
	files  []*rotLog // the log file among outs, for SIGHUP
	level  slog.Level
	source string
	attrs  string
	jattrs []slog.Attr // the same attributes, for the JSON layout
	now    func() time.Time
	// json writes one JSON object per line instead of the seed's layout
	// (log_format: json).
	json bool
}

func (h *seedHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *seedHandler) Handle(_ context.Context, r slog.Record) error {
	if h.json {
		return h.handleJSON(r)
	}
	source := h.source
	var extra strings.Builder
	extra.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" {
			source = a.Value.String()
			return true
		}
		fmt.Fprintf(&extra, " %s=%v", a.Key, a.Value)
		return true
	})
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(source)
	b.WriteString(" Log ")
	b.WriteString(h.now().Format("02/01/2006 15:04:05"))
	b.WriteString("] ")
	if r.Level >= slog.LevelError {
		b.WriteString("ERROR: ")
	}
	b.WriteString(redactLine(escapeControls(r.Message + extra.String())))
	b.WriteString("\n")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.outs {
		io.WriteString(w, b.String())
	}
	return nil
}

func (h *seedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.jattrs = slices.Clone(h.jattrs)
	for _, a := range as {
		if a.Key == "source" {
			c.source = a.Value.String()
			continue
		}
		c.attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		c.jattrs = append(c.jattrs, a)
	}
	return &c
}

// handleJSON writes r as one JSON object: time (RFC 3339 UTC, milliseconds),
// level (the seed's names: ERROR, WARN, INFO, LOG+, VERBOSE), msg, source
// (System, Alerts, Events) and every attribute, secrets redacted as in the
// seed's layout.
func (h *seedHandler) handleJSON(r slog.Record) error {
	b := make([]byte, 0, 256)
	b = append(b, `{"time":`...)
	b = jsonString(b, h.now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	b = append(b, `,"level":`...)
	b = jsonString(b, levelName(r.Level))
	b = append(b, `,"msg":`...)
	b = jsonString(b, redactLine(r.Message))
	source := h.source
	attrs := h.jattrs
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" {
			source = a.Value.String()
		} else {
			attrs = append(attrs[:len(attrs):len(attrs)], a)
		}
		return true
	})
	b = append(b, `,"source":`...)
	b = jsonString(b, source)
	for _, a := range attrs {
		if a.Key == "time" || a.Key == "level" || a.Key == "msg" || a.Key == "source" {
			a.Key = "attr_" + a.Key
		}
		b = append(b, ',')
		b = jsonString(b, a.Key)
		b = append(b, ':')
		b = jsonValue(b, a.Value.Resolve())
	}
	b = append(b, "}\n"...)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.outs {
		w.Write(b)
	}
	return nil
}

func levelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= pipeline.LevelLogPlus:
		return "LOG+"
	}
	return "VERBOSE"
}

func jsonString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // escapes control characters; never fails for a string
	return append(b, q...)
}

func jsonValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool:
		if q, err := json.Marshal(v.Any()); err == nil {
			return append(b, q...)
		}
	case slog.KindTime:
		return jsonString(b, v.Time().UTC().Format(time.RFC3339Nano))
	case slog.KindDuration:
		return jsonString(b, v.Duration().String())
	}
	return jsonString(b, redactLine(v.String()))
}

// withLogFormat switches a logger made by newLogger to format ("json" or
// the seed's layout).
func withLogFormat(log *slog.Logger, format string) *slog.Logger {
	h, ok := log.Handler().(*seedHandler)
	if !ok || format != "json" {
		return log
	}
	c := *h
	c.json = true
	return slog.New(&c)
}

func (h *seedHandler) WithGroup(string) slog.Handler { return h }

// newLogger opens the log file (creating it with the seed's "New Log File
// Created" line whatever the level) and returns a logger that writes to it
// and to stderr. The returned closer closes the file.
// mode (optional) is the log file's permission when it is created (file_mode;
// default 0640).
func newLogger(level string, logFile string, stderr io.Writer, mode ...os.FileMode) (*slog.Logger, func(), error) {
	perm := os.FileMode(0o640)
	if len(mode) > 0 {
		perm = mode[0]
	}
	h := &seedHandler{mu: &sync.Mutex{}, level: parseLevel(level), source: "System", now: time.Now}
	if stderr != nil {
		h.outs = append(h.outs, stderr)
	}
	closer := func() {}
	if logFile != "" {
		if err := os.MkdirAll(filepath.Dir(logFile), 0o755); err != nil {
			return nil, nil, fmt.Errorf("log file %s: %w", logFile, err)
		}
		_, statErr := os.Stat(logFile)
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, perm)
		if err != nil {
			return nil, nil, fmt.Errorf("open log file %s: %w — check log_file_name and save_file_location", logFile, err)
		}
		if os.IsNotExist(statErr) {
			fmt.Fprintf(f, "[System Log %s] New Log File Created\n", time.Now().Format("02/01/2006 15:04:05"))
		}
		lf := &rotLog{path: logFile, f: f}
		h.outs = append(h.outs, lf)
		h.files = append(h.files, lf)
		closer = func() { h.mu.Lock(); defer h.mu.Unlock(); lf.f.Close() }
	}
	return slog.New(h), closer, nil
}

// rotLog is the log file, reopened by path on SIGHUP (after logrotate
// moved it away). Writes happen under the handler's mutex.
type rotLog struct {
	path string
	f    *os.File
}

func (l *rotLog) Write(b []byte) (int, error) { return l.f.Write(b) }

// reopenLogFiles reopens the log file of a logger made by newLogger; a
// failure keeps the old file.
func reopenLogFiles(log *slog.Logger) error {
	h, ok := log.Handler().(*seedHandler)
	if !ok {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, lf := range h.files {
		f, err := os.OpenFile(lf.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("reopen log file %s: %w (still writing to the old one)", lf.path, err)
		}
		lf.f.Close()
		lf.f = f
	}
	return nil
}

// fileOnly is log writing to the log file only (for what main also prints
// on stderr).
func fileOnly(log *slog.Logger) *slog.Logger {
	h, ok := log.Handler().(*seedHandler)
	if !ok {
		return slog.New(slog.DiscardHandler)
	}
	c := *h
	c.outs = nil
	for _, f := range h.files {
		c.outs = append(c.outs, f)
	}
	return slog.New(&c)
}
