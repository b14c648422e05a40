//go:build linux

package mounter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIsImageName(t *testing.T) {
	for name, want := range map[string]bool{
		"a.iso": true, "B.ISO": true, "disk.img": true, "x.iso.part": false, ".hidden.iso": false,
		"iso": false, "a.txt": false, "a.Img": true,
	} {
		if IsImageName(name) != want {
			t.Errorf("IsImageName(%q) = %v", name, !want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 9: 256 * time.Second,
		10: 5 * time.Minute, 64: 5 * time.Minute, 1 << 30: 5 * time.Minute,
	} {
		if got := retryDelay(n); got != want {
			t.Errorf("retryDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool, log *testLog) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\n%s", what, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// listed reports whether the daemon serves mp (its mount has completed,
// unlike one merely visible in mountinfo).
func listed(d *Daemon, mp string) bool {
	for _, m := range d.List() {
		if m.Mountpoint == mp {
			return true
		}
	}
	return false
}

func mounted(mp string) bool {
	mi, ok, _ := FindMount(mp)
	return ok && mi.FSType == FSType
}

// TestWatchDir copies an image into the watched directory slowly, in
// chunks: it must be mounted only after the copy completes; a present-at-
// start image, a name collision and a broken image are handled; removing
// an image unmounts it.
func TestWatchDir(t *testing.T) {
	requireFUSE(t)
	for _, poll := range []bool{false, true} {
		t.Run(map[bool]string{false: "inotify", true: "poll"}[poll], func(t *testing.T) { testWatchDir(t, poll) })
	}
}

func testWatchDir(t *testing.T, poll bool) {
	dir := t.TempDir()
	watch := filepath.Join(dir, "watch")
	root := filepath.Join(dir, "mnt")
	os.Mkdir(watch, 0o755)
	src := filepath.Join(dir, "src.iso")
	makeISO(t, src, map[string]string{"big.bin": strings.Repeat("0123456789abcdef", 40000), "small.txt": "small\n"})
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// Present before the daemon starts.
	makeISO(t, filepath.Join(watch, "early.iso"), map[string]string{"e.txt": "early\n"})
	// Broken: must be retried and never stop the others.
	os.WriteFile(filepath.Join(watch, "broken.img"), []byte(strings.Repeat("junk", 5000)), 0o644)

	stable := 300 * time.Millisecond
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(dir, "ctl.sock"), Watch: watch, MountRoot: root, StableFor: stable, Poll: poll})
	// The image present at start is mounted before READY.
	if !mounted(filepath.Join(root, "early")) {
		t.Fatalf("early.iso not mounted at READY\n%s", rd.log)
	}
	if got := readFile(t, filepath.Join(root, "early", "e.txt")); got != "early\n" {
		t.Fatalf("early: %q", got)
	}

	// Copy slowly: chunks with pauses longer than nothing, shorter than
	// the stability window.
	dst := filepath.Join(watch, "slow.iso")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	chunk := len(data)/8 + 1
	mp := filepath.Join(root, "slow")
	// A loaded machine can stretch a pause past the window, and then the
	// file did look finished: the check holds only while every pause so
	// far was shorter than the window (and not after the last chunk).
	last, steady := time.Now(), true
	for off := 0; off < len(data); off += chunk {
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			t.Fatal(err)
		}
		steady = steady && time.Since(last) < stable
		last = time.Now()
		time.Sleep(stable / 2)
		if mounted(mp) && steady && time.Since(last) < stable && off+chunk < len(data) {
			t.Fatalf("mounted while still being copied (at %d of %d bytes)", off+chunk, len(data))
		}
	}
	f.Close()
	// Mounted already? Only legitimate once the file has been still for
	// the whole window since its last write.
	if since := time.Since(last); listed(rd.d, mp) && since < stable {
		t.Errorf("mounted %v after the last write; the stability window is %v", since, stable)
	}
	waitFor(t, 10*time.Second, "slow.iso mounted", func() bool { return listed(rd.d, mp) }, rd.log)
	if got := readFile(t, filepath.Join(mp, "big.bin")); got != strings.Repeat("0123456789abcdef", 40000) {
		t.Errorf("big.bin: %d bytes differ", len(got))
	}

	// A second image with the same base name gets a suffix.
	if err := os.WriteFile(filepath.Join(watch, "slow.img"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "slow.img mounted at slow-2", func() bool { return mounted(filepath.Join(root, "slow-2")) }, rd.log)

	// mountinfo shows a mount a moment before the daemon lists it.
	waitFor(t, 5*time.Second, "three mounts listed", func() bool { return len(rd.d.List()) == 3 }, rd.log)
	list := rd.d.List()
	for _, m := range list {
		if m.Origin != "watch" {
			t.Errorf("%s: origin %q", m.Mountpoint, m.Origin)
		}
	}
	if !strings.Contains(rd.log.String(), "broken.img") || !strings.Contains(rd.log.String(), "watched image not mounted") {
		t.Errorf("broken image failure not logged\n%s", rd.log)
	}
	if _, err := os.Stat(filepath.Join(root, "broken")); !os.IsNotExist(err) {
		t.Errorf("failed mount left its mountpoint: %v", err)
	}
	// Fixing the broken image gets it mounted without a restart.
	must(t, os.WriteFile(filepath.Join(watch, "broken.img.tmp"), data, 0o644))
	must(t, os.Rename(filepath.Join(watch, "broken.img.tmp"), filepath.Join(watch, "broken.img")))
	waitFor(t, 10*time.Second, "repaired broken.img mounted", func() bool { return mounted(filepath.Join(root, "broken")) }, rd.log)

	// Remove: unmounted, and the directory the daemon made is gone.
	if err := os.Remove(dst); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "slow.iso unmounted", func() bool { return !mounted(mp) }, rd.log)
	waitFor(t, 5*time.Second, "mountpoint removed", func() bool { _, err := os.Stat(mp); return os.IsNotExist(err) }, rd.log)
	if !mounted(filepath.Join(root, "slow-2")) || !mounted(filepath.Join(root, "early")) {
		t.Error("other watched mounts went away")
	}
	if resp := call(t, rd.d.Socket(), `{"version":1,"op":"status"}`); resp.Status == nil || resp.Status.Mounts != 3 || resp.Status.Watch != watch {
		t.Errorf("status: %+v", resp.Status)
	}
}

// TestWatchSkipsDownloadPlaceholder: a browser downloading NAME.iso
// into ~/Downloads leaves an empty NAME.iso while it writes NAME.iso.part,
// then renames the finished file over it. The empty file is not an image
// waiting to be mounted (no failed mount, no retries); the renamed one is
// mounted.
func TestWatchSkipsDownloadPlaceholder(t *testing.T) {
	requireFUSE(t)
	dir := t.TempDir()
	watch, root := filepath.Join(dir, "Downloads"), filepath.Join(dir, "media")
	must(t, os.Mkdir(watch, 0o755))
	part := filepath.Join(watch, "distro.iso.part")
	makeISO(t, part, map[string]string{"hello.txt": "downloaded\n"})
	must(t, os.WriteFile(filepath.Join(watch, "distro.iso"), nil, 0o644))
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(dir, "ctl.sock"), Watch: watch, MountRoot: root, StableFor: 100 * time.Millisecond})
	// READY comes after the scan of what is there at start.
	if resp := call(t, rd.d.Socket(), `{"version":1,"op":"status"}`); resp.Status == nil || resp.Status.Pending != 0 || resp.Status.Mounts != 0 {
		t.Errorf("status with only a placeholder: %+v", resp.Status)
	}
	must(t, os.Rename(part, filepath.Join(watch, "distro.iso")))
	mp := filepath.Join(root, "distro")
	waitFor(t, 10*time.Second, "the finished download mounted", func() bool { return listed(rd.d, mp) }, rd.log)
	if got := readFile(t, filepath.Join(mp, "hello.txt")); got != "downloaded\n" {
		t.Errorf("hello.txt: %q", got)
	}
	if strings.Contains(rd.log.String(), "watched image not mounted") {
		t.Errorf("the placeholder was mounted and failed:\n%s", rd.log)
	}
}
