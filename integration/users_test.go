//go:build linux

package integration

import (
	"os"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// userPrefix starts the name of every user these tests create (through
// isotest.NewUser), so that a leftover one is recognisable (and never
// collides with another suite's).
const userPrefix = "isoxb"

// deskUserPrefix names the users of the tests of review 1's desktop,
// automatic mountpoint and daemon-client fixes.
const deskUserPrefix = "isoxk"

// newUser creates a real second user for one test, removed when it ends.
func newUser(t testing.TB) *isotest.User { return isotest.NewUser(t, userPrefix) }

// sharedDir is a temporary directory other users can traverse (mode
// 0755; t.TempDir's are 0700), removed at the end of the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "isofsd-shared-")
	must(t, err)
	must(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// mkdirOwned makes dir owned by u with mode perm.
func mkdirOwned(t testing.TB, dir string, u *isotest.User, perm os.FileMode) {
	t.Helper()
	must(t, os.Mkdir(dir, perm))
	must(t, os.Chmod(dir, perm))
	if u != nil {
		must(t, os.Chown(dir, u.UID, u.GID))
	}
}
