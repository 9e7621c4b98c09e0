package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// writeMigrated writes migrate's YAML to path atomically. A new file gets
// mode 0600 (it may hold the secret). An existing file is replaced only
// with force, and keeps its owner, group and mode — e.g. 0640
// root:sophos-connect for the systemd unit's user.
func writeMigrated(path string, data []byte, force bool) error {
	mode := os.FileMode(0o600)
	uid, gid := -1, -1
	st, err := os.Stat(path)
	switch {
	case err == nil:
		if !force {
			return usageError{fmt.Sprintf("migrate: %s already exists: pass -force to replace it (its owner and mode are kept)", path)}
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("migrate: %s is not a regular file", path)
		}
		mode = st.Mode().Perm()
		uid, gid = fileOwner(st)
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
