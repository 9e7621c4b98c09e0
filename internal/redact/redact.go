// Package redact is the one place secrets are removed from what the
// collector shows: every log line, stderr, the status board and page,
// /metrics, dead-letter reasons and `validate` pass through String.
//
// A secret is registered once (config.Secret values when the config is
// read, the credentials inside URLs, tokens the collector obtains) and is
// then found in the forms a receiver may echo it in: as is, URL-encoded,
// JSON-escaped, base64 (alone, or inside a base64 blob such as HTTP Basic
// "user:password" or an Elasticsearch "id:key" API key), and any run of
// MinRun or more of its characters, which also catches a truncated echo
// (a receiver quoting the first 70 bytes of a form body).
package redact

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
)

// Marker replaces what was removed.
const Marker = "[redacted]"

// MinRun is the shortest run of a secret's characters that is removed on
// its own (shorter runs would blank out ordinary words).
const MinRun = 8

// minSecret is the shortest value treated as a secret: shorter values
// would blank out ordinary text ("true", port numbers).
const minSecret = 4

// Set is a set of secrets. The zero value is empty and ready.
type Set struct {
	mu    sync.RWMutex
	seen  map[string]bool
	forms []string            // every form of every secret, longest first
	grams map[uint64]struct{} // every MinRun-byte window of every form
}

var global Set

// Reset empties the process-wide set: a command starts with only the
// secrets of the config it reads (tests run many commands in one process).
func Reset() {
	global.mu.Lock()
	defer global.mu.Unlock()
	global.seen, global.forms, global.grams = nil, nil, nil
}

// Add registers secrets with the process-wide set used by String.
func Add(secrets ...string) { global.Add(secrets...) }

// AddURL registers the credentials a URL carries: the userinfo password
// (and user) and every query value.
func AddURL(raw string) { global.AddURL(raw) }

// String removes every registered secret from s.
func String(s string) string { return global.String(s) }

// With removes the registered secrets and extra ones from s (extra are not
// registered: e.g. a token about to be replaced).
func With(s string, extra ...string) string {
	s = global.String(s)
	if len(extra) == 0 {
		return s
	}
	var tmp Set
	tmp.Add(extra...)
	return tmp.String(s)
}

// Add registers secrets (values shorter than 4 bytes are ignored).
func (t *Set) Add(secrets ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range secrets {
		if len(s) < minSecret || t.seen[s] {
			continue
		}
		if t.seen == nil {
			t.seen = map[string]bool{}
			t.grams = map[uint64]struct{}{}
		}
		t.seen[s] = true
		for _, f := range forms(s) {
			t.forms = append(t.forms, f)
			for i := 0; i+MinRun <= len(f); i++ {
				t.grams[gram(f[i:])] = struct{}{}
			}
		}
	}
	// Longest first, so a form is never cut by a shorter one inside it.
	sortByLenDesc(t.forms)
}

// AddURL registers the userinfo and the query values of raw, also of one
// that does not parse as a URL ("user:pass@host:9092", a Kafka broker).
func (t *Set) AddURL(raw string) {
	if u, err := url.Parse(raw); err == nil {
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				t.Add(p)
			}
		}
		if q, err := url.ParseQuery(u.RawQuery); err == nil {
			for k, vs := range q {
				if credentialKey(k) {
					t.Add(vs...)
				}
			}
		}
	}
	rest := raw
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if _, pass, ok := strings.Cut(rest[:at], ":"); ok {
			t.Add(pass)
		}
	}
}

