// Command trim writes a copy of the pinned SeaweedFS's weed/ tree that
// leaves out what the s3 sink's tests do not use, so a cold CI machine
// builds the S3 gateway in a few minutes, before the tests need it (874
// packages of 1739; sinks/s3/README.md has the times): the `weed` binary keeps only
// the master, volume, filer (with its default leveldb stores) and S3
// commands, plus `s3stack` (s3stack.go here) that runs the four in one
// process. Left out: every other filer store, notification queue, KMS and
// remote-storage cloud SDK, the postgres credential store, the FUSE mount,
// sftp, the message queue, the admin UI and workers, and the master's
// maintenance shell scripts.
//
//	go run ./trim DIR   copies and edits SeaweedFS into DIR/seaweedfs, writes
//	                    DIR/go.mod (this module's, with SeaweedFS replaced
//	                    by the copy) and DIR/go.sum, and prints DIR/go.mod
//	                    for `go build -modfile`
//
// Every edit must find what it edits: a SeaweedFS upgrade that moves
// things fails here, naming the edit, instead of building something else.
package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed s3stack.go.txt
var s3stack []byte

// keepCommands are the weed/command files kept (every other non-test file
// of the package is left out).
var keepCommands = []string{
	"command.go", "master.go", "volume.go", "filer.go", "s3.go", "version.go", "shutdown.go",
	"autocomplete.go", "imports.go",
	// filer.go can start these next to the filer: they stay for it to compile
	"webdav.go", "iam.go", "sftp.go",
}

// commandList replaces the package's list of commands.
const commandList = `var Commands = []*Command{
	cmdAutocomplete,
	cmdUnautocomplete,
	cmdFiler,
	cmdIam,
	cmdMaster,
	cmdS3,
	cmdS3Stack,
	cmdSftp,
	cmdVersion,
	cmdVolume,
	cmdWebDav,
}`

// dropBlank are the blank (registering) imports left out.
var dropBlank = regexp.MustCompile(`^weed/(` +
	`filer/(arangodb|cassandra2?|elastic/v7|etcd|foundationdb|hbase|mongodb|mysql2?|postgres2?|redis[23]?|rocksdb|sqlite|tarantool|tikv|ydb)` +
	`|notification/(aws_sqs|gocdk_pub_sub|google_pub_sub|kafka|webhook)` +
	`|kms/(aws|gcp|openbao|azure)` +
	`|remote_storage/(azure|gcs|s3)` +
	`|replication/sink/(azuresink|b2sink|gcssink|s3sink|filersink|localsink)` +
	`|credential/postgres` +
	`)$`)

// extracts keep only the named functions of a file that is otherwise left
// out (file → functions).
var extracts = map[string][]string{
	"weed/command/server.go": {"idleTimeoutSeconds", "newHttpServer"},
}

// stubs replace functions' bodies (file → function → body; "" removes the
// function).
var stubs = map[string]map[string]string{
	// the master's maintenance scripts run the weed shell, which pulls in
	// nearly everything; the tests configure none
	"weed/server/master_server.go": {
		"startAdminScripts": `{}`,
		"processEachCmd":    "", // gone: its signature names the shell's types
	},
	// remote storage (mounting a cloud bucket into the filer) is not used
	"weed/server/volume_grpc_remote.go": {
		"guardedCredentialsVersion": `{ return "" }`,
		"guardedRemoteClient":       `{ return "", nil, false }`,
		"checkGcsCredentials":       `{ return fmt.Errorf("remote storage is not built into this test peer") }`,
	},
}

// blankFiles are the files whose blank imports are filtered by dropBlank.
var blankFiles = []string{
	"weed/server/filer_server.go",
	"weed/s3api/auth_credentials.go",
	"weed/command/imports.go",
	"weed/command/filer.go",
	"weed/command/iam.go",
}

