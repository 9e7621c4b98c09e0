package pipeline

import (
	"strconv"
	"strings"

	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// The XDR streams (detections, cases) fill the same typed fields as the SIEM
// streams, read from their own keys; Raw stays the item whole.
//
//	field     detection                          case
//	ID        id                                 id
//	Type      type                               type
//	Severity  severity 0–10 as a word (below)    severity, lower case; absent stays ""
//	Name      detectionRule                      name
//	When      sensorGeneratedAt (else time)      updatedAt (else createdAt)
//	CreatedAt time                               createdAt
//	Host      device.entity                      the HOST of a "(HOST) | RULE" name
//	User      user / user.name / rawData.username  assignee.name
//	Endpoint  device.id, device.type             —

// Severity words shared by every stream, lowest first. The SIEM streams send
// low, medium and high; detections map their 0–10 score onto all five and
// cases send the word.
const (
	SeverityInformational = "informational"
	SeverityLow           = "low"
	SeverityMedium        = "medium"
	SeverityHigh          = "high"
	SeverityCritical      = "critical"
)

// DetectionSeverity maps a detection's 0–10 score to a word, with the
// API Academy's buckets: 0 informational, 1–3 low, 4–6 medium, 7–8 high,
// 9–10 critical. Outside 0–10 it is "" (unknown, not guessed).
func DetectionSeverity(score float64) string {
	switch {
	case score < 0 || score > 10 || score != score:
		return ""
	case score < 1:
		return SeverityInformational
	case score < 4:
		return SeverityLow
	case score < 7:
		return SeverityMedium
	case score < 9:
		return SeverityHigh
	}
	return SeverityCritical
}

// CaseSeverity normalizes a case's severity word (any case, "info" for
// informational). An empty or unknown word is "": a case raised straight from
// a detection often has no severity, and absent is not informational.
func CaseSeverity(word string) string {
	switch w := strings.ToLower(strings.TrimSpace(word)); w {
	case SeverityInformational, "info":
		return SeverityInformational
	case SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical:
		return w
	}
	return ""
}

// normalizeXDR fills the typed fields of a detection or case from r.Raw.
func (r *Record) normalizeXDR() {
	raw := r.Raw
	str := func(path ...string) string { return rawjson.StringView(rawjson.Get(raw, path...)) }
	switch r.Stream {
	case Detections:
		r.Severity = ""
		if v := rawjson.Get(raw, "severity"); len(v) > 0 {
			if v[0] == '"' {
				s := rawjson.String(v)
				if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
					r.Severity = DetectionSeverity(f)
				} else {
					r.Severity = CaseSeverity(s)
				}
			} else if f, err := strconv.ParseFloat(string(v), 64); err == nil {
				r.Severity = DetectionSeverity(f)
			}
		}
		r.Name = str("detectionRule")
		r.CreatedAt = str("time")
		r.When = str("sensorGeneratedAt")
		if r.When == "" {
			r.When = r.CreatedAt
		}
		r.Host = str("device", "entity")
		r.EndpointID = str("device", "id")
		r.EndpointType = str("device", "type")
		r.User = str("user")
		if r.User == "" {
			r.User = str("user", "name")
		}
		if r.User == "" {
			r.User = str("rawData", "username")
		}
	case Cases:
		r.Severity = CaseSeverity(str("severity"))
		r.Name = str("name")
		r.CreatedAt = str("createdAt")
		r.When = str("updatedAt")
		if r.When == "" {
			r.When = r.CreatedAt
		}
		r.Host = CaseHost(r.Name)
		r.User = str("assignee", "name")
	}
}

// CaseHost is the HOST of a detection-derived case name "(HOST) | RULE", or "".
func CaseHost(name string) string {
	if !strings.HasPrefix(name, "(") {
		return ""
	}
	end := strings.Index(name, ")")
	if end <= 1 {
		return ""
	}
	rest := strings.TrimSpace(name[end+1:])
	if !strings.HasPrefix(rest, "|") {
		return ""
	}
	return strings.TrimSpace(name[1:end])
}
