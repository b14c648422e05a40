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

// TestRescueOutputChecks: rescue's OUT gets write's target checks. It
// wrote to any block device, mounted or not, and put its mapfile beside
// it — into /dev (issue 16.7).
func TestRescueOutputChecks(t *testing.T) {
	isotest.RequireTool(t, "mkfs.ext4")
	dir := t.TempDir()
	src := filepath.Join(dir, "source.img")
	data := bytes.Repeat([]byte("rescued data\n"), 100_000)
	os.WriteFile(src, data, 0o644)
	dev, _ := isotest.LoopDevice(t, dir, 4<<20)
	devMap := dev + ".map"
	unchanged := func(what string) {
		t.Helper()
		b := make([]byte, 64<<10)
		f, err := os.Open(dev)
		if err != nil {
			t.Fatal(err)
		}
		f.ReadAt(b, 0)
		f.Close()
		if !bytes.Equal(b, make([]byte, len(b))) {
			t.Fatalf("%s: the device was written", what)
		}
		if _, err := os.Stat(devMap); err == nil {
			os.Remove(devMap)
			t.Fatalf("%s: a mapfile was written into /dev (%s)", what, devMap)
		}
	}
	mapFile := filepath.Join(dir, "r.map")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"device without --to-device", []string{"rescue", src, dev}, "only with --to-device"},
		{"device without --map", []string{"rescue", "--to-device", "--allow-loop", src, dev}, "give --map"},
		{"loop device without --allow-loop", []string{"rescue", "--to-device", "--map", mapFile, src, dev}, "loop device"},
		{"mapfile into /dev", []string{"rescue", "--map", "/dev/isofsd-rescue-test.map", src, filepath.Join(dir, "o.iso")}, "into /dev"},
		{"a directory", []string{"rescue", src, dir}, "is a directory"},
	} {
		_, stderr, code := cliRun(t, c.args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, %q; want exit 2 saying %q", c.name, code, stderr, c.want)
		}
		unchanged(c.name)
	}
	if _, err := os.Stat("/dev/isofsd-rescue-test.map"); err == nil {
		os.Remove("/dev/isofsd-rescue-test.map")
		t.Error("mapfile written into /dev")
	}

	// Mounted: refused whatever the flags.
	isotest.Run(t, "mkfs.ext4", "-q", "-F", dev)
	mp := isotest.Mount(t, dev)
	_, stderr, code := cliRun(t, "rescue", "--to-device", "--allow-loop", "--force", "--map", mapFile, src, dev)
	if code != exitUsage || !strings.Contains(stderr, "is mounted at "+mp) {
		t.Errorf("mounted device: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(mapFile); err == nil {
		t.Error("a refused rescue left a mapfile")
	}
	if _, err := os.Stat(filepath.Join(mp, "lost+found")); err != nil {
		t.Errorf("the mounted file system was damaged: %v", err)
	}

	// A file backing a mounted loop device is no OUT either.
	_, backing := isotest.LoopDevice(t, dir, 8<<20)
	loop2 := strings.TrimSpace(isotest.Run(t, "losetup", "-j", backing))
	loop2, _, _ = strings.Cut(loop2, ":")
	isotest.Run(t, "mkfs.ext4", "-q", "-F", loop2)
	isotest.Mount(t, loop2)
	if _, stderr, code := cliRun(t, "rescue", "--force", src, backing); code != exitUsage || !strings.Contains(stderr, "backs the loop device") {
		t.Errorf("file backing a mounted loop device: exit %d, %q", code, stderr)
	}
}

// TestRescueToDevice: with --to-device and the checks passed, rescue
// writes the drive and its mapfile where --map says.
func TestRescueToDevice(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "source.img")
	data := bytes.Repeat([]byte("rescued data\n"), 100_000)
	os.WriteFile(src, data, 0o644)
	dev, _ := isotest.LoopDevice(t, dir, 4<<20)
	mapFile := filepath.Join(dir, "r.map")
	if _, stderr, code := cliRun(t, "rescue", "--to-device", "--allow-loop", "--map", mapFile, src, dev); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got := make([]byte, len(data))
	f, _ := os.Open(dev)
	f.ReadAt(got, 0)
	f.Close()
	if !bytes.Equal(got, data) {
		t.Error("the device does not hold the source")
	}
	if _, err := os.Stat(mapFile); err != nil {
		t.Errorf("mapfile: %v", err)
	}
}