// dropFiles are left out whole.
var dropFiles = []string{
	"weed/s3api/kms_azure.go", // only a blank import of the Azure KMS
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./trim DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "trim:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	src := filepath.Join(out, "seaweedfs")
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := copyModule(dir, src); err != nil {
		return err
	}
	read := func(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(src, rel)) }
	write := func(rel string, b []byte) error { return os.WriteFile(filepath.Join(src, rel), b, 0o644) }

	for _, rel := range blankFiles {
		b, err := read(rel)
		if err != nil {
			return err
		}
		if b, err = dropBlankImports(rel, b); err != nil {
			return err
		}
		if err := write(rel, b); err != nil {
			return err
		}
	}
	for rel, fns := range stubs {
		b, err := read(rel)
		if err != nil {
			return err
		}
		if b, err = stub(rel, b, fns); err != nil {
			return err
		}
		if err := write(rel, b); err != nil {
			return err
		}
	}
	for rel, fns := range extracts {
		b, err := read(rel)
		if err != nil {
			return err
		}
		if b, err = extract(rel, b, fns); err != nil {
			return err
		}
		if err := write(rel, b); err != nil {
			return err
		}
	}
	b, err := read("weed/command/command.go")
	if err != nil {
		return err
	}
	list := regexp.MustCompile(`(?s)var Commands = \[\]\*Command\{.*?\n\}`)
	if !list.Match(b) {
		return fmt.Errorf("weed/command/command.go: no `var Commands = []*Command{…}` to replace")
	}
	if err := write("weed/command/command.go", list.ReplaceAll(b, []byte(commandList))); err != nil {
		return err
	}
	if err := write("weed/command/s3stack.go", s3stack); err != nil {
		return err
	}
	for _, rel := range dropFiles {
		if err := os.Remove(filepath.Join(src, rel)); err != nil {
			return err
		}
	}
	files, err := filepath.Glob(filepath.Join(src, "weed/command/*.go"))
	if err != nil {
		return err
	}
	for _, k := range keepCommands {
		if !slices.Contains(files, filepath.Join(src, "weed/command", k)) {
			return fmt.Errorf("weed/command/%s is not there to keep", k)
		}
	}
	for _, f := range files {
		rel := "weed/command/" + filepath.Base(f)
		if _, ok := extracts[rel]; !ok && rel != "weed/command/s3stack.go" && !slices.Contains(keepCommands, filepath.Base(f)) {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}

	// the build's go.mod: this module's, with SeaweedFS replaced by the copy
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	mod = append(mod, "\n// written by trim: the trimmed copy of the pinned SeaweedFS\nreplace github.com/seaweedfs/seaweedfs => "+abs+"\n"...)
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		return err
	}
	modfile := filepath.Join(filepath.Dir(abs), "go.mod")
	if err := os.WriteFile(modfile, mod, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(abs), "go.sum"), sum, 0o644); err != nil {
		return err
	}
	fmt.Println(modfile)
	return nil
}

// copyModule copies the module's go.mod and its weed/ and telemetry/ trees
// (the packages weed imports), without tests.
func copyModule(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(from, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(to, "go.mod"), b, 0o644); err != nil {
		return err
	}
	for _, tree := range []string{"weed", "telemetry"} {
		if err := copyTree(from, to, tree); err != nil {
			return err
		}
	}
	return nil
}

func copyTree(from, to, tree string) error {
	return filepath.WalkDir(filepath.Join(from, tree), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if strings.HasSuffix(p, "_test.go") || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// moduleDir is the SeaweedFS module's directory in the module cache
// (downloaded if need be).
func moduleDir() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/seaweedfs/seaweedfs")
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download github.com/seaweedfs/seaweedfs: %w", err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", err
	}
	if m.Dir == "" {
		return "", fmt.Errorf("go mod download github.com/seaweedfs/seaweedfs: %s", m.Error)
	}
	return m.Dir, nil
}

// dropBlankImports removes the blank imports dropBlank matches; at least one
// must go.
func dropBlankImports(rel string, src []byte) ([]byte, error) {
	const mod = "github.com/seaweedfs/seaweedfs/"
	lines := strings.SplitAfter(string(src), "\n")
	var out strings.Builder
	dropped := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, `_ "`+mod) {
			if p, err := strconv.Unquote(strings.TrimSpace(strings.TrimPrefix(t, "_"))); err == nil && dropBlank.MatchString(strings.TrimPrefix(p, mod)) {
				dropped++
				continue
			}
		}
		out.WriteString(l)
	}
	if dropped == 0 {
		return nil, fmt.Errorf("%s: none of the blank imports to leave out is there", rel)
	}
	return []byte(out.String()), nil
}

