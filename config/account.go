package config

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
)

// Account is the user whose rights `validate -as-user` checks the output
// and state paths for: the service user, not whoever runs validate.
type Account struct {
	Name   string
	UID    int
	Groups map[int]bool // primary and supplementary group ids
}

// LookupAccount finds a user by name or numeric id.
func LookupAccount(nameOrID string) (*Account, error) {
	u, err := user.Lookup(nameOrID)
	if err != nil {
		if _, nerr := strconv.Atoi(nameOrID); nerr == nil {
			u, err = user.LookupId(nameOrID)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("user %q: %v (give the account the service runs as, e.g. -as-user sophos-connect)", nameOrID, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q is not numeric (-as-user works on Unix systems)", nameOrID, u.Uid)
	}
	a := &Account{Name: u.Username, UID: uid, Groups: map[int]bool{}}
	gids, _ := u.GroupIds()
	for _, g := range append(gids, u.Gid) {
		if n, err := strconv.Atoi(g); err == nil {
			a.Groups[n] = true
		}
	}
	return a, nil
}

// CheckWritableDirAs is CheckWritableDir for account a: dir (or, when it
// does not exist, its nearest existing parent, where it would be created)
// must be writable and searchable by a, and every directory above it
// searchable, judged by owner, group and mode bits (ACLs are not read).
// The write probe of CheckWritableDir still runs as this process, so a
// read-only mount is found too.
func CheckWritableDirAs(dir string, a *Account) error {
	if err := CheckWritableDir(dir); err != nil {
		return err
	}
	p := dir
	for {
		if _, err := os.Stat(p); err == nil {
			break
		}
		p = filepath.Dir(p)
	}
	const w, x = 2, 1
	if !a.may(p, w|x) {
		if p == dir {
			return fmt.Errorf("%s is not writable by user %s (%s)", dir, a.Name, describeOwner(p))
		}
		return fmt.Errorf("%s does not exist and cannot be created by user %s: %s is not writable by it (%s)", dir, a.Name, p, describeOwner(p))
	}
	for q := filepath.Dir(p); ; q = filepath.Dir(q) {
		if !a.may(q, x) {
			return fmt.Errorf("%s is not reachable by user %s: it cannot enter %s (%s)", dir, a.Name, q, describeOwner(q))
		}
		if filepath.Dir(q) == q {
			return nil
		}
	}
}

// may reports whether the account has the rights (bits of rwx: 4, 2, 1)
// on path by its mode bits.
func (a *Account) may(path string, want os.FileMode) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	if a.UID == 0 {
		return true
	}
	uid, gid, ok := fileOwner(st)
	if !ok {
		return true // no owners to judge by (not Unix): the probe decides
	}
	perm := st.Mode().Perm()
	switch {
	case uid == a.UID:
		perm >>= 6
	case a.Groups[gid]:
		perm >>= 3
	}
	return perm&want == want
}

func describeOwner(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	uid, gid, ok := fileOwner(st)
	if !ok {
		return st.Mode().Perm().String()
	}
	return fmt.Sprintf("owner %s, group %s, mode %s", userName(uid), groupName(gid), st.Mode().Perm())
}

// ServiceAccount is the account a packaged host runs the collector as:
// the owner of the state dir when this process is root and the dir exists
// and belongs to someone else; nil otherwise.
func ServiceAccount(stateDir string) *Account {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := os.Stat(stateDir)
	if err != nil {
		return nil
	}
	uid, _, ok := fileOwner(st)
	if !ok || uid == 0 {
		return nil
	}
	a, err := LookupAccount(strconv.Itoa(uid))
	if err != nil {
		return &Account{Name: strconv.Itoa(uid), UID: uid, Groups: map[int]bool{}}
	}
	return a
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(gid)
}
