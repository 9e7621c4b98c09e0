package encoding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/pipeline/rawjson"
)

// Detections and cases have no official script format and no Elastic
// integration pipeline: every encoder writes them in layouts of this
// collector's own, built from the same facts — the rule, its description,
// the MITRE ATT&CK ids and names, host, user, severity:
//
//	ecs, integration  an ECS 8.11 alert document (event.kind alert, rule.*,
//	                  threat.tactic.* / threat.technique.* from the MITRE
//	                  list, host.*, user.*), the item under sophos_central.<stream>
//	cef               CEF:0|sophos|sophos central|1.0|<type>|<rule or case name>|<0–10>|…
//	                  with cs1 rule, cs2 rule description, cs3 tactic ids,
//	                  cs4 technique ids (cases: status, and the MITRE ids of
//	                  their attached detections)
//	keyvalue          rt followed by key="value"; pairs of the same facts
//	txt               the seed's bracketed layout, one line per record
//
// raw and python-json are the item as for every stream.

// xdrFacts is what the encoders read from a detection or case.
type xdrFacts struct {
	stream                  pipeline.Stream
	rule, ruleDesc, message string
	category                string // attackType (detections)
	score                   int    // 0–10 (detections), or from the case's word; -1 unknown
	tactics, tacticNames    []string
	techniques, techNames   []string
	status                  string // cases
	escalated               bool
	assignee, managedBy     string
}

