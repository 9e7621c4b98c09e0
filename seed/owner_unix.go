//go:build unix

package seed

import (
	"os"
	"syscall"
)

// FileOwner is the uid and gid of a file (-1, -1 where unknown).
func FileOwner(fi os.FileInfo) (uid, gid int) {
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(sys.Uid), int(sys.Gid)
	}
	return -1, -1
}
