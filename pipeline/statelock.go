package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// StateLockName is the lock file inside state_dir.
const StateLockName = "lock"

// StateDirInUseError is returned when another process holds state_dir.
type StateDirInUseError struct {
	Dir    string
	Holder string // "pid N (command, since …)" as the holder wrote it; may be empty
}

func (e *StateDirInUseError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another process"
	}
	return fmt.Sprintf("state dir %s is in use by %s: one collector per state_dir (stop the other one, or give this one its own state_dir)", e.Dir, h)
}

// StateLock is an exclusive lock on a state_dir: two collectors writing the
// same checkpoints, dead letters and files would interleave and lose ids.
type StateLock struct{ fl *flock.Flock }

// LockStateDir takes the lock at once or fails with *StateDirInUseError.
// what names the command in the holder line ("run", "replay dlq", …). The
// lock is an flock (LockFileEx on Windows) and ends with the process.
func LockStateDir(dir, what string) (*StateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, StateLockName)
	fl := flock.New(path, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock state_dir %s: %w", dir, err)
	}
	if !ok {
		b, _ := os.ReadFile(path + ".holder")
		return nil, &StateDirInUseError{Dir: dir, Holder: strings.TrimSpace(string(b))}
	}
	// Say who holds it, for the next one's message (a separate file: on
	// Windows the locked file itself cannot be read by others).
	holder := fmt.Sprintf("pid %d (sophos-connect %s, since %s)", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	os.WriteFile(path+".holder", []byte(holder+"\n"), 0o600)
	return &StateLock{fl: fl}, nil
}

// Unlock releases the lock.
func (l *StateLock) Unlock() error {
	if l == nil {
		return nil
	}
	os.Remove(l.fl.Path() + ".holder")
	return l.fl.Unlock()
}
