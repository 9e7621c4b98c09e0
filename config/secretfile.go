package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecretKeys are the keys that hold secrets, wherever they appear (sophos,
// sinks, the cluster's sasl). Each also takes a "<key>_file" sibling naming
// a file that holds the value — as Kubernetes and Docker mount secrets, and
// systemd's LoadCredential= ($CREDENTIALS_DIRECTORY). The schema's test
// checks that every field of type Secret is listed here.
var SecretKeys = []string{"client_secret", "token", "password", "api_key", "credentials", "access_key_id", "secret_access_key", "external_id"}

// SecretSource says where one secret's value came from, for `validate`
// (never the value).
type SecretSource struct {
	Key  string `json:"key"` // e.g. sinks[0].token
	Line int    `json:"line"`
	From string `json:"from"` // "file /run/secrets/hec", "environment variable HEC_TOKEN", "the config file"
}

// secretOrigins notes, before ${VAR} expansion, where each secret key's
// value comes from.
func secretOrigins(root *yaml.Node) []SecretSource {
	var out []SecretSource
	walkMappings(root, "", func(m *yaml.Node, key string, i int) {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(SecretKeys, k.Value) || v.Kind != yaml.ScalarNode || v.Value == "" {
			return
		}
		from := "the config file"
		if sub := envRE.FindStringSubmatch(v.Value); sub != nil && sub[0] == strings.TrimSpace(v.Value) {
			from = "environment variable " + sub[1]
		}
		out = append(out, SecretSource{Key: joinKey(key, k.Value), Line: k.Line, From: from})
	})
	return out
}

// readSecretFiles replaces every "<secret>_file: PATH" with "<secret>:
// <the file's content>" (one trailing newline dropped, as `echo` and most
// secret stores leave one), relative paths against dir. It returns the
// files read (a reload reads them again) and where each secret came from.
func readSecretFiles(root *yaml.Node, dir string) (files []string, sources []SecretSource, errs Errors) {
	walkMappings(root, "", func(m *yaml.Node, key string, i int) {
		k, v := m.Content[i], m.Content[i+1]
		base, ok := strings.CutSuffix(k.Value, "_file")
		if !ok || !slices.Contains(SecretKeys, base) {
			return
		}
		full := joinKey(key, k.Value)
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == base {
				errs = append(errs, &FieldError{Line: k.Line, Key: full, Msg: fmt.Sprintf("set either %s or %s, not both", base, k.Value)})
				return
			}
		}
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			errs = append(errs, &FieldError{Line: k.Line, Key: full, Msg: "expected the path of a file holding " + base})
			return
		}
		path := v.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			msg := err.Error()
			if errors.Is(err, os.ErrNotExist) {
				msg = path + " does not exist: create it (mode 0600) or fix the path"
			} else if errors.Is(err, os.ErrPermission) {
				msg = path + " is not readable by this user: give the service user read access (mode 0640, its group) or run as that user"
			}
			errs = append(errs, &FieldError{Line: k.Line, Key: full, Msg: msg})
			return
		}
		val := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if val == "" {
			errs = append(errs, &FieldError{Line: k.Line, Key: full, Msg: path + " is empty"})
			return
		}
		// The key becomes the secret itself, a plain string: its content is
		// data, never YAML or ${VAR}.
		k.Value = base
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val, Line: v.Line, Column: v.Column}
		files = append(files, path)
		sources = append(sources, SecretSource{Key: joinKey(key, base), Line: k.Line, From: "file " + path})
	})
	return files, sources, errs
}

// walkMappings calls f for every key of every mapping under n, with the
// mapping's dotted path.
func walkMappings(n *yaml.Node, key string, f func(m *yaml.Node, key string, i int)) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			f(n, key, i)
			walkMappings(n.Content[i+1], joinKey(key, n.Content[i].Value), f)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkMappings(c, fmt.Sprintf("%s[%d]", key, i), f)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			walkMappings(c, key, f)
		}
	}
}
