package syslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/go-syslog/v3/rfc5424"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
)

// Framings.
const (
	framingNone  = "none"           // datagrams: one message each
	framingOctet = "octet-counting" // RFC 6587 §3.4.1 / RFC 5425: "LEN SP MSG"
	framingLF    = "lf"             // RFC 6587 §3.4.2: MSG LF
)

// errOversize marks a message over max_message_bytes that was not sent.
var errOversize = errors.New("oversize")

// rfc5424Time is the builder's own TIMESTAMP layout (microseconds at most).
const rfc5424Time = "2006-01-02T15:04:05.999999Z07:00"

// framer turns a record and its encoded MSG into one syslog frame. It keeps
// reused buffers, so it belongs to one goroutine (the sink's Write).
type framer struct {
	rfc3164  bool
	framing  string // resolved for the connected socket
	facility uint8
	sev      severityMap
	hostname string
	appName  string
	procID   string
	sdID     string
	max      int            // message cap in bytes; 0 = none
	deadOver bool           // oversize: dead_letter (else truncate)
	cefHead  bool           // RFC 3164 without TAG: "<PRI>Mmm dd hh:mm:ss HOST CEF:0|…" (and LEEF:…)
	keepTab  bool           // LEEF: tabs (its delimiter) are not escaped
	loc      *time.Location // RFC 3164 timestamps' zone
	now      func() time.Time

	ts      []byte
	payload []byte
	scratch []byte
	heads   map[headKey]headParts // the builder's header per (PRI, MSGID)
}

// headKey and headParts cache go-syslog's RFC 5424 header around its
// TIMESTAMP: the builder validates and writes PRI, VERSION, HOSTNAME,
// APP-NAME, PROCID and MSGID once per (PRI, MSGID) — at most 8 × 2 — and
// each record only splices its own timestamp in (the builder costs ~18
// allocations a call). compareBuilder in the tests checks the result is
// the builder's byte for byte.
type headKey struct {
	pri   uint8
	msgID string
}

type headParts struct{ before, after string }

// sentinelTime is a timestamp the builder writes back unchanged.
const sentinelTime = "2000-01-01T00:00:00Z"

// appendFrame appends r's frame to dst, msg being the encoder's output for
// r and fields where its key=value pairs lie (nil for other encoders).
// full > 0 reports a message cut to max: full is the length it had. An
// error concerns this record only and is permanent: retrying cannot change
// it.
func (f *framer) appendFrame(dst []byte, r *pipeline.Record, msg []byte, fields *encoding.Fields) (_ []byte, full int, err error) {
	pri := f.facility*8 + f.sev.of(r.Severity)
	ts := r.WhenTime()
	if ts.IsZero() || ts.Year() > 9999 {
		ts = f.now()
	}
	p := f.payload[:0]
	if f.rfc3164 {
		p = f.header3164(p, pri, ts)
	} else if p, err = f.header5424(p, pri, ts, r); err != nil {
		return dst, 0, err
	}
	msgStart := len(p)
	if !f.rfc3164 {
		msgStart++ // the SP before MSG
		p = append(p, ' ')
	}
	p = appendMsgTab(p, msg, f.rfc3164, f.framing == framingLF, f.keepTab)
	if f.max > 0 && len(p) > f.max {
		full = len(p)
		f.payload = p
		switch {
		case msgStart >= f.max:
			return dst, 0, fmt.Errorf("%w: the syslog header alone is %d bytes, over max_message_bytes (%d): raise max_message_bytes", errOversize, msgStart, f.max)
		case f.deadOver:
			return dst, 0, fmt.Errorf("%w: the %d-byte message is over max_message_bytes (%d) and was not sent (oversize: dead_letter); raise max_message_bytes or send it elsewhere", errOversize, full, f.max)
		case fields != nil:
			if p = f.cutFields(p[:msgStart], msg, fields); p == nil {
				return dst, 0, fmt.Errorf("%w: the header and id of the %d-byte message do not fit max_message_bytes (%d), not sent: raise max_message_bytes", errOversize, full, f.max)
			}
		default:
			cut := f.max
			for cut > msgStart && !utf8.RuneStart(p[cut]) {
				cut-- // never split a character
			}
			p = p[:cut]
		}
	}
	switch {
	case len(p) == msgStart && f.rfc3164:
		p = append(p, '-') // RFC 3164 wants at least one visible character
	case len(p) == msgStart:
		p = p[:msgStart-1] // RFC 5424: no MSG, no SP
	}
	f.payload = p
	switch f.framing {
	case framingOctet:
		dst = strconv.AppendInt(dst, int64(len(p)), 10)
		dst = append(dst, ' ')
		dst = append(dst, p...)
	case framingLF:
		dst = append(dst, p...)
		dst = append(dst, '\n')
	default:
		dst = append(dst, p...)
	}
	return dst, full, nil
}

