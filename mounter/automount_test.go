//go:build linux

package mounter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/mounter/automp"
)

// autoPlace is a media directory for user "alice" and a runtime
// directory in a temp dir.
func autoPlace(t *testing.T) *automp.Config {
	t.Helper()
	base := t.TempDir()
	c := &automp.Config{MediaDir: filepath.Join(base, "media"), User: "alice", RuntimeDir: filepath.Join(base, "run"), UID: os.Geteuid()}
	for _, d := range []string{filepath.Join(c.MediaDir, c.User), c.RuntimeDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// labelledISO builds an image with volume label label.
func labelledISO(t *testing.T, label string) string {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "image.iso")
	if b, err := exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", label, "-o", img, src).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
	return img
}

// waitGone waits until path no longer exists.
func waitGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAutoMountpoint: without a mountpoint, New mounts on a new
// directory named after the label, a second mount of the same label gets
// "-2", ImageMounts finds both, and each directory is removed once its
// mount ends — by Unmount, or by an unmount from outside (umount(8), as a
// file manager's eject does).
func TestAutoMountpoint(t *testing.T) {
	requireFUSE(t)
	place := autoPlace(t)
	img := labelledISO(t, "MY DISC")
	log := logrus.New()
	log.SetOutput(&testLog{})
	var ms []*Mount
	for i := range 2 {
		m, err := New(context.Background(), Options{Image: img, AutoPlace: place, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		t.Cleanup(func() { m.Unmount(); m.Wait() })
		want := filepath.Join(place.MediaDir, "alice", "MY DISC")
		if i == 1 {
			want += "-2"
		}
		if m.Mountpoint() != want || !m.AutoMountpoint() {
			t.Fatalf("mount %d on %s (auto %v), want %s", i, m.Mountpoint(), m.AutoMountpoint(), want)
		}
		if got := readFile(t, filepath.Join(m.Mountpoint(), "hello.txt")); got != "hello\n" {
			t.Errorf("hello.txt: %q", got)
		}
	}
	found, err := ImageMounts(img)
	if err != nil || len(found) != 2 || found[0].MountPoint != ms[0].Mountpoint() || found[1].MountPoint != ms[1].Mountpoint() {
		t.Errorf("ImageMounts: %+v %v", found, err)
	}
	if other, _ := ImageMounts(labelledISO(t, "MY DISC")); len(other) != 0 {
		t.Errorf("ImageMounts of another image with the same label: %+v", other)
	}

	if err := ms[0].Unmount(); err != nil {
		t.Fatal(err)
	}
	ms[0].Wait()
	if _, err := os.Lstat(ms[0].Mountpoint()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after Unmount and Wait: %v", ms[0].Mountpoint(), err)
	}
	done := make(chan struct{})
	go func() { ms[1].Wait(); close(done) }()
	if out, err := exec.Command("umount", ms[1].Mountpoint()).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	<-done
	waitGone(t, ms[1].Mountpoint())
}

// TestAutoMountpointReusesLeftover (review U1): the empty directory a
// killed mount left (ours, 0700, nothing mounted) is reused by the next
// mount of that label, and removed after it; a directory with content
// under the same name is not.
func TestAutoMountpointReusesLeftover(t *testing.T) {
	requireFUSE(t)
	place := autoPlace(t)
	media := filepath.Join(place.MediaDir, "alice")
	img := labelledISO(t, "MY DISC")
	must(t, os.Mkdir(filepath.Join(media, "MY DISC"), 0o700))
	must(t, os.Mkdir(filepath.Join(media, "MY DISC-2"), 0o700))
	must(t, os.WriteFile(filepath.Join(media, "MY DISC-2", "keep"), nil, 0o600))
	log := logrus.New()
	log.SetOutput(&testLog{})
	for _, want := range []string{"MY DISC", "MY DISC-3"} {
		m, err := New(context.Background(), Options{Image: img, AutoPlace: place, Log: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Unmount(); m.Wait() })
		if m.Mountpoint() != filepath.Join(media, want) {
			t.Fatalf("mounted on %s, want %s", m.Mountpoint(), filepath.Join(media, want))
		}
		if got := readFile(t, filepath.Join(m.Mountpoint(), "hello.txt")); got != "hello\n" {
			t.Errorf("hello.txt: %q", got)
		}
		if want == "MY DISC" {
			must(t, m.Unmount())
			m.Wait()
			if _, err := os.Lstat(m.Mountpoint()); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("reused mountpoint left after unmount: %v", err)
			}
			// Leave it behind again for the next round, with the
			// non-empty one beside it.
			must(t, os.Mkdir(filepath.Join(media, "MY DISC"), 0o700))
			must(t, os.WriteFile(filepath.Join(media, "MY DISC", "keep"), nil, 0o600))
		}
	}
}

// TestAutoMountpointHostileLabel: a label made to climb out of the media
// directory names a directory inside it.
func TestAutoMountpointHostileLabel(t *testing.T) {
	requireFUSE(t)
	place := autoPlace(t)
	img := labelledISO(t, "../../../../tmp/x")
	m, err := New(context.Background(), Options{Image: img, AutoPlace: place})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Unmount(); m.Wait() }()
	if filepath.Dir(m.Mountpoint()) != filepath.Join(place.MediaDir, "alice") {
		t.Errorf("mounted on %s: outside %s", m.Mountpoint(), filepath.Join(place.MediaDir, "alice"))
	}
}

// TestDaemonAutoMountpoint: a client asks the daemon for an automatic
// mountpoint; the response names it, and the directory goes away with
// the mount, whether the client unmounts or umount(8) does.
func TestDaemonAutoMountpoint(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	place := autoPlace(t)
	rd := startDaemon(t, DaemonOptions{Socket: sock, Template: Options{AutoPlace: place}})
	img := labelledISO(t, "DEMO")
	req := fmt.Sprintf(`{"version":1,"op":"mount","mount":{"image":%q,"auto_mountpoint":true}}`, img)
	var mps []string
	for range 2 {
		resp := call(t, sock, req)
		if !resp.OK || resp.Mount == nil {
			t.Fatalf("mount: %+v\n%s", resp.Error, rd.log)
		}
		mps = append(mps, resp.Mount.Mountpoint)
	}
	want := filepath.Join(place.MediaDir, "alice", "DEMO")
	if mps[0] != want || mps[1] != want+"-2" {
		t.Fatalf("mountpoints %q, want %s and %s-2", mps, want, want)
	}
	if got := readFile(t, filepath.Join(mps[0], "hello.txt")); got != "hello\n" {
		t.Errorf("hello.txt: %q", got)
	}
	resp := call(t, sock, `{"version":1,"op":"list"}`)
	if len(resp.Mounts) != 2 || resp.Mounts[0].Lookups == 0 || resp.Mounts[0].ReadDirs != 0 || resp.Mounts[1].Lookups != 0 {
		t.Errorf("list after a read from the first mount: %+v", resp.Mounts)
	}
	st, err := readState(StatePath(sock))
	if err != nil || len(st.Mounts) != 2 || !st.Mounts[0].Created || !st.Mounts[1].Created {
		t.Errorf("state file does not mark the automatic mountpoints as created: %+v %v", st, err)
	}
	if resp := call(t, sock, fmt.Sprintf(`{"version":1,"op":"unmount","mountpoint":%q}`, mps[0])); !resp.OK {
		t.Fatalf("unmount: %+v", resp.Error)
	}
	if _, err := os.Lstat(mps[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after the unmount request returned: %v", mps[0], err)
	}
	if out, err := exec.Command("umount", mps[1]).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	waitGone(t, mps[1])
}
