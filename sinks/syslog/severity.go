package syslog

import (
	"fmt"
	"strconv"
	"strings"
)

// facilities are the RFC 5424 facility keywords (as rsyslog spells them).
var facilities = map[string]uint8{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21,
	"local6": 22, "local7": 23,
}

// severities are the RFC 5424 severity keywords and their usual aliases.
var severities = map[string]uint8{
	"emerg": 0, "emergency": 0, "panic": 0,
	"alert": 1,
	"crit":  2, "critical": 2,
	"err": 3, "error": 3,
	"warning": 4, "warn": 4,
	"notice": 5,
	"info":   6, "informational": 6,
	"debug": 7,
}

func parseFacility(s string) (uint8, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if f, ok := facilities[s]; ok {
		return f, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 23 {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("unknown facility %q: use kern, user, daemon, auth, syslog, local0 … local7 or a number 0-23", s)
}

func parseSeverity(s string) (uint8, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if v, ok := severities[s]; ok {
		return v, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 7 {
		return uint8(n), nil
	}
	return 0, fmt.Errorf("unknown syslog severity %q: use emerg, alert, crit, err, warning, notice, info, debug or a number 0-7", s)
}

// severityMap turns a record's severity into a syslog severity.
type severityMap struct {
	byName map[string]uint8 // lower-case record severity
	def    uint8
}

// newSeverityMap merges the configured entries over DefaultSeverityMap.
func newSeverityMap(entries map[string]string, def string) (severityMap, error) {
	m := severityMap{byName: make(map[string]uint8, len(DefaultSeverityMap)+len(entries))}
	for _, src := range []map[string]string{DefaultSeverityMap, entries} {
		for k, v := range src {
			sev, err := parseSeverity(v)
			if err != nil {
				return m, fmt.Errorf("severity_map.%s: %w", k, err)
			}
			m.byName[strings.ToLower(strings.TrimSpace(k))] = sev
		}
	}
	var err error
	if m.def, err = parseSeverity(def); err != nil {
		return m, fmt.Errorf("default_severity: %w", err)
	}
	return m, nil
}

// of returns the syslog severity for a record severity. Sophos sends lower
// case; the fast path avoids lower-casing (and allocating) for it.
func (m severityMap) of(recordSeverity string) uint8 {
	if v, ok := m.byName[recordSeverity]; ok {
		return v
	}
	if v, ok := m.byName[strings.ToLower(strings.TrimSpace(recordSeverity))]; ok {
		return v
	}
	return m.def
}
