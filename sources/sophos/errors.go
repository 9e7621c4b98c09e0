package sophos

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrIsolationInProgress matches (errors.Is) the 409 the Endpoint API returns
// while an isolation change of the endpoint is still in progress.
var ErrIsolationInProgress = errors.New("isolation or removal from isolation in progress")

// APIError is a non-success HTTP answer of a Sophos Central API (everything
// but the token endpoint, see AuthError).
type APIError struct {
	Status        int    // HTTP status
	Code          string // the body's "code" or "error" (e.g. "Forbidden")
	Message       string // the body's "message", or the start of a non-JSON body
	CorrelationID string
	RequestID     string
	Method        string
	Path          string // URL path, without the query
	Attempts      int    // attempts made (more than 1 when the status was retried)
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sophos: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	switch {
	case e.Message != "" && e.Code != "" && !strings.EqualFold(e.Message, e.Code) && !strings.EqualFold(e.Code, http.StatusText(e.Status)):
		fmt.Fprintf(&b, ": %s (%s)", e.Message, e.Code)
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	case e.Code != "" && !strings.EqualFold(e.Code, http.StatusText(e.Status)):
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.CorrelationID != "" || e.RequestID != "" {
		b.WriteString(" [")
		if e.CorrelationID != "" {
			b.WriteString("correlationId " + e.CorrelationID)
		}
		if e.RequestID != "" {
			if e.CorrelationID != "" {
				b.WriteString(", ")
			}
			b.WriteString("requestId " + e.RequestID)
		}
		b.WriteString("]")
	}
	if h := e.hint(); h != "" {
		b.WriteString(" — " + h)
	}
	return b.String()
}

// hint says what to do about the status.
func (e *APIError) hint() string {
	switch e.Status {
	case http.StatusBadRequest:
		if strings.Contains(e.Path, "/siem/") {
			return "the SIEM API rejected the parameters (from_date must be within the last 24 h, limit at most 1000, cursor as returned)"
		}
		return "the API rejected the request parameters; check the values given"
	case http.StatusUnauthorized:
		return "the bearer token was rejected even after renewing it: check that sophos.auth_url and sophos.api_host belong to the same Sophos environment and that the credential is not deleted"
	case http.StatusForbidden:
		return "these credentials may not access this resource: check sophos.tenants, the API credential's role, and that partner assistance is enabled for the tenant"
	case http.StatusNotFound:
		return "not found: check the id (and that it belongs to this tenant)"
	case http.StatusConflict:
		return "an isolation change is still in progress: wait a minute and try again"
	case http.StatusTooManyRequests:
		return "Sophos Central is rate limiting these credentials: pull less often or with fewer tenants at once"
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "Sophos Central is failing or unavailable: it will be retried later; check https://status.sophos.com if it persists"
	}
	return ""
}

// Is makes errors.Is(err, ErrIsolationInProgress) true for a 409.
func (e *APIError) Is(target error) bool {
	return target == ErrIsolationInProgress && e.Status == http.StatusConflict
}

// Temporary reports whether a later retry may succeed (throttling, server
// faults, isolation in progress).
func (e *APIError) Temporary() bool {
	return retryableStatus(e.Status) || e.Status == http.StatusConflict
}

// Retryable tells the pipeline whether fetching again later may help: not
// for 400/401/403/404 (fix the request or the configuration).
func (e *APIError) Retryable() bool { return e.Temporary() }

// newAPIError decodes the standard error body leniently: every field is
// optional and an empty or non-JSON body is fine.
func newAPIError(status int, method, path string, body []byte, redact func(string) string) *APIError {
	e := &APIError{Status: status, Method: method, Path: path}
	var std struct {
		Error         any    `json:"error"`
		Code          any    `json:"code"`
		Message       any    `json:"message"`
		CorrelationID string `json:"correlationId"`
		RequestID     string `json:"requestId"`
	}
	if len(body) > 0 && json.Unmarshal(body, &std) == nil {
		e.Code = scalar(std.Code)
		if e.Code == "" {
			e.Code = scalar(std.Error)
		}
		e.Message = scalar(std.Message)
		e.CorrelationID, e.RequestID = std.CorrelationID, std.RequestID
	} else if s := strings.TrimSpace(string(body)); s != "" {
		e.Message = "unexpected response: " + snippet(redact(s), 200) // redact before cutting: never half a secret
	}
	e.Code, e.Message = redact(e.Code), redact(e.Message)
	return e
}

// scalar renders a JSON scalar leniently ("error" is a string in Sophos
// bodies, but nothing guarantees it).
func scalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64, bool:
		return fmt.Sprint(v)
	}
	b, _ := json.Marshal(v)
	return snippet(string(b), 200)
}

