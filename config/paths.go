package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// sinkPathKeys are the sink keys that name files (at any depth: tls.ca_file).
var sinkPathKeys = map[string]bool{"path": true, "ca_file": true, "cert_file": true, "key_file": true}

// resolvePaths makes every relative path of the file relative to dir (the
// config file's directory), so `cd / && sophos-connect -c /etc/x.yaml`
// reads and writes what running it beside the file would.
func (c *Config) resolvePaths(dir string) {
	c.Dir = dir
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.StateDir)
	abs(&c.SaveFileLocation)
	if c.SaveFileLocation == "" {
		c.SaveFileLocation = dir
	}
	abs(&c.Sophos.CAFile)
	abs(&c.MetricsAuth.PasswordFile)
	abs(&c.MetricsAuth.TokenFile)
	for i := range c.Sinks {
		if n := c.Sinks[i].Node; n != nil {
			resolveNode(n, dir, true)
		}
	}
	for i := range c.Transforms {
		if n := c.Transforms[i].Node; n != nil {
			resolveNode(n, dir, false)
		}
	}
}

// resolveNode rewrites relative path values in a component's mapping: for a
// sink its path, TLS files and unix:// address; for a stage its state_dir.
// top is true for a sink's own mapping (path and address live only there).
func resolveNode(n *yaml.Node, dir string, sink bool) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.MappingNode {
			if sink {
				resolveNode(v, dir, sink)
			}
			continue
		}
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			continue
		}
		switch {
		case sink && sinkPathKeys[k.Value], !sink && k.Value == "state_dir":
			if !filepath.IsAbs(v.Value) {
				v.Value = filepath.Join(dir, v.Value)
			}
		case sink && k.Value == "address" && strings.HasPrefix(v.Value, "unix://"):
			if p := strings.TrimPrefix(v.Value, "unix://"); p != "" && !filepath.IsAbs(p) {
				v.Value = "unix://" + filepath.Join(dir, p)
			}
		}
	}
}

// configDir is the absolute directory of the config file name (the working
// directory for "").
func configDir(name string) string {
	d := "."
	if name != "" {
		d = filepath.Dir(name)
	}
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}

// CheckWritableDir reports whether dir exists (or can be created, because
// its nearest existing parent is a writable directory) and is writable by
// this process. Nothing is created.
func CheckWritableDir(dir string) error {
	p := dir
	for {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			if err := writable(p); err != nil {
				if p == dir {
					return fmt.Errorf("%s is not writable by this user: %v", dir, err)
				}
				return fmt.Errorf("%s does not exist and cannot be created: %s is not writable by this user (%v)", dir, p, err)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %v", p, err)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return fmt.Errorf("%s: no existing parent directory", dir)
		}
		p = parent
	}
}

// writable tries to create (and removes) a temporary file in dir: the one
// test that also sees read-only mounts, ACLs and systemd's ProtectSystem.
func writable(dir string) error {
	f, err := os.CreateTemp(dir, ".sophos-connect-writable-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
