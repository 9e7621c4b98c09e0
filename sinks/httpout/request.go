package httpout

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/sophos-connect/sophos-connect/config"
)

// Compress returns body as it goes on the wire: gzip'd (at the default
// level) into zbuf when gz, as is otherwise. Compress once a request and
// reuse the result for its retries.
func Compress(zbuf *bytes.Buffer, body []byte, gz bool) []byte {
	if !gz {
		return body
	}
	return CompressLevel(zbuf, body, DefaultCompressionLevel)
}

// CompressLevel returns body gzip'd at level (1..9) into zbuf, or body as it
// is when level is 0 (compression: none).
func CompressLevel(zbuf *bytes.Buffer, body []byte, level int) []byte {
	if level == 0 {
		return body
	}
	Gzip(zbuf, body, level)
	return zbuf.Bytes()
}

// NewRequest is a request carrying body (already compressed when gz) with
// its Content-Type, Content-Encoding: gzip when gz, and the configured
// headers (which may hold credentials: see Secrets.AddHeaders).
func NewRequest(ctx context.Context, method, url string, body []byte, ctype string, gz bool, headers map[string]config.Secret) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ctype)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range headers {
		req.Header.Set(k, v.Value())
	}
	return req, nil
}

// SetAuth adds the Authorization header of auth type basic (user and
// password) or bearer (token); other types add nothing.
func SetAuth(req *http.Request, typ, user, password, token string) {
	switch typ {
	case "basic":
		req.SetBasicAuth(user, password)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// Cause is a transport error without *url.Error's wrapping, which repeats
// the whole URL (its query may hold a key): the sink names the URL itself,
// redacted.
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
