//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestSecondUserCannotWriteUnderMountedLoop: a user's own image file that
// root has set up as a loop device and mounted (an ext4 inside it) must
// not be rewritten by write or rescue run as that user, who may write the
// file but cannot open /dev/loopN: the check must find the loop device
// through sysfs alone. Before, `write IMG FILE --to-file --yes` truncated
// the file under the mounted file system (issue 16.8; 16.7 for rescue).
func TestSecondUserCannotWriteUnderMountedLoop(t *testing.T) {
	isotest.RequireTool(t, "mkfs.ext4")
	u := isotest.NewUser(t, "isoxc")
	// t.TempDir's parent is private to root: the user could not reach it.
	dir, err := os.MkdirTemp("", "isofsd-isoxc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "isofsd")
	b, err := os.ReadFile(isofsdBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bin, b, 0o755)
	src := filepath.Join(dir, "source.img")
	os.WriteFile(src, bytes.Repeat([]byte("new image\n"), 10_000), 0o644)

	// The user's file, 16 MiB, attached and mounted by root.
	loop, backing := isotest.LoopDevice(t, dir, 16<<20)
	if err := os.Chown(backing, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	isotest.Run(t, "mkfs.ext4", "-q", "-F", loop)
	mp := isotest.Mount(t, loop)
	os.WriteFile(filepath.Join(mp, "precious.txt"), []byte("keep"), 0o644)

	for _, args := range [][]string{
		{"write", src, backing, "--to-file", "--yes", "--force"},
		{"rescue", "--force", src, backing},
	} {
		cmd := u.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(out.String(), "backs the loop device "+loop+", which is mounted at "+mp) {
			t.Errorf("%v as %s: exit %d, want %d naming %s mounted at %s:\n%s", args[0], u.Name, code, exitUsage, loop, mp, out.String())
		}
		if st, _ := os.Stat(backing); st.Size() != 16<<20 {
			t.Fatalf("%v as %s: the backing file is now %d bytes", args[0], u.Name, st.Size())
		}
	}
	if b, err := os.ReadFile(filepath.Join(mp, "precious.txt")); err != nil || string(b) != "keep" {
		t.Errorf("mounted file system damaged: %q %v", b, err)
	}
}
