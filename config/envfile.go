package config

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// PackagedEnvFile is where the .deb and .rpm keep the credentials, read by
// systemd (EnvironmentFile=) and by every command that uses the packaged
// config, when this user may read it.
const PackagedEnvFile = "/etc/sophos-connect/env"

// ParseEnvFile reads systemd's EnvironmentFile= syntax: KEY=VALUE lines,
// blank lines and lines starting with # or ; ignored, a value optionally in
// "double" (backslash escapes \" \\ \n) or 'single' quotes, unquoted values
// trimmed.
func ParseEnvFile(name string, data []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE (systemd EnvironmentFile= syntax)", name, n)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			q := val[0]
			val = val[1 : len(val)-1]
			if q == '"' {
				val = strings.NewReplacer(`\"`, `"`, `\\`, `\`, `\n`, "\n").Replace(val)
			}
		}
		out = append(out, [2]string{key, val})
	}
	return out, sc.Err()
}

// LoadEnvFile sets the variables of an EnvironmentFile= file that are not
// already set (the command line's environment wins), and returns their names.
func LoadEnvFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-env-file: %w", err)
	}
	vars, err := ParseEnvFile(path, b)
	if err != nil {
		return nil, err
	}
	var set []string
	for _, kv := range vars {
		if _, ok := os.LookupEnv(kv[0]); ok {
			continue
		}
		os.Setenv(kv[0], kv[1])
		set = append(set, kv[0])
	}
	return set, nil
}
