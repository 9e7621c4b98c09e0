package config

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// ErrorEntry is one configuration error as data (`validate -json`).
type ErrorEntry struct {
	File    string `json:"file"`
	Line    int    `json:"line"` // 0: none
	Key     string `json:"key"`
	Message string `json:"message"`
}

var errLineRE = regexp.MustCompile(`^(.+?):(\d+): (?:([A-Za-z0-9_.\[\]-]+): )?(.*)$`)

// ErrorEntries splits err (Errors, or any error) into one entry a message
// line, with the file, line and key a "file:line: key: message" line names.
func ErrorEntries(err error) []ErrorEntry {
	var list Errors
	if !errors.As(err, &list) {
		list = Errors{err}
	}
	out := []ErrorEntry{}
	for _, e := range list {
		for _, msg := range strings.Split(e.Error(), "\n") {
			if msg == "" {
				continue
			}
			ej := ErrorEntry{Message: msg}
			if m := errLineRE.FindStringSubmatch(msg); m != nil {
				ej.File, ej.Key, ej.Message = m[1], m[3], m[4]
				ej.Line, _ = strconv.Atoi(m[2])
			}
			out = append(out, ej)
		}
	}
	return out
}