// cutFields returns head followed by as many of msg's key=value pairs as
// fit max — whole pairs from the start, the id pair always among them — or
// nil if not even the encoder's header and the id pair fit.
func (f *framer) cutFields(head, msg []byte, fl *encoding.Fields) []byte {
	id := -1
	for i, p := range fl.Pairs {
		if p.ID {
			id = i
			break
		}
	}
	ctl, lf := f.rfc3164, f.framing == framingLF
	for k := len(fl.Pairs) - 1; k >= 0; k-- { // k pairs kept
		end, sep := fl.Head, msg[fl.Head:fl.Head]
		if k > 0 {
			end, sep = fl.Pairs[k-1].End, []byte(" ")
		} else if len(fl.Pairs) > 0 {
			sep = msg[fl.Head:fl.Pairs[0].Start]
		}
		n := len(head) + end // escaping only lengthens, so this is a lower bound
		if id >= k {
			n += len(sep) + fl.Pairs[id].End - fl.Pairs[id].Start
		}
		if n > f.max {
			continue
		}
		q := append(f.scratch[:0], head...)
		q = appendMsgTab(q, msg[:end], ctl, lf, f.keepTab)
		if id >= k {
			q = appendMsgTab(q, sep, ctl, lf, f.keepTab)
			q = appendMsgTab(q, msg[fl.Pairs[id].Start:fl.Pairs[id].End], ctl, lf, f.keepTab)
		}
		f.scratch = q
		if len(q) <= f.max {
			f.payload = append(f.payload[:0], q...)
			return f.payload
		}
	}
	return nil
}

// header5424 appends "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD",
// the fields up to MSGID built by go-syslog's rfc5424 builder.
//
// The structured data is appended here instead of through SetParameter,
// because in go-syslog v3.0.0 (1) SetParameter keeps its state in package
// variables, so two sinks building messages at once race; (2) String()
// escapes PARAM-VALUEs with common.EscapeBytes, which keeps only the first
// byte of every multi-byte character ("é" becomes "Ã"); (3) that escaping
// costs ~165 allocations for two UUIDs. For ASCII values the bytes are
// identical to the builder's (FuzzFrames checks it).
func (f *framer) header5424(dst []byte, pri uint8, ts time.Time, r *pipeline.Record) ([]byte, error) {
	f.ts = ts.UTC().AppendFormat(f.ts[:0], rfc5424Time)
	key := headKey{pri, string(r.Stream)}
	hp, ok := f.heads[key]
	if !ok {
		var err error
		if hp, err = f.buildHead(key); err != nil {
			return dst, err
		}
		if f.heads == nil {
			f.heads = map[headKey]headParts{}
		}
		f.heads[key] = hp
	}
	dst = append(dst, hp.before...)
	dst = append(dst, f.ts...)
	dst = append(dst, hp.after...)
	return f.appendSD(dst, r), nil
}

// buildHead has go-syslog's builder write the header with a sentinel
// timestamp and splits it there.
func (f *framer) buildHead(k headKey) (headParts, error) {
	var m rfc5424.SyslogMessage
	m.SetPriority(k.pri).SetVersion(1).SetTimestamp(sentinelTime).
		SetHostname(f.hostname).SetAppname(f.appName).SetProcID(f.procID)
	if k.msgID != "" {
		m.SetMsgID(k.msgID) // the builder leaves MSGID nil ("-") if id is not 1-32 PRINTUSASCII
	}
	if m.Timestamp == nil || m.Hostname == nil || m.Appname == nil {
		return headParts{}, fmt.Errorf("go-syslog's builder refused the header (hostname %q, app_name %q)", f.hostname, f.appName)
	}
	s, err := m.String()
	if err != nil {
		return headParts{}, fmt.Errorf("build RFC 5424 header: %w", err)
	}
	i := strings.Index(s, sentinelTime)
	if i < 0 {
		return headParts{}, fmt.Errorf("build RFC 5424 header: unexpected builder output %q", s)
	}
	// s ends with the nil STRUCTURED-DATA "-" (no MSG was set): cut it.
	return headParts{before: s[:i], after: s[i+len(sentinelTime) : len(s)-1]}, nil
}