// stub replaces the bodies of fns and removes the imports only those bodies
// used.
func stub(rel string, src []byte, fns map[string]string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	type edit struct {
		lo, hi int
		with   string
	}
	var edits []edit
	found := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		if body, ok := fns[fd.Name.Name]; ok {
			found[fd.Name.Name] = true
			if body == "" {
				edits = append(edits, edit{fset.Position(fd.Pos()).Offset, fset.Position(fd.End()).Offset, ""})
			} else {
				edits = append(edits, edit{fset.Position(fd.Body.Lbrace).Offset, fset.Position(fd.Body.Rbrace).Offset + 1, body})
			}
		}
	}
	for name := range fns {
		if !found[name] {
			return nil, fmt.Errorf("%s: no func %s to stub", rel, name)
		}
	}
	before := usedNames(f)
	sort.Slice(edits, func(i, j int) bool { return edits[i].lo > edits[j].lo })
	for _, e := range edits {
		src = append(src[:e.lo:e.lo], append([]byte(e.with), src[e.hi:]...)...)
	}
	// drop the imports that were used before and are not now
	f, err = parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	after := usedNames(f)
	var drops [][2]int
	for _, im := range f.Imports {
		name := importName(im)
		if name != "" && before[name] && !after[name] {
			lo := fset.Position(im.Pos()).Offset
			hi := fset.Position(im.End()).Offset
			lo = bytes.LastIndexByte(src[:lo], '\n') + 1
			if nl := bytes.IndexByte(src[hi:], '\n'); nl >= 0 {
				hi += nl + 1
			}
			drops = append(drops, [2]int{lo, hi})
		}
	}
	sort.Slice(drops, func(i, j int) bool { return drops[i][0] > drops[j][0] })
	for _, d := range drops {
		src = append(src[:d[0]:d[0]], src[d[1]:]...)
	}
	return src, nil
}

// extract keeps only the package clause, the imports and the functions
// fns of a file, without the imports they do not use.
func extract(rel string, src []byte, fns []string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "package %s\n\n// kept from %s by test/services/seaweedfs/trim\n\n", f.Name.Name, filepath.Base(rel))
	var body bytes.Buffer
	found := map[string]bool{}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && slices.Contains(fns, fd.Name.Name) {
			found[fd.Name.Name] = true
			lo, hi := fset.Position(fd.Pos()).Offset, fset.Position(fd.End()).Offset
			if fd.Doc != nil {
				lo = fset.Position(fd.Doc.Pos()).Offset
			}
			body.Write(src[lo:hi])
			body.WriteString("\n\n")
		}
	}
	for _, name := range fns {
		if !found[name] {
			return nil, fmt.Errorf("%s: no func %s to keep", rel, name)
		}
	}
	kept, err := parser.ParseFile(fset, rel, "package p\n"+body.String(), parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	used := usedNames(kept)
	out.WriteString("import (\n")
	for _, im := range f.Imports {
		if name := importName(im); name != "" && used[name] {
			if im.Name != nil {
				out.WriteString("\t" + im.Name.Name + " " + im.Path.Value + "\n")
			} else {
				out.WriteString("\t" + im.Path.Value + "\n")
			}
		}
	}
	out.WriteString(")\n\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// usedNames are the identifiers used as the X of X.Sel (packages, among
// others).
func usedNames(f *ast.File) map[string]bool {
	used := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	return used
}

// importName is the name an import is used by: its alias, else the last
// element of its path without a major-version suffix ("" for _ and .).
func importName(im *ast.ImportSpec) string {
	if im.Name != nil {
		if im.Name.Name == "_" || im.Name.Name == "." {
			return ""
		}
		return im.Name.Name
	}
	p, _ := strconv.Unquote(im.Path.Value)
	parts := strings.Split(p, "/")
	last := parts[len(parts)-1]
	if len(parts) > 1 && regexp.MustCompile(`^v[0-9]+$`).MatchString(last) {
		last = parts[len(parts)-2]
	}
	return last
}
