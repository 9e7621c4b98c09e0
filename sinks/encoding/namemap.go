package encoding

import (
	"bytes"
	"regexp"
)

// threatTypes are the types whose name the script splits with
// '(?P<detection_identity_name>.*?)'.+'(?P<filePath>.*?)' (name_mapping.py).
var threatTypes = [...]string{
	"Event::Endpoint::Threat::Detected",
	"Event::Endpoint::Threat::CleanedUp",
	"Event::Endpoint::Threat::HIPSDismissed",
	"Event::Endpoint::Threat::HIPSDetected",
	"Event::Endpoint::Threat::PuaDetected",
	"Event::Endpoint::Threat::PuaCleanupFailed",
	"Event::Endpoint::Threat::CleanupFailed",
	"Event::Endpoint::Threat::CommandAndControlDismissed",
	"Event::Endpoint::Threat::HIPSCleanupFailed",
}

const dlpType = "Event::Endpoint::DataLossPreventionUserAllowed"

// dlpRegexp is the script's DataLossPreventionUserAllowed pattern in RE2
// syntax. Go's regexp picks the same submatches as Python's backtracking
// re.search (leftmost-first). Two translations keep the meaning: Python's
// \d on str matches any Unicode decimal digit (\p{Nd}), and its final $
// also matches before a trailing newline (\n?\z; the group cannot take the
// newline since . does not match it).
var dlpRegexp = regexp.MustCompile("An \u2033(?P<name>.+)\u2033.+ Username: (?P<user>.+?) {2}" +
	"Rule names: \u2032(?P<rule>.+?)\u2032 {2}" +
	"User action: (?P<user_action>.+?) {2}Application Name: (?P<app_name>.+?) {2}" +
	"Data Control action: (?P<action>.+?) {2}" +
	`File type: (?P<file_type>.+?) {2}File size: (?P<file_size>\p{Nd}+?) {2}` +
	`Source path: (?P<file_path>.+)\n?\z`)

// splitThreat finds what the threat regex captures in s (decoded text):
// re.search takes the leftmost opening quote whose match succeeds, the
// shortest first group and the longest .+, and '.' never crosses a newline.
// Within one line with quotes at q1 < q2 < … < qk the match exists iff
// k ≥ 4 and q(k-1) ≥ q2+2 (at least one character for .+); the groups are
// then (q1, q2) and (q(k-1), qk). A later start quote in the same line can
// only succeed when that one does, so the first line that matches decides.
func splitThreat(s []byte) (d0, d1, f0, f1 int, ok bool) {
	start := 0
	for start <= len(s) {
		end := start
		for end < len(s) && s[end] != '\n' {
			end++
		}
		// Quotes of the line s[start:end]: first two and last two.
		q1, q2, qa, qb, k := -1, -1, -1, -1, 0
		for i := start; i < end; i++ {
			if s[i] != '\'' {
				continue
			}
			k++
			switch k {
			case 1:
				q1 = i
			case 2:
				q2 = i
			}
			qa, qb = qb, i
		}
		if k >= 4 && qa >= q2+2 {
			return q1 + 1, q2, qa + 1, qb, true
		}
		start = end + 1
	}
	return 0, 0, 0, 0, false
}

// updateFields is name_mapping.update_fields on the record dict: alerts get
// name = description; threat types get name split into
// detection_identity_name and filePath; the DLP type gets its nine fields.
// When the split fails the script warns and leaves the record as it is.
func (o *official) updateFields() {
	if i := o.findName(o.ents, "description"); i >= 0 {
		ka, kb := o.addText("name")
		o.ents = o.set(o.ents, &o.entsSeen, ka, kb, o.ents[i])
	}
	ti := o.findName(o.ents, "type")
	if ti < 0 {
		return // the script crashes (KeyError); keep the record as it is
	}
	t, ok := o.str(&o.ents[ti])
	if !ok {
		return // a non-string type is not in TYPE_HANDLERS (or crashes it)
	}
	// The type's text, decoded in the arena only when it has escapes.
	typ, mark := t.b, len(o.arena)
	if t.json && bytes.IndexByte(t.b, '\\') >= 0 {
		o.arena = appendStr(o.arena, t)
		typ = o.arena[mark:]
	}
	threat := false
	for _, tt := range threatTypes {
		if string(typ) == tt {
			threat = true
			break
		}
	}
	dlp := !threat && string(typ) == dlpType
	o.arena = o.arena[:mark]
	if !threat && !dlp {
		return
	}
	ni := o.findName(o.ents, "name")
	var name text
	if ni >= 0 {
		name, ok = o.str(&o.ents[ni])
	}
	if ni < 0 || !ok {
		// The script crashes on a missing or non-string name; we keep the
		// record and warn as for a name that does not match.
		o.warnSplit(ti)
		return
	}
	na := int32(len(o.arena))
	o.arena = appendStr(o.arena, name)
	nb := int32(len(o.arena))
	if threat {
		d0, d1, f0, f1, ok := splitThreat(o.arena[na:nb])
		if !ok {
			o.warnSplit(ti)
			return
		}
		d := entry{va: na + int32(d0), vb: na + int32(d1)}
		f := entry{va: na + int32(f0), vb: na + int32(f1)}
		o.ents[ni].n, o.ents[ni].va, o.ents[ni].vb = 0, d.va, d.vb
		ka, kb := o.addText("detection_identity_name")
		o.ents = o.set(o.ents, &o.entsSeen, ka, kb, d)
		ka, kb = o.addText("filePath")
		o.ents = o.set(o.ents, &o.entsSeen, ka, kb, f)
		return
	}
	m := dlpRegexp.FindSubmatchIndex(o.arena[na:nb])
	if m == nil {
		o.warnSplit(ti)
		return
	}
	for g, gname := range dlpRegexp.SubexpNames() {
		if g == 0 {
			continue
		}
		ka, kb := o.addText(gname)
		o.ents = o.set(o.ents, &o.entsSeen, ka, kb, entry{va: na + int32(m[2*g]), vb: na + int32(m[2*g+1])})
	}
}

// warnSplit reports the script's "Failed to split name field for event
// type %r" for the type at index ti.
func (o *official) warnSplit(ti int) {
	start := len(o.arena)
	o.arena = o.appendRepr(o.arena, &o.ents[ti])
	o.warn.nameSplitFailed(o.arena[start:])
	o.arena = o.arena[:start]
}