// credentialKey tells a query parameter that carries a credential (a HEC
// ?token=, an Azure SAS sig=, an api_key=) from ordinary ones (index=main),
// whose values must not be blanked out everywhere.
func credentialKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range []string{"token", "key", "secret", "pass", "pwd", "sig", "auth", "credential", "code", "session"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// forms are the encodings a receiver or an error may quote s in: as is,
// URL-encoded (either hex case), JSON-escaped (with and without HTML
// escaping) and base64.
func forms(s string) []string {
	j, _ := json.Marshal(s)
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	plain := strings.TrimSpace(sb.String())
	out := []string{
		s,
		url.QueryEscape(s),
		url.PathEscape(s),
		"",
		string(j[1 : len(j)-1]),
		plain[1 : len(plain)-1],
		strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(s)), "="),
		strings.TrimRight(base64.URLEncoding.EncodeToString([]byte(s)), "="),
	}
	out[3] = lowerHex(out[1])
	seen := map[string]bool{}
	uniq := out[:0]
	for _, f := range out {
		if !seen[f] {
			seen[f] = true
			uniq = append(uniq, f)
		}
	}
	return uniq
}

// lowerHex writes a URL-encoding's %XX escapes in lower case, as some
// receivers re-encode.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for k := i + 1; k <= i+2; k++ {
				if b[k] >= 'A' && b[k] <= 'F' {
					b[k] += 'a' - 'A'
				}
			}
		}
	}
	return string(b)
}

func gram(b string) uint64 { return binary.LittleEndian.Uint64([]byte(b[:MinRun])) }

func sortByLenDesc(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && len(a[j]) > len(a[j-1]); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// String removes every form of every secret of t from s, every run of
// MinRun or more bytes of a form, and every base64 blob whose decoded
// bytes hold a secret.
func (t *Set) String(s string) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.forms) == 0 || s == "" {
		return s
	}
	for _, f := range t.forms {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, Marker)
		}
	}
	s = t.cutRuns(s)
	return t.cutBase64(s)
}

// Bytes is String for a byte slice.
func (t *Set) Bytes(b []byte) []byte { return []byte(t.String(string(b))) }

// Bytes removes every registered secret from b.
func Bytes(b []byte) []byte { return global.Bytes(b) }

// cutRuns replaces each maximal run of bytes whose every MinRun-byte window
// belongs to some secret's form.
func (t *Set) cutRuns(s string) string {
	if len(t.grams) == 0 || len(s) < MinRun {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i+MinRun <= len(s); {
		if _, ok := t.grams[gram(s[i:])]; !ok {
			i++
			continue
		}
		end := i + MinRun
		for end < len(s) {
			if _, ok := t.grams[gram(s[end+1-MinRun:])]; !ok {
				break
			}
			end++
		}
		b.WriteString(s[last:i])
		b.WriteString(Marker)
		last, i = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// containsRun reports whether b holds a run of MinRun bytes of a form, or a
// whole (short) secret.
func (t *Set) containsRun(b []byte) bool {
	for i := 0; i+MinRun <= len(b); i++ {
		if _, ok := t.grams[binary.LittleEndian.Uint64(b[i:])]; ok {
			return true
		}
	}
	for s := range t.seen {
		if len(s) < MinRun && strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' || c == '='
}

// cutBase64 removes base64 blobs that decode to text holding a secret
// ("Basic dXNlcjpwYXNz", "ApiKey aWQ6a2V5"), also cut short.
func (t *Set) cutBase64(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !isB64(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isB64(s[j]) {
			j++
		}
		if j-i >= 8 && t.blobHolds(s[i:j]) {
			b.WriteString(s[last:i])
			b.WriteString(Marker)
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func (t *Set) blobHolds(blob string) bool {
	blob = strings.TrimRight(blob, "=")
	blob = blob[:len(blob)/4*4] // whole quanta only: a cut-off echo still decodes
	if len(blob) < 8 {
		return false
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(blob); err == nil && t.containsRun(d) {
			return true
		}
	}
	return false
}

// Writer returns w with every write passed through String (stdout and
// stderr of the commands: errors, validate, status tables).
func Writer(w io.Writer) io.Writer { return writer{w} }

type writer struct{ w io.Writer }

func (r writer) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, String(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer under a Writer (a terminal's *os.File, whose
// width the tables read).
func Unwrap(w io.Writer) io.Writer {
	if r, ok := w.(writer); ok {
		return r.w
	}
	return w
}
