//go:build linux

package mounter

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIsMountRoot: a plain directory is not the root of a mount, "/" is,
// and so is a directory something was just mounted on (as root: a
// tmpfs) — the check that spares each mount a read of the mount table.
func TestIsMountRoot(t *testing.T) {
	check := func(path string, want bool) {
		t.Helper()
		f, err := os.OpenFile(path, unix.O_PATH, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		root, known := isMountRoot(f)
		if !known {
			t.Skip("statx does not report STATX_ATTR_MOUNT_ROOT here (Linux < 5.8)")
		}
		if root != want {
			t.Errorf("isMountRoot(%s) = %v, want %v", path, root, want)
		}
	}
	dir := t.TempDir()
	check(dir, false)
	check("/", true)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	check(dir, true)
	f, _ := os.OpenFile(dir, unix.O_PATH, 0)
	defer f.Close()
	if _, err := checkMountpoint(f); err == nil {
		t.Error("checkMountpoint accepted a directory with a tmpfs on it")
	}
}

// TestMountTableShared: a shared mount table read after a mount shows
// it, to every one of many goroutines asking at once, with fewer reads
// of the file than askers.
func TestMountTableShared(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	var table mountTable
	dirs := make([]string, 16)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
				errs[i] = err
				return
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			mi, ok, err := table.find(dir)
			if err != nil || !ok || mi.FSType != "tmpfs" {
				errs[i] = fmt.Errorf("mount on %s not in the shared table: %+v %v %v", dir, mi, ok, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d askers, %d reads of the mount table", len(dirs), table.started)
}
