package httpout

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/sophos-connect/sophos-connect/config"
)

// Secrets are the credentials a sink's requests carry, in every form a
// receiver may echo them in an error answer: as sent, URL-encoded and
// JSON-escaped. Redact replaces them before the answer goes into an error
// (and so into logs and the dead-letter file).
type Secrets []string

// Add adds values and their forms. Values under 4 bytes are not worth
// hiding: they would blank out ordinary text.
func (s *Secrets) Add(values ...string) {
	for _, v := range values {
		if len(v) < 4 {
			continue
		}
		j, _ := json.Marshal(v)
		*s = append(*s, v, url.QueryEscape(v), url.PathEscape(v), string(j[1:len(j)-1]))
	}
	// longest first, so a secret that holds a shorter one goes whole
	slices.SortFunc(*s, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	*s = slices.Compact(*s)
}

// AddHeaders adds the values of the configured headers (an API key, …).
func (s *Secrets) AddHeaders(headers map[string]config.Secret) {
	for _, v := range headers {
		s.Add(v.Value())
	}
}

// AddBasic adds the password and the Authorization value basic auth sends.
func (s *Secrets) AddBasic(user, password string) {
	s.Add(password, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
}

// AddQuery adds the values of rawURL's query string (a key in the URL).
func (s *Secrets) AddQuery(rawURL string) {
	if u, err := url.Parse(rawURL); err == nil {
		for _, vs := range u.Query() {
			s.Add(vs...)
		}
	}
}

// With is s and the forms of token (an OAuth2 access token in use).
func (s Secrets) With(token string) Secrets {
	if len(token) < 4 {
		return s
	}
	out := slices.Clone(s)
	out.Add(token)
	return out
}

// Redact replaces every secret in b with [redacted].
func (s Secrets) Redact(b []byte) []byte {
	for _, f := range s {
		b = bytes.ReplaceAll(b, []byte(f), []byte("[redacted]"))
	}
	return b
}

// RedactString is Redact for a string.
func (s Secrets) RedactString(msg string) string {
	for _, f := range s {
		msg = strings.ReplaceAll(msg, f, "[redacted]")
	}
	return msg
}