func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// AuthError is a failure of the token endpoint: the credentials, the
// auth_url, or the network path to it.
type AuthError struct {
	Status     int    // HTTP status; 0 when no HTTP answer
	Code       string // errorCode, e.g. oauth.invalid_client_secret
	Message    string // the endpoint's message
	TrackingID string
	Cause      string // what went wrong, in words
	Fix        string // what to check
	Err        error  // underlying error (network), if any
}

func (e *AuthError) Error() string {
	var b strings.Builder
	b.WriteString("auth failed: " + e.Cause)
	switch {
	case e.Status != 0 && e.Code != "":
		fmt.Fprintf(&b, " (%d %s)", e.Status, e.Code)
	case e.Status != 0:
		fmt.Fprintf(&b, " (%d)", e.Status)
	}
	if e.TrackingID != "" {
		fmt.Fprintf(&b, " [trackingId %s]", e.TrackingID)
	}
	if e.Fix != "" {
		b.WriteString(" — " + e.Fix)
	}
	return b.String()
}

func (e *AuthError) Unwrap() error { return e.Err }

// Retryable is true when the token endpoint was unreachable, failing or
// rate limiting; false when it rejected the credentials or is not a token
// endpoint.
func (e *AuthError) Retryable() bool {
	if e.Status == 0 {
		return e.Err != nil && !isCertError(e.Err)
	}
	return retryableStatus(e.Status)
}

// Refused reports an answer that rejects the credentials themselves (400,
// 401 or 403 from the token endpoint): a configuration error, not an outage.
func (e *AuthError) Refused() bool {
	return e.Status == http.StatusBadRequest || e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// authErrorFor maps a token endpoint answer to a cause and a fix.
func authErrorFor(status int, code, message, tracking string, body []byte, redact func(string) string) *AuthError {
	e := &AuthError{Status: status, Code: redact(code), Message: redact(message), TrackingID: tracking}
	lc := strings.ToLower(code)
	switch {
	case strings.Contains(lc, "secret"):
		e.Cause, e.Fix = "invalid client secret", "check sophos.client_secret"
	case strings.Contains(lc, "client_id") || strings.Contains(lc, "client_not_found") || lc == "oauth.invalid_client":
		e.Cause, e.Fix = "unknown client id", "check sophos.client_id"
	case status == http.StatusUnauthorized || status == http.StatusBadRequest || status == http.StatusForbidden:
		e.Cause, e.Fix = "credentials rejected", "check sophos.client_id and sophos.client_secret"
		if message != "" && code == "" {
			e.Cause += ": " + e.Message
		}
	case status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		e.Cause, e.Fix = "no token endpoint at this URL", "check sophos.auth_url (default "+DefaultAuthURL+")"
	case status >= 500 || status == http.StatusTooManyRequests:
		e.Cause, e.Fix = "the token endpoint is failing or rate limiting", "try again later; check https://status.sophos.com"
	default:
		e.Cause, e.Fix = "unexpected answer from the token endpoint", "check sophos.auth_url and any proxy between here and Sophos"

	}
	if e.Message != "" && !strings.EqualFold(e.Message, "Unauthorized") && !strings.Contains(e.Cause, e.Message) {
		e.Cause += ": " + e.Message
	}
	return e
}

// PageError is a SIEM page that could not be decoded. The page is not
// committed; fetching it again usually succeeds.
type PageError struct {
	Tenant     string // tenant id
	TenantName string
	Stream     string // "alerts" or "events"
	Reason     string
	Err        error
}

func (e *PageError) Error() string {
	who := e.Tenant
	if e.TenantName != "" {
		who = fmt.Sprintf("%q (%s)", e.TenantName, e.Tenant)
	}
	msg := fmt.Sprintf("sophos: malformed SIEM %s page for tenant %s: %s", e.Stream, who, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + " — the page is not committed and will be fetched again"
}

func (e *PageError) Unwrap() error { return e.Err }

// Retryable is true: a broken body is usually a transient fault.
func (e *PageError) Retryable() bool { return true }