// appendSD appends [sdID id="…" tenant="…"], the parameters in the order
// the builder sorts them, or "-" when the record has neither.
func (f *framer) appendSD(dst []byte, r *pipeline.Record) []byte {
	if r.ID == "" && r.Tenant == "" {
		return append(dst, '-')
	}
	dst = append(dst, '[')
	dst = append(dst, f.sdID...)
	lf := f.framing == framingLF
	if r.ID != "" {
		dst = appendParam(dst, "id", r.ID, lf)
	}
	if r.Tenant != "" {
		dst = appendParam(dst, "tenant", r.Tenant, lf)
	}
	return append(dst, ']')
}

// appendParam appends ` name="value"` escaping '"', '\' and ']' (RFC 5424
// §6.3.3), replacing invalid UTF-8 (PARAM-VALUE is UTF-8) with U+FFFD and,
// when lf, escaping LF as appendMsg does.
func appendParam(dst []byte, name, value string, lf bool) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, '=', '"')
	for i := 0; i < len(value); {
		c := value[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == ']':
				dst = append(dst, '\\', c)
			case c == '\n' && lf:
				dst = append(dst, "#012"...)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(value[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, value[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// header3164 appends "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: ", or for CEF
// "<PRI>Mmm dd hh:mm:ss HOSTNAME " (the CEF guide's convention, which
// ArcSight and QRadar parse). RFC 3164 has neither zone nor year: the time
// is written in f.loc (receivers read it as their local time by default)
// and receivers supply the year themselves, from their clock.
func (f *framer) header3164(dst []byte, pri uint8, ts time.Time) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendUint(dst, uint64(pri), 10)
	dst = append(dst, '>')
	ts = ts.In(f.loc)
	if now := f.now().In(f.loc); ts.Year() != now.Year() {
		// Receivers give a yearless stamp their own current year: a record
		// from last year (sent just after New Year) would land a year in
		// the future. Stamp it with the sending time instead; the record's
		// own time stays in the MSG (CEF rt=, the JSON formats' fields).
		ts = now
	}
	dst = ts.AppendFormat(dst, time.Stamp)
	dst = append(dst, ' ')
	dst = append(dst, f.hostname...)
	dst = append(dst, ' ')
	if f.cefHead {
		return dst
	}
	dst = append(dst, f.appName...)
	dst = append(dst, '[')
	dst = append(dst, f.procID...)
	return append(dst, ']', ':', ' ')
}

// appendMsg appends msg as valid UTF-8 (invalid bytes become U+FFFD).
// ctl escapes every control character, as RFC 3164 requires printable
// characters; lf escapes only LF, which would end an lf-framed message
// early. Escapes are rsyslog's own "#ooo" (octal), what rsyslog stores for
// control characters it receives anyway.
func appendMsg(dst, msg []byte, ctl, lf bool) []byte { return appendMsgTab(dst, msg, ctl, lf, false) }

// appendMsgTab is appendMsg that, with keepTab, leaves tabs alone under
// ctl: LEEF's attribute delimiter is a tab, which QRadar reads raw.
func appendMsgTab(dst, msg []byte, ctl, lf, keepTab bool) []byte {
	if utf8.Valid(msg) && !needsEscape(msg, ctl, lf, keepTab) {
		return append(dst, msg...)
	}
	for i := 0; i < len(msg); {
		c := msg[i]
		if c < utf8.RuneSelf {
			if (ctl && (c < 0x20 || c == 0x7f) && !(keepTab && c == '\t')) || (lf && c == '\n') {
				dst = append(dst, '#', '0'+(c>>6), '0'+((c>>3)&7), '0'+(c&7))
			} else {
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(msg[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, msg[i:i+size]...)
		}
		i += size
	}
	return dst
}

func needsEscape(msg []byte, ctl, lf, keepTab bool) bool {
	if ctl {
		for _, c := range msg {
			if (c < 0x20 || c == 0x7f) && !(keepTab && c == '\t') {
				return true
			}
		}
		return false
	}
	return lf && bytes.IndexByte(msg, '\n') >= 0
}
