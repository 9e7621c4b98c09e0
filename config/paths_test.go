package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Every relative path resolves against the config file's directory, whatever
// the working directory.
func TestRelativePathsResolveAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "etc", "x.yaml")
	data := []byte(`
sophos: {client_id: a, client_secret: b, ca_file: ca.pem}
save_file_location: out
log_file_name: x.log
sinks:
  - {name: f, type: json, path: files/e.json, layout: lines}
  - {name: a, type: txt, path: /abs/a.log}
  - name: s
    type: syslog
    address: unix://sock/log
    tls: {ca_file: tls/ca.pem, cert_file: /abs/c.pem, key_file: k.pem}
transforms:
  - {type: filter, field: {path: a.b, equals: x}}
  - {type: dedupe, state_dir: dd}
`)
	t.Chdir(t.TempDir())
	c, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "etc")
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("state_dir", c.StateDir, filepath.Join(base, "state"))
	check("save_file_location", c.SaveFileLocation, filepath.Join(base, "out"))
	check("sophos.ca_file", c.Sophos.CAFile, filepath.Join(base, "ca.pem"))
	check("Dir", c.Dir, base)
	val := func(n int, path ...string) string {
		node := c.Sinks[n].Node
		for _, k := range path {
			found := false
			for i := 0; i+1 < len(node.Content); i += 2 {
				if node.Content[i].Value == k {
					node, found = node.Content[i+1], true
					break
				}
			}
			if !found {
				t.Fatalf("sinks[%d] has no %v", n, path)
			}
		}
		return node.Value
	}
	check("sinks[0].path", val(0, "path"), filepath.Join(base, "files/e.json"))
	check("sinks[1].path", val(1, "path"), "/abs/a.log")
	check("sinks[2].address", val(2, "address"), "unix://"+filepath.Join(base, "sock/log"))
	check("sinks[2].tls.ca_file", val(2, "tls", "ca_file"), filepath.Join(base, "tls/ca.pem"))
	check("sinks[2].tls.cert_file", val(2, "tls", "cert_file"), "/abs/c.pem")
	check("sinks[2].tls.key_file", val(2, "tls", "key_file"), filepath.Join(base, "k.pem"))
	// A filter's field path is not a file.
	f := c.Transforms[0].Node
	if !strings.Contains(nodeText(f), "a.b") {
		t.Errorf("the filter's field path was rewritten: %s", nodeText(f))
	}
	d := c.Transforms[1].Node
	if !strings.Contains(nodeText(d), filepath.Join(base, "dd")) {
		t.Errorf("dedupe state_dir not resolved: %s", nodeText(d))
	}

	// An empty save_file_location is the config's directory, not the cwd.
	c, err = Parse(file, []byte("sophos: {client_id: a, client_secret: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	check("default save_file_location", c.SaveFileLocation, base)
	check("default state_dir", c.StateDir, filepath.Join(base, "state"))
}

func nodeText(n *yaml.Node) string {
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(yamlString(n), "\n", " "), "  ", " "))
}

func TestCheckWritableDir(t *testing.T) {
	dir := t.TempDir()
	if err := CheckWritableDir(filepath.Join(dir, "a", "b")); err != nil {
		t.Errorf("a creatable directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("the check created something: %v", err)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	if err := CheckWritableDir(filepath.Join(file, "x")); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("under a file: %v", err)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root: a read-only directory is still writable, that case is not checked")
		return
	}
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	if err := CheckWritableDir(filepath.Join(ro, "x")); err == nil || !strings.Contains(err.Error(), "cannot be created") {
		t.Errorf("under a read-only directory: %v", err)
	}
}

func yamlString(n any) string {
	b, _ := yaml.Marshal(n)
	return string(b)
}
