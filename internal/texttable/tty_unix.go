//go:build unix

package texttable

import (
	"os"

	"golang.org/x/sys/unix"
)

// ttyWidth is the terminal's width in columns, 0 when f is not a terminal.
func ttyWidth(f *os.File) int {
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
