//go:build linux

package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/isofmt/s3src/s3test"
)

// fleetSize is how many images TestFleetDaemon watches: enough for
// per-mount costs to show, cheap enough for CI, and far below
// fusermount3's mount_max (1000 FUSE mounts on the whole machine, by
// default), which the non-root mounts of tests running beside this one
// count against. .ci/bench-fleet.sh measures 1000, raising the limit
// while it runs.
const fleetSize = 200

// TestFleetDaemon runs the daemon on a folder of fleetSize images and a
// URL list naming images on nginx and in SeaweedFS: all are mounted by
// READY, each mount serves its image, a find sees every file of every
// mount, a URL taken off the list is unmounted and a new one mounted,
// and SIGTERM unmounts everything and exits 0. The daemon's memory per
// idle mount is logged (the goal is ≤ 256 KiB; .ci/bench-fleet.sh
// measures it beside fuseiso).
func TestFleetDaemon(t *testing.T) {
	isotest.RequireFUSE(t)
	img := smallImage(t) // a.bin, b.bin, c.bin, tail.bin
	src := filepath.Join(filepath.Dir(img), "src")
	wantB, err := os.ReadFile(filepath.Join(src, "b.bin"))
	must(t, err)
	raw, err := os.ReadFile(img)
	must(t, err)
	dir := t.TempDir()
	watch, root := filepath.Join(dir, "images"), filepath.Join(dir, "mnt")
	must(t, os.Mkdir(watch, 0o755))
	for i := range fleetSize {
		must(t, os.WriteFile(filepath.Join(watch, fmt.Sprintf("img%03d.iso", i)), raw, 0o644))
	}
	www := t.TempDir()
	for _, n := range []string{"web1.iso", "web2.iso", "web3.iso"} {
		must(t, os.WriteFile(filepath.Join(www, n), raw, 0o644))
	}
	web := nginxtest.Start(t, www)
	srv := s3test.Shared(t)
	srv.MakeBucket(t, "fleet")
	srv.Put(t, "fleet", "releases/bucket1.iso", raw)
	srv.Setenv(t, s3test.Reader)
	list := filepath.Join(dir, "urls.txt")
	writeList := func(lines ...string) {
		t.Helper()
		must(t, os.WriteFile(list+".tmp", []byte("# remote images\n"+strings.Join(lines, "\n")+"\n"), 0o600))
		must(t, os.Rename(list+".tmp", list))
	}
	writeList(web.URL("web1.iso"), web.URL("web2.iso"), "s3://fleet/releases/bucket1.iso", "not a url")

	socket := filepath.Join(dir, "d.sock")
	p := startDaemonProc(t, socket, nil, "--watch", watch, "--mount-root", root, "--stable-for", "1ms",
		"--url-list", list, "--endpoint", srv.Endpoint)
	mounted := func() map[string]bool {
		out := map[string]bool{}
		all, err := os.ReadFile("/proc/self/mountinfo")
		must(t, err)
		for _, line := range strings.Split(string(all), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], root+"/") {
				out[filepath.Base(f[4])] = true
			}
		}
		return out
	}
	m := mounted()
	if len(m) != fleetSize+3 {
		t.Fatalf("%d mounts at READY, want %d (%d images and 3 URLs)\n%s", len(m), fleetSize+3, fleetSize, tail(p.log.String(), 40))
	}
	for _, name := range []string{"img000", fmt.Sprintf("img%03d", fleetSize-1), "web1", "web2", "bucket1"} {
		got, err := os.ReadFile(filepath.Join(root, name, "b.bin"))
		if err != nil || !bytes.Equal(got, wantB) {
			t.Errorf("%s/b.bin: %v (%d bytes)", name, err, len(got))
		}
	}
	if !strings.Contains(p.log.String(), "not a url") {
		t.Errorf("the bad line of the list was not reported:\n%s", tail(p.log.String(), 20))
	}
	rss := func() int64 {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
		must(t, err)
		var kb int64
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmRSS:") {
				fmt.Sscanf(strings.TrimPrefix(l, "VmRSS:"), "%d", &kb)
			}
		}
		return kb
	}
	t.Logf("daemon RSS with %d idle mounts: %d KiB (%d KiB per mount, the daemon's own share included)", len(m), rss(), rss()/int64(len(m)))

	// A find over the whole fleet.
	start := time.Now()
	files := 0
	must(t, filepathWalk(root, func(string) { files++ }))
	t.Logf("find over %d mounts: %d files in %v; RSS after %d KiB", len(m), files, time.Since(start), rss())
	if files != 4*(fleetSize+3) {
		t.Errorf("find saw %d files, want %d", files, 4*(fleetSize+3))
	}

	// The list changes: web2 goes, web3 comes.
	writeList(web.URL("web1.iso"), web.URL("web3.iso"), "s3://fleet/releases/bucket1.iso")
	deadline := time.Now().Add(30 * time.Second)
	for m = mounted(); m["web2"] || !m["web3"]; m = mounted() {
		if time.Now().After(deadline) {
			t.Fatalf("the list's change was not followed: web2 %v, web3 %v\n%s", m["web2"], m["web3"], tail(p.log.String(), 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(root, "web2")); err == nil {
		t.Error("the mountpoint of the removed URL is left behind")
	}

	// SIGTERM: everything unmounted, exit 0.
	must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	start = time.Now()
	if code := waitExit(t, p.cmd, 120*time.Second); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM\n%s", code, tail(p.log.String(), 20))
	}
	t.Logf("SIGTERM to exit with %d mounts: %v", len(m), time.Since(start))
	if left := mounted(); len(left) != 0 {
		t.Errorf("%d mounts left after SIGTERM", len(left))
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("%d mountpoints left under the mount root", len(ents))
	}
}

// filepathWalk calls file for every regular file under root, without
// following symlinks.
func filepathWalk(root string, file func(string)) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			file(p)
		}
		return nil
	})
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