// mitreOf collects the tactic and technique ids and names of a mitreAttacks
// list (each {"tactic": {"id", "name", "techniques": [{"id", "name"}]}}),
// each id once, in order.
func (f *xdrFacts) mitreOf(list []byte) {
	_ = rawjson.EachElement(list, func(v []byte) bool {
		tac := rawjson.Get(v, "tactic")
		if id := rawjson.String(rawjson.Get(tac, "id")); id != "" && !containsStr(f.tactics, id) {
			f.tactics = append(f.tactics, id)
			f.tacticNames = append(f.tacticNames, rawjson.String(rawjson.Get(tac, "name")))
		}
		if techs := rawjson.Get(tac, "techniques"); len(techs) > 0 && techs[0] == '[' {
			_ = rawjson.EachElement(techs, func(t []byte) bool {
				if id := rawjson.String(rawjson.Get(t, "id")); id != "" && !containsStr(f.techniques, id) {
					f.techniques = append(f.techniques, id)
					f.techNames = append(f.techNames, rawjson.String(rawjson.Get(t, "name")))
				}
				return true
			})
		}
		return true
	})
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// caseScore maps a case's severity word to CEF's 0–10 (-1: absent).
func caseScore(sev string) int {
	switch sev {
	case pipeline.SeverityInformational:
		return 0
	case pipeline.SeverityLow:
		return 3
	case pipeline.SeverityMedium:
		return 5
	case pipeline.SeverityHigh:
		return 8
	case pipeline.SeverityCritical:
		return 10
	}
	return -1
}

func factsOf(r *pipeline.Record) (xdrFacts, error) {
	f := xdrFacts{stream: r.Stream, score: -1}
	if !r.RawChecked && !rawjson.Valid(r.Raw) {
		return f, fmt.Errorf("record %q: the item is not valid JSON", r.ID)
	}
	raw := r.Raw
	str := func(path ...string) string { return rawjson.String(rawjson.Get(raw, path...)) }
	switch r.Stream {
	case pipeline.Detections:
		f.rule, f.ruleDesc = str("detectionRule"), str("ruleDescription")
		f.message = str("detectionDescription")
		f.category = str("attackType")
		if v := rawjson.Get(raw, "severity"); len(v) > 0 && v[0] != '"' {
			if n, err := strconv.ParseFloat(string(v), 64); err == nil && n >= 0 && n <= 10 {
				f.score = int(n)
			}
		}
		if f.score < 0 {
			f.score = caseScore(r.Severity)
		}
		if m := rawjson.Get(raw, "mitreAttacks"); len(m) > 0 && m[0] == '[' {
			f.mitreOf(m)
		}
	case pipeline.Cases:
		f.rule = r.Name
		if _, after, ok := strings.Cut(r.Name, "|"); ok && r.Host != "" {
			f.rule = strings.TrimSpace(after) // "(HOST) | RULE"
		}
		f.message = str("overview")
		f.status = str("status")
		f.score = caseScore(r.Severity)
		f.escalated = string(rawjson.Get(raw, "escalated")) == "true"
		f.assignee, f.managedBy = str("assignee", "name"), str("managedBy")
		if dets := rawjson.Get(raw, "detections"); len(dets) > 0 && dets[0] == '[' {
			_ = rawjson.EachElement(dets, func(d []byte) bool {
				if f.ruleDesc == "" {
					f.ruleDesc = rawjson.String(rawjson.Get(d, "ruleDescription"))
				}
				if m := rawjson.Get(d, "mitreAttacks"); len(m) > 0 && m[0] == '[' {
					f.mitreOf(m)
				}
				return true
			})
		}
	}
	return f, nil
}

// appendXDRECS writes the ECS document of a detection or case.
func appendXDRECS(dst []byte, r *pipeline.Record, opts Options, dataStream string) ([]byte, error) {
	f, err := factsOf(r)
	if err != nil {
		return dst, fmt.Errorf("ecs: %w", err)
	}
	ts := r.WhenTime()
	if ts.IsZero() {
		ts = time.Now()
	}
	event := map[string]any{
		"kind": "alert", "id": r.ID, "module": "sophos_central", "dataset": "sophos_central." + string(r.Stream),
	}
	if r.Stream == pipeline.Detections {
		event["category"], event["type"] = []string{"intrusion_detection"}, []string{"indicator"}
	} else {
		event["category"], event["type"] = []string{"threat"}, []string{"info"}
	}
	if f.score >= 0 {
		event["severity"] = f.score
	}
	if t := r.CreatedTime(); !t.IsZero() {
		event["created"] = t.UTC().Format(time.RFC3339Nano)
	}
	if f.ruleDesc != "" {
		event["reason"] = f.ruleDesc
	}
	if opts.PreserveOriginalEvent {
		var b bytes.Buffer
		_ = json.Compact(&b, r.Raw)
		event["original"] = b.String()
	}
	doc := map[string]any{
		"@timestamp": ts.UTC().Format(time.RFC3339Nano),
		"ecs":        map[string]any{"version": ECSVersion},
		"event":      event,
		"observer":   map[string]any{"vendor": "Sophos", "product": "Sophos Central"},
	}
	if dataStream != "" {
		doc["data_stream"] = map[string]any{"type": "logs", "dataset": "sophos_central." + string(r.Stream), "namespace": dataStream}
	}
	if f.message != "" {
		doc["message"] = f.message
	}
	rule := map[string]any{}
	if f.rule != "" {
		rule["name"] = f.rule
	}
	if f.ruleDesc != "" {
		rule["description"] = f.ruleDesc
	}
	if f.category != "" {
		rule["category"] = f.category
	}
	if len(rule) > 0 {
		doc["rule"] = rule
	}
	if len(f.tactics) > 0 || len(f.techniques) > 0 {
		threat := map[string]any{"framework": "MITRE ATT&CK"}
		if len(f.tactics) > 0 {
			threat["tactic"] = map[string]any{"id": f.tactics, "name": f.tacticNames}
		}
		if len(f.techniques) > 0 {
			threat["technique"] = map[string]any{"id": f.techniques, "name": f.techNames}
		}
		doc["threat"] = threat
	}
	host := map[string]any{}
	if r.Host != "" {
		host["name"], host["hostname"] = r.Host, r.Host
	}
	if r.EndpointID != "" {
		host["id"] = r.EndpointID
	}
	if len(host) > 0 {
		doc["host"] = host
	}
	if r.User != "" && r.Stream == pipeline.Detections {
		u := map[string]any{"name": r.User}
		if dom, name, ok := strings.Cut(r.User, `\`); ok && dom != "" && name != "" {
			u["name"], u["domain"] = name, dom
		}
		doc["user"] = u
	}
	var item any
	if err := json.Unmarshal(r.Raw, &item); err != nil {
		return dst, fmt.Errorf("ecs: record %q: %w", r.ID, err)
	}
	sc := map[string]any{string(r.Stream): item}
	if r.Tenant != "" {
		sc["tenant_id"] = r.Tenant
	}
	doc["sophos_central"] = sc
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return dst, fmt.Errorf("ecs: record %q: %w", r.ID, err)
	}
	return append(dst, bytes.TrimRight(b.Bytes(), "\n")...), nil
}

// appendXDRCEF writes the CEF line of a detection or case.
func appendXDRCEF(dst []byte, r *pipeline.Record, strict bool) ([]byte, error) {
	f, err := factsOf(r)
	if err != nil {
		return dst, fmt.Errorf("cef: %w", err)
	}
	_ = strict // newlines are always escaped in these lines: there is no script output to match
	dst = append(dst, "CEF:0|sophos|sophos central|1.0|"...)
	typ := r.Type
	if typ == "" {
		typ = string(r.Stream)
	}
	dst = xdrCEFEscape(dst, typ, '|')
	dst = append(dst, '|')
	name := f.rule
	if name == "" {
		name = r.Name
	}
	if name == "" {
		name = "NA"
	}
	dst = xdrCEFEscape(dst, name, '|')
	dst = append(dst, '|')
	if f.score >= 0 {
		dst = strconv.AppendInt(dst, int64(f.score), 10)
	} else {
		dst = append(dst, "Unknown"...)
	}
	dst = append(dst, '|')
	first := true
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = xdrCEFEscape(dst, v, '=')
	}
	if t := r.WhenTime(); !t.IsZero() {
		kv("rt", strconv.FormatInt(t.UnixMilli(), 10))
	}
	kv("externalId", r.ID)
	kv("datastream", string(r.Stream))
	kv("cat", f.category)
	kv("dhost", r.Host)
	kv("suser", r.User)
	kv("msg", f.message)
	if r.Stream == pipeline.Cases {
		kv("cs1Label", "status")
		kv("cs1", f.status)
	} else {
		kv("cs1Label", "rule")
		kv("cs1", f.rule)
	}
	if f.ruleDesc != "" {
		kv("cs2Label", "ruleDescription")
		kv("cs2", f.ruleDesc)
	}
	if len(f.tactics) > 0 {
		kv("cs3Label", "mitreTactics")
		kv("cs3", strings.Join(f.tactics, ","))
	}
	if len(f.techniques) > 0 {
		kv("cs4Label", "mitreTechniques")
		kv("cs4", strings.Join(f.techniques, ","))
	}
	kv("cs5Label", "tenantId")
	kv("cs5", r.Tenant)
	return dst, nil
}

// appendXDRKeyValue writes rt followed by key="value"; pairs.
func appendXDRKeyValue(dst []byte, r *pipeline.Record, strict bool) ([]byte, error) {
	f, err := factsOf(r)
	if err != nil {
		return dst, fmt.Errorf("keyvalue: %w", err)
	}
	start := len(dst)
	if t := r.WhenTime(); !t.IsZero() {
		dst = append(dst, t.UTC().Format("2006-01-02T15:04:05.000Z")...)
	}
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if len(dst) > start {
			dst = append(dst, ' ')
		}
		dst = append(dst, k...)
		dst = append(dst, '=', '"')
		if strict {
			dst = appendNoNewline(dst, []byte(v))
		} else {
			dst = append(dst, v...)
		}
		dst = append(dst, '"', ';')
	}
	kv("id", r.ID)
	kv("datastream", string(r.Stream))
	kv("type", r.Type)
	kv("severity", r.Severity)
	if f.score >= 0 {
		kv("severity_score", strconv.Itoa(f.score))
	}
	kv("name", r.Name)
	kv("rule", f.rule)
	kv("rule_description", f.ruleDesc)
	kv("category", f.category)
	kv("mitre_tactics", strings.Join(f.tactics, ","))
	kv("mitre_techniques", strings.Join(f.techniques, ","))
	kv("status", f.status)
	if r.Stream == pipeline.Cases {
		kv("escalated", strconv.FormatBool(f.escalated))
	}
	kv("assignee", f.assignee)
	kv("managed_by", f.managedBy)
	kv("dhost", r.Host)
	kv("suser", r.User)
	kv("created", r.CreatedAt)
	kv("tenant_id", r.Tenant)
	return dst, nil
}

// appendXDRTxt writes the seed's bracketed layout for the new streams:
//
//	detections: [Timestamp: <sensorGeneratedAt>] [DetectionID: <id>] [Severity: <0–10>] [Rule: <detectionRule>] [Description: <ruleDescription>] [MITRE: <TA…/T…, …>] [Host: <device.entity>] [User: <user>] [Type: <type>] [TenantID: <tenant>]
//	cases:      [Timestamp: <updatedAt>] [CaseID: <id>] [Status: <status>] [Severity: <severity>] [Name: <name>] [Escalated: True|False] [Assignee: <assignee.name>] [ManagedBy: <managedBy>] [Created: <createdAt>] [TenantID: <tenant>]
//
// An absent value prints empty; CR and LF print as \r and \n.
func appendXDRTxt(dst []byte, r *pipeline.Record) ([]byte, error) {
	f, err := factsOf(r)
	if err != nil {
		return dst, fmt.Errorf("txt: %w", err)
	}
	field := func(name, v string) {
		if name != "Timestamp" {
			dst = append(dst, ' ')
		}
		dst = append(dst, '[')
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		dst = appendNoNewline(dst, []byte(v))
		dst = append(dst, ']')
	}
	if r.Stream == pipeline.Detections {
		score := ""
		if f.score >= 0 {
			score = strconv.Itoa(f.score)
		}
		mitre := append(append([]string(nil), f.tactics...), f.techniques...)
		field("Timestamp", r.When)
		field("DetectionID", r.ID)
		field("Severity", score)
		field("Rule", f.rule)
		field("Description", f.ruleDesc)
		field("MITRE", strings.Join(mitre, ", "))
		field("Host", r.Host)
		field("User", r.User)
		field("Type", r.Type)
		field("TenantID", r.Tenant)
		return dst, nil
	}
	esc := "False"
	if f.escalated {
		esc = "True"
	}
	field("Timestamp", r.When)
	field("CaseID", r.ID)
	field("Status", f.status)
	field("Severity", r.Severity)
	field("Name", r.Name)
	field("Escalated", esc)
	field("Assignee", f.assignee)
	field("ManagedBy", f.managedBy)
	field("Created", r.CreatedAt)
	field("TenantID", r.Tenant)
	return dst, nil
}

// xdrCEFEscape appends s with backslash and special escaped by a backslash
// and CR/LF as \r/\n (CEF's rules; one record is always one line).
func xdrCEFEscape(dst []byte, s string, special byte) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', special:
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// XDRSummary is what the SIEM-facing columns of a detection or case say:
// for sinks that build rows of their own (sentinel).
type XDRSummary struct {
	Rule, RuleDescription string
	Tactics, Techniques   []string // MITRE ATT&CK ids
	Status                string   // cases
	Escalated             bool     // cases
	Score                 int      // 0–10, -1 unknown
}

// SummarizeXDR reads a detection's or case's summary.
func SummarizeXDR(r *pipeline.Record) (XDRSummary, error) {
	f, err := factsOf(r)
	return XDRSummary{Rule: f.rule, RuleDescription: f.ruleDesc, Tactics: f.tactics, Techniques: f.techniques,
		Status: f.status, Escalated: f.escalated, Score: f.score}, err
}
