package sophos

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/internal/lightevents"
	"github.com/sophos-connect/sophos-connect/pipeline"
)

// LightExcludeTypes are the official script's noisy event types (its -l /
// --light option), in its order: internal/lightevents, which the filter
// stage reads too. They apply to events only.
var LightExcludeTypes = lightevents.Types

// Window is how far back the SIEM API serves; from_date older than this is
// a 400 and a cursor older than this silently restarts at the window.
const Window = 24 * time.Hour

// windowMargin keeps from_date inside the window despite clock skew and
// request latency (now − 23h59m, as the Elastic integration does).
const windowMargin = time.Minute

// SIEMOptions tune a SIEM request.
type SIEMOptions struct {
	Limit        int      // items per page, 1..1000; default 1000
	ExcludeTypes []string // events only: types the server leaves out
	Light        bool     // events only: also exclude LightExcludeTypes
}

// excludeTypes is the exclude_types value for the stream ("" for alerts).
func (o SIEMOptions) excludeTypes(stream pipeline.Stream) string {
	if stream != pipeline.Events {
		return ""
	}
	var list []string
	seen := map[string]bool{}
	add := func(ts []string) {
		for _, t := range ts {
			if t = strings.TrimSpace(t); t != "" && !seen[t] {
				seen[t] = true
				list = append(list, t)
			}
		}
	}
	if o.Light {
		add(LightExcludeTypes)
	}
	add(o.ExcludeTypes)
	return strings.Join(list, ",")
}

func (o SIEMOptions) limit() int {
	if o.Limit <= 0 || o.Limit > maxLimit {
		return DefaultLimit
	}
	return o.Limit
}

// ClampSince puts since into the API window [now−23h59m, now].
func ClampSince(since, now time.Time) time.Time {
	if lo := now.Add(-Window + windowMargin); since.Before(lo) {
		return lo
	}
	if since.After(now) {
		return now
	}
	return since
}

// SIEMPage fetches one page of the tenant's stream at pos: after pos.Cursor
// when set, else from pos.Since clamped into the 24 h window. A 400 on a
// from_date (clock skew, a long retry) is retried once with from_date
// clamped to now − 23h59m, now being the later of our clock and the
// server's Date.
// A malformed page is a *PageError (not committed; fetch it again).
func (c *Client) SIEMPage(ctx context.Context, t Tenant, stream pipeline.Stream, pos pipeline.Position, opt SIEMOptions) (*pipeline.Page, error) {
	if stream != pipeline.Alerts && stream != pipeline.Events {
		return nil, errors.New("sophos: unknown SIEM stream " + strconv.Quote(string(stream)))
	}
	since := ClampSince(pos.Since, c.APINow())
	cl := c.siemCall(t, stream, pos.Cursor, since, opt)
	res, err := c.do(ctx, cl)
	var ae *APIError
	if pos.Cursor == "" && errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		now := c.APINow() // the API's clock: this answer's Date just set it
		retry := now.Add(-Window + windowMargin)
		if since.After(retry) { // clamp only: never ask for more than pos.Since did
			retry = since
		}
		c.log.Warn("sophos: from_date rejected (400), retrying once at now−23h59m", "tenant", t.ID,
			"stream", stream.Plural(), "from_date", since.Unix(), "retry_from_date", retry.Unix())
		res, err = c.do(ctx, c.siemCall(t, stream, "", retry, opt))
	}
	if err != nil {
		return nil, err
	}
	part := pipeline.Partition{Tenant: t.ID, TenantName: t.Label(), Stream: stream}
	if t.Label() == t.ID {
		part.TenantName = ""
	}
	dp, err := decodePage(res.body, stream, t.ID, min(opt.limit(), len(res.body)/200+1))
	if err != nil {
		return nil, &PageError{Tenant: t.ID, TenantName: part.TenantName, Stream: stream.Plural(), Reason: err.Error()}
	}
	if n := len(dp.Records); n > 0 {
		if t := dp.Records[n-1].CreatedTime(); !t.IsZero() {
			c.clock.observeServed(t)
		}
	}
	apiTime := res.apiTime
	if !res.hasAPITime {
		apiTime = c.APINow()
	}
	// The server serves only items older than from_date_offset_minutes:
	// the cursor covers what was created before that.
	servedUntil := apiTime.Add(-time.Duration(c.cfg.FromDateOffsetMinutes) * time.Minute)
	return &pipeline.Page{Partition: part, Records: dp.Records, Rejected: dp.Rejected, Cursor: dp.Cursor, HasMore: dp.HasMore, Bytes: len(res.body),
		APITime: apiTime, ServedUntil: servedUntil}, nil
}

// siemCall builds the request. Parameters go in the official script's
// order (limit, cursor | from_date, exclude_types, from_date_offset_minutes),
// URL-encoded.
func (c *Client) siemCall(t Tenant, stream pipeline.Stream, cursor string, since time.Time, opt SIEMOptions) *call {
	var q strings.Builder
	q.WriteString("limit=" + strconv.Itoa(opt.limit()))
	if cursor != "" {
		q.WriteString("&cursor=" + url.QueryEscape(cursor))
	} else {
		q.WriteString("&from_date=" + strconv.FormatInt(since.Unix(), 10))
	}
	if ex := opt.excludeTypes(stream); ex != "" {
		q.WriteString("&exclude_types=" + url.QueryEscape(ex))
	}
	q.WriteString("&from_date_offset_minutes=" + strconv.Itoa(c.cfg.FromDateOffsetMinutes))
	return &call{method: http.MethodGet, base: t.APIHost, path: "/siem/v1/" + stream.Plural(), query: q.String(), tenant: t.ID, idempotent: true}
}

// CursorTime reads the watermark of a SIEM cursor (base64 of
// "V2_CURSOR|<time>[|…]"). Cursors are opaque: ok is false when it does not
// have this shape. Sophos silently restarts a cursor older than 24 h at
// now−24h; the watermark alone cannot tell a loss from a quiet tenant, so the
// gap is judged by when the checkpoint was saved (the pipeline's job).
func CursorTime(cursor string) (time.Time, bool) {
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(cursor); err == nil {
			raw = b
			break
		}
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) < 2 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, parts[1])
	return t, err == nil
}
