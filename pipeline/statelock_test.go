package pipeline

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestStateDirLockIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := LockStateDir(dir, "run")
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockStateDir(dir, "replay dlq")
	var inUse *StateDirInUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second lock: %v, want *StateDirInUseError", err)
	}
	want := "state dir " + dir + " is in use by pid " + strconv.Itoa(os.Getpid()) + " (sophos-connect run"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to contain %q", err, want)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockStateDir(dir, "state reset")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}
