package seed

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// InputError is a sophos.conf migrate cannot read (a configuration error).
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ExistsError refuses to replace an existing file without force.
type ExistsError struct{ Path string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("migrate: %s already exists: pass -force to replace it (its owner and mode are kept)", e.Path)
}

// WriteMigrated writes migrate's YAML to path atomically. A new file gets
// mode 0600 (it may hold the secret). An existing file is replaced only
// with force, and keeps its owner, group and mode — e.g. 0640
// root:sophos-connect for the systemd unit's user.
func WriteMigrated(path string, data []byte, force bool) error {
	mode := os.FileMode(0o600)
	uid, gid := -1, -1
	st, err := os.Stat(path)
	switch {
	case err == nil:
		if !force {
			return &ExistsError{Path: path}
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("migrate: %s is not a regular file", path)
		}
		mode = st.Mode().Perm()
		uid, gid = FileOwner(st)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("migrate: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	name := tmp.Name()
	defer os.Remove(name) // after the rename: nothing
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	if uid >= 0 && (uid != os.Getuid() || gid != os.Getgid()) {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return fmt.Errorf("migrate: cannot keep the owner of %s (uid %d, gid %d): %w — run it as root or as that user", path, uid, gid, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
