package encoding

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// The official script writes two warnings to stderr: an unmapped severity
// and a threat name its regex cannot split. Here each is counted (every
// occurrence) and logged once per distinct value, so a stream of
// "critical" alerts cannot flood the log.

var (
	unmappedSeverity atomic.Uint64
	nameSplitFailed  atomic.Uint64

	warnMu   sync.Mutex
	warnSeen = map[string]struct{}{}
)

// maxWarnValues bounds the memory spent remembering logged values.
const maxWarnValues = 1024

// WarningCounts returns how many records so far had a severity the CEF map
// does not know (encoded as 0) and how many had a threat type whose name
// did not split into detection_identity_name and filePath.
func WarningCounts() (unmappedSeverities, nameSplitFailures uint64) {
	return unmappedSeverity.Load(), nameSplitFailed.Load()
}

// warner logs through one logger; nil means slog.Default() at the time of
// the warning.
// Its key buffer makes the repeat lookups allocation-free; a warner belongs
// to one encoder, hence one goroutine.
type warner struct {
	log *slog.Logger
	key []byte
}

func newWarner(l *slog.Logger) *warner { return &warner{log: l} }

// once logs msg the first time (kind, value) is seen in this process.
func (w *warner) once(kind string, value []byte, msg func() string) {
	w.key = append(append(append(w.key[:0], kind...), 0), value...)
	warnMu.Lock()
	_, seen := warnSeen[string(w.key)]
	full := len(warnSeen) >= maxWarnValues
	if !seen && !full {
		warnSeen[string(w.key)] = struct{}{}
	}
	warnMu.Unlock()
	if seen || full {
		return
	}
	l := w.log
	if l == nil {
		l = slog.Default()
	}
	l.Warn(msg(), "component", "encoding", "warning", kind, "note", "logged once per distinct value")
}

// unmappedSeverityWarning records the script's
// `The "<x>" severity can not be mapped, defaulting to 0`.
func (w *warner) unmappedSeverity(str []byte) {
	unmappedSeverity.Add(1)
	w.once("unmapped_severity", str, func() string {
		return `The "` + string(str) + `" severity can not be mapped, defaulting to 0`
	})
}

// nameSplitFailed records the script's
// `Failed to split name field for event type '<type>'` (typeRepr is repr(type)).
func (w *warner) nameSplitFailed(typeRepr []byte) {
	nameSplitFailed.Add(1)
	w.once("name_split_failed", typeRepr, func() string {
		return "Failed to split name field for event type " + string(typeRepr)
	})
}
