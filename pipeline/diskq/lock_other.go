//go:build !unix

package diskq

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir only creates dir/lock where advisory locks are not available.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	return f, nil
}
