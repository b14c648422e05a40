//go:build linux

package isotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireFUSE skips a test that mounts when this machine cannot: the one
// policy of every mount test. It needs /dev/fuse to open for this user
// and fusermount3 (the fuse3 package), which unprivileged mounts, go-fuse
// and libfuse use; root's mounts by package mounter need only the first.
func RequireFUSE(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("FUSE unavailable: cannot open /dev/fuse: %v (load the fuse module; apt-get install fuse3)", err)
	}
	f.Close()
	if _, err := exec.LookPath("fusermount3"); err == nil {
		return
	}
	for _, dir := range []string{"/bin", "/usr/bin"} {
		if _, err := os.Stat(filepath.Join(dir, "fusermount3")); err == nil {
			return
		}
	}
	t.Skip("FUSE unavailable: fusermount3 not found (apt-get install fuse3)")
}
