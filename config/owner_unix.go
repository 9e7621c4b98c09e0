//go:build unix

package config

import (
	"os"
	"syscall"
)

// fileOwner returns the owning user and group of a stat result.
func fileOwner(st os.FileInfo) (uid, gid int, ok bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(s.Uid), int(s.Gid), true
}
