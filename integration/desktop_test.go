//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/internal/mountinfo"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/mounter"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// The desktop test drives what a user sees: a real file manager (Thunar)
// on a real X server (Xvfb) with a D-Bus session bus, all run as a normal
// user created for the test.
//
// Thunar rather than PCManFM: Thunar's side pane lists the mounts GIO
// reports, with an eject button (PCManFM 1.3 lists no local mount that has
// no udisks volume, so an isofsd mount never shows in it), and the custom
// actions `desktop install` adds are Thunar's (uca.xml). It runs in a bare
// session: its settings daemon (xfconfd) is started by D-Bus activation.

// desktopWait bounds each wait for the desktop to react (a window to come
// up, a mount to appear or go): generous, since the machine may be busy.
const desktopWait = 90 * time.Second

// desktopSession is a normal user's desktop session: the user (isoxh…)
// with a home, a runtime directory and /media/USER of its own, a private
// mount namespace, Xvfb, a session bus and a notification recorder.
//
// The mount namespace is there for /dev/fuse: a machine without udev (a
// container, a VM started without it) leaves it 0600, and fusermount3
// opens it with the user's rights. The session gets a node of its own for
// the same device, 0666 as Debian's udev rule makes it, bound over
// /dev/fuse in its namespace only: nothing outside changes, and every
// mount made in the session vanishes with it.
type desktopSession struct {
	t                               *testing.T
	name                            string
	user                            *isotest.User
	uid, gid                        int
	base, home, runtime, media, bin string
	isofsd                          string
	leader                          *exec.Cmd
	display                         string
	notifications                   string
	artifacts                       string
}

func newDesktopSession(t *testing.T) *desktopSession {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the desktop test creates a user")
	}
	isotest.RequireFUSE(t)
	for _, tool := range []string{"useradd", "userdel", "unshare", "nsenter", "setpriv", "mknod", "Xvfb", "dbus-daemon",
		"thunar", "xdotool", "import", "xdg-mime", "xdg-open", "gio", "xorriso", "script", "umount"} {
		isotest.RequireTool(t, tool)
	}
	s := &desktopSession{t: t}
	var err error
	if s.base, err = os.MkdirTemp("", "isofsd-desktop-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s.base) })
	must(t, os.Chmod(s.base, 0o755))

	s.home = filepath.Join(s.base, "home")
	u := isotest.NewUser(t, "isoxh", isotest.UserOptions{Home: s.home})
	s.name, s.uid, s.gid = u.Name, u.UID, u.GID
	s.user = u

	s.runtime = filepath.Join(s.base, "run")
	s.bin = filepath.Join(s.base, "bin")
	s.media = filepath.Join("/media", s.name)
	for _, d := range []struct {
		path string
		mode os.FileMode
		own  bool
	}{{s.runtime, 0o700, true}, {s.bin, 0o755, false}, {filepath.Join(s.base, "dev"), 0o755, false}, {s.media, 0o700, true}} {
		must(t, os.MkdirAll(d.path, d.mode))
		must(t, os.Chmod(d.path, d.mode))
		if d.own {
			must(t, os.Chown(d.path, s.uid, s.gid))
		}
	}
	// /media/USER as udisks makes it, but owned by the user: where a
	// user may create mountpoints (udisks' own is root's, with an ACL).
	t.Cleanup(func() { os.RemoveAll(s.media) })

	s.isofsd = filepath.Join(s.bin, "isofsd")
	copyFile(t, isofsdBin, s.isofsd, 0o755)
	rec := filepath.Join(s.bin, "notifyrecorder")
	if out, err := exec.Command("go", "build", "-o", rec, "./testdata/notifyrecorder").CombinedOutput(); err != nil {
		t.Fatalf("go build notifyrecorder: %v\n%s", err, out)
	}

	s.artifacts = os.Getenv("ISOFSD_TEST_ARTIFACTS")
	if s.artifacts == "" {
		s.artifacts = t.TempDir()
		t.Logf("screenshots in %s (removed after the test; set ISOFSD_TEST_ARTIFACTS=DIR to keep them)", s.artifacts)
	} else {
		s.artifacts = filepath.Join(s.artifacts, t.Name())
		must(t, os.MkdirAll(s.artifacts, 0o755))
		t.Logf("screenshots in %s", s.artifacts)
	}

	s.startNamespace()
	s.startX()
	bus := filepath.Join(s.runtime, "bus")
	s.start("dbus-daemon", "--session", "--nofork", "--nopidfile", "--address=unix:path="+bus)
	s.waitFor("the session bus socket", func() bool { _, err := os.Stat(bus); return err == nil })
	s.notifications = filepath.Join(s.runtime, "notifications.jsonl")
	recorder := s.as(rec, s.notifications)
	out, err := recorder.StdoutPipe()
	must(t, err)
	must(t, recorder.Start())
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("notification recorder: %q %v", line, err)
	}
	return s
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, mode))
	must(t, os.Chmod(to, mode))
}

// startNamespace starts the namespace's first process (as root): it
// mounts a small tmpfs, makes a FUSE device node there and binds it over
// /dev/fuse, then sleeps until the test ends.
func (s *desktopSession) startNamespace() {
	var st syscall.Stat_t
	must(s.t, syscall.Stat(mounter.FuseDevice, &st))
	dev := filepath.Join(s.base, "dev")
	script := fmt.Sprintf(`set -e
mount -t tmpfs -o mode=0755,size=64k isofsd-test-dev %[1]s
mknod -m 0666 %[1]s/fuse c %[2]d %[3]d
mount --bind %[1]s/fuse %[4]s
echo ready
exec sleep 100000`, dev, unix.Major(st.Rdev), unix.Minor(st.Rdev), mounter.FuseDevice)
	s.leader = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	out, err := s.leader.StdoutPipe()
	must(s.t, err)
	var stderr bytes.Buffer
	s.leader.Stderr = &stderr
	must(s.t, s.leader.Start())
	s.t.Cleanup(func() { s.leader.Process.Kill(); s.leader.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		s.t.Fatalf("mount namespace: %q %s", line, stderr.String())
	}
}

// env is the user's environment: what a login session would give.
func (s *desktopSession) env() []string {
	e := []string{"HOME=" + s.home, "USER=" + s.name, "LOGNAME=" + s.name, "SHELL=/bin/sh",
		"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "XDG_RUNTIME_DIR=" + s.runtime,
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(s.runtime, "bus"),
		// No accessibility bus: it is not part of what is tested.
		"NO_AT_BRIDGE=1"}
	if s.display != "" {
		e = append(e, "DISPLAY="+s.display)
	}
	return e
}

// as prepares argv to run as the user in the session's namespace.
func (s *desktopSession) as(argv ...string) *exec.Cmd {
	args := []string{"--mount=/proc/" + strconv.Itoa(s.leader.Process.Pid) + "/ns/mnt", "--",
		"setpriv", "--reuid=" + strconv.Itoa(s.uid), "--regid=" + strconv.Itoa(s.gid), "--init-groups", "--",
		"env", "-i"}
	args = append(append(args, s.env()...), argv...)
	cmd := exec.Command("nsenter", args...)
	cmd.Dir = s.home
	return cmd
}

// start starts argv in the background for the whole session, its output
// in a log under the runtime directory.
func (s *desktopSession) start(argv ...string) *exec.Cmd {
	cmd := s.as(argv...)
	log, err := os.Create(filepath.Join(s.base, filepath.Base(argv[0])+".log"))
	must(s.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	must(s.t, cmd.Start())
	log.Close()
	s.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// run runs argv as the user and returns its output (stdout and stderr,
// through a file: what it starts may keep a pipe open for hours) and
// error.
func (s *desktopSession) run(argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), desktopWait)
	defer cancel()
	cmd := s.as(argv...)
	out, err := os.CreateTemp(s.base, "out-")
	must(s.t, err)
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	must(s.t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Kill()
		err = fmt.Errorf("%v: still running after %v", <-done, desktopWait)
	}
	b, _ := os.ReadFile(out.Name())
	return string(b), err
}

// mustRun runs argv as the user and fails the test if it fails.
func (s *desktopSession) mustRun(argv ...string) string {
	s.t.Helper()
	out, err := s.run(argv...)
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return out
}

// startX starts Xvfb, which picks a free display (-displayfd); a machine
// where it cannot start skips the test.
func (s *desktopSession) startX() {
	r, w, err := os.Pipe()
	must(s.t, err)
	cmd := s.as("Xvfb", "-displayfd", "3", "-screen", "0", "1024x768x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		s.t.Skipf("Xvfb cannot start: %v", err)
	}
	w.Close()
	s.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case n := <-got:
		if n == "" {
			s.t.Skipf("Xvfb cannot start: %s", stderr.String())
		}
		s.display = ":" + n
	case <-time.After(desktopWait):
		s.t.Skipf("Xvfb cannot start: no display after %v: %s", desktopWait, stderr.String())
	}
}

// waitFor polls cond until it holds, failing the test after desktopWait.
func (s *desktopSession) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(desktopWait)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %v for %s", desktopWait, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mounts reads the session's mount table.
func (s *desktopSession) mounts() []mountinfo.Entry {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(s.leader.Process.Pid), "mountinfo"))
	must(s.t, err)
	defer f.Close()
	ms, err := mountinfo.Parse(f)
	must(s.t, err)
	return ms
}

// mountedAt returns the isofsd mount on mp in the session, if any.
func (s *desktopSession) mountedAt(mp string) (mountinfo.Entry, bool) {
	for _, m := range s.mounts() {
		if m.MountPoint == mp && m.FSType == mounter.FSType {
			return m, true
		}
	}
	return mountinfo.Entry{}, false
}

// procs lists the user's processes whose executable is exe ("" for all).
func (s *desktopSession) procs(exe string) []int {
	var out []int
	for _, pid := range s.user.Procs() {
		if exe != "" {
			if p, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); err != nil || p != exe {
				continue
			}
		}
		out = append(out, pid)
	}
	return out
}

// screenshot saves the whole screen as name.
func (s *desktopSession) screenshot(name string) {
	s.t.Helper()
	shot := filepath.Join(s.runtime, name)
	s.mustRun("import", "-window", "root", shot)
	copyFile(s.t, shot, filepath.Join(s.artifacts, name), 0o644)
}

// notified returns the notifications received so far.
func (s *desktopSession) notified() []map[string]any {
	b, _ := os.ReadFile(s.notifications)
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var n map[string]any
		if json.Unmarshal(line, &n) == nil {
			out = append(out, n)
		}
	}
	return out
}

// windows lists the names of the visible windows whose name matches re.
func (s *desktopSession) windows(re string) []string {
	out, err := s.run("xdotool", "search", "--onlyvisible", "--name", re)
	if err != nil {
		return nil
	}
	var names []string
	for _, id := range strings.Fields(out) {
		if n, err := s.run("xdotool", "getwindowname", id); err == nil {
			names = append(names, strings.TrimSpace(n))
		}
	}
	return names
}

// daemonMounts asks the user's daemon what it serves.
func (s *desktopSession) daemonMounts() []ctlproto.MountStatus {
	s.t.Helper()
	var ms []ctlproto.MountStatus
	must(s.t, json.Unmarshal([]byte(s.mustRun(s.isofsd, "list", "--json")), &ms))
	return ms
}

// TestDesktopDoubleClick goes through what a user does: install the
// desktop integration, double-click an image (xdg-open), see the file
// manager show it, open a file from it, eject it (gio mount -u runs
// umount) — first with the user's isofsd daemon running, then without
// one — and uninstall.
func TestDesktopDoubleClick(t *testing.T) {
	s := newDesktopSession(t)

	// A demo image, readable by the user.
	src := filepath.Join(s.base, "src")
	readme := []byte("hello from an ISO\nopened through the desktop: ünïcödé ✓\n")
	must(t, os.MkdirAll(filepath.Join(src, "docs"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "readme.txt"), readme, 0o644))
	must(t, os.WriteFile(filepath.Join(src, "docs", "guide.txt"), []byte("guide\n"), 0o644))
	img := filepath.Join(s.base, "demo.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "DEMO", "-o", img, src)
	must(t, os.Chmod(img, 0o644))
	mp := filepath.Join(s.media, "DEMO")

	// The user's choices this test relies on: Thunar shows folders, and
	// a test viewer, which records the bytes it is given, opens text.
	viewerOut := filepath.Join(s.runtime, "viewer.out")
	viewer := filepath.Join(s.bin, "viewer")
	must(t, os.WriteFile(viewer, []byte("#!/bin/sh\ncat \"$1\" > "+viewerOut+".tmp && mv "+viewerOut+".tmp "+viewerOut+"\n"), 0o755))
	apps := filepath.Join(s.home, ".local", "share", "applications")
	s.mustRun("mkdir", "-p", apps)
	entry := filepath.Join(apps, "isoxh-viewer.desktop")
	must(t, os.WriteFile(entry, []byte("[Desktop Entry]\nType=Application\nName=Test Viewer\nExec="+viewer+" %f\nMimeType=text/plain;\n"), 0o644))
	must(t, os.Chown(entry, s.uid, s.gid))
	s.mustRun("xdg-mime", "default", "isoxh-viewer.desktop", "text/plain")
	s.mustRun("xdg-mime", "default", "thunar.desktop", "inode/directory")

	// Step 1: install; isofsd is the default for disc images.
	installOut := s.mustRun(s.isofsd, "desktop", "install", "--user", "--default")
	t.Logf("desktop install:\n%s", installOut)
	for _, typ := range []string{"application/x-cd-image", "application/x-iso9660-image"} {
		if got := strings.TrimSpace(s.mustRun("xdg-mime", "query", "default", typ)); got != "isofsd.desktop" {
			t.Fatalf("xdg-mime query default %s = %q, want isofsd.desktop", typ, got)
		}
	}

	// The user's daemon (its socket is the default one in the user's
	// runtime directory: what isofsd open finds).
	daemon := s.start(s.isofsd, "daemon")
	s.waitFor("the isofsd daemon", func() bool { _, err := s.run(s.isofsd, "status"); return err == nil })

	// Step 2: double-click.
	s.mustRun("xdg-open", img)
	s.waitFor("the mount on "+mp, func() bool { _, ok := s.mountedAt(mp); return ok })
	if m, _ := s.mountedAt(mp); m.Source != img {
		t.Errorf("mount source %q, want %s", m.Source, img)
	}
	s.waitFor("a Thunar window showing DEMO", func() bool { return slices.Contains(s.windows("DEMO"), "DEMO - Thunar") })
	var served ctlproto.MountStatus
	s.waitFor("the file manager to list the mount", func() bool {
		ms := s.daemonMounts()
		if len(ms) == 1 {
			served = ms[0]
		}
		return len(ms) == 1 && ms[0].ReadDirs > 0
	})
	t.Logf("the daemon served %s: %d listings, %d lookups", served.Mountpoint, served.ReadDirs, served.Lookups)
	if served.Mountpoint != mp || served.Image != img {
		t.Errorf("daemon serves %+v, want %s on %s", served, img, mp)
	}
	if gio := s.mustRun("gio", "mount", "-l"); !strings.Contains(gio, "file://"+mp) {
		t.Errorf("gio mount -l does not list %s:\n%s", mp, gio)
	}
	s.screenshot("step2-opened.png")
	s.waitFor("the mount notification", func() bool {
		for _, n := range s.notified() {
			if n["summary"] == "Mounted DEMO" && strings.Contains(fmt.Sprint(n["body"]), mp) {
				return true
			}
		}
		return false
	})

	// Step 3: open a file of the mount through the desktop.
	s.mustRun("xdg-open", filepath.Join(mp, "readme.txt"))
	s.waitFor("the viewer to receive readme.txt", func() bool { _, err := os.Stat(viewerOut); return err == nil })
	if got, _ := os.ReadFile(viewerOut); !bytes.Equal(got, readme) {
		t.Errorf("the viewer received %q, want %q", got, readme)
	}

	// Step 4: eject as a file manager does (gio runs umount).
	s.mustRun("gio", "mount", "-u", mp)
	s.waitFor(mp+" to be unmounted", func() bool { _, ok := s.mountedAt(mp); return !ok })
	s.waitFor(mp+" to be removed", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })
	if ms := s.daemonMounts(); len(ms) != 0 {
		t.Errorf("the daemon still serves %+v", ms)
	}
	s.screenshot("step4-ejected.png")

	// Run from a terminal, isofsd says what it did there and sends no
	// notification; `unmount IMAGE` finds the image's mount.
	before := len(s.notified())
	out := s.mustRun("script", "-qec", s.isofsd+" mount "+img+" && "+s.isofsd+" unmount "+img, "/dev/null")
	if !strings.Contains(out, mp) {
		t.Errorf("mount from a terminal printed %q, want %s", out, mp)
	}
	s.waitFor(mp+" to be removed after unmount IMAGE", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })
	if n := s.notified(); len(n) != before {
		t.Errorf("notifications sent for a command run in a terminal: %v", n[before:])
	}

	// Without a daemon: the mount is served by a process of its own,
	// which must be gone once the file manager ejects it.
	daemon.Process.Signal(syscall.SIGTERM)
	daemon.Wait()
	s.mustRun("xdg-open", img)
	s.waitFor("the standalone mount on "+mp, func() bool { _, ok := s.mountedAt(mp); return ok })
	if len(s.procs(s.isofsd)) != 1 {
		t.Errorf("isofsd processes of the user: %v, want the one serving the mount", s.procs(s.isofsd))
	}
	s.waitFor("a Thunar window showing DEMO", func() bool { return slices.Contains(s.windows("DEMO"), "DEMO - Thunar") })
	s.mustRun("gio", "mount", "-u", mp)
	s.waitFor(mp+" to be unmounted", func() bool { _, ok := s.mountedAt(mp); return !ok })
	s.waitFor(mp+" to be removed", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })
	s.waitFor("no isofsd process left", func() bool { return len(s.procs(s.isofsd)) == 0 })

	// The right-click actions, run as a file manager runs them (the Exec
	// lines of the installed entry, %f replaced by the file), each
	// reporting by notification.
	installed, err := os.ReadFile(filepath.Join(apps, "isofsd.desktop"))
	must(t, err)
	action := func(id, file string) {
		t.Helper()
		_, rest, _ := strings.Cut(string(installed), "[Desktop Action "+id+"]\n")
		_, line, _ := strings.Cut(rest, "\nExec=")
		line, _, _ = strings.Cut(line, "\n")
		argv := strings.Fields(strings.ReplaceAll(line, "%f", file)) // no blanks in these paths
		if out, err := s.run(argv...); err != nil {
			t.Logf("action %s: %v\n%s", id, err, out)
		}
	}
	notifiedWith := func(summary string) func() bool {
		return func() bool {
			for _, n := range s.notified() {
				if n["summary"] == summary {
					return true
				}
			}
			return false
		}
	}
	// isomd5sum needs a few MB for its fragment sums (checkisomd5 fails
	// its own tiny images too).
	bigSrc := filepath.Join(s.base, "bigsrc")
	must(t, os.MkdirAll(bigSrc, 0o755))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 2654435761 >> 13)
	}
	must(t, os.WriteFile(filepath.Join(bigSrc, "big.bin"), big, 0o644))
	checked := filepath.Join(s.base, "checked.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-V", "CHECKED", "-o", checked, bigSrc)
	must(t, os.Chmod(checked, 0o644))
	if out, err := exec.Command("implantisomd5", checked).CombinedOutput(); err != nil {
		t.Fatalf("implantisomd5: %v\n%s", err, out)
	}
	action("Verify", checked)
	s.waitFor("the Verify notification", notifiedWith("Verified checked.iso"))
	action("Verify", img)
	s.waitFor("the failed Verify notification", notifiedWith("isofsd verify failed"))
	action("Mount", img)
	s.waitFor("the Mount action's mount", func() bool { _, ok := s.mountedAt(mp); return ok })
	action("Unmount", img)
	s.waitFor("the Unmount notification", notifiedWith("Unmounted"))
	s.waitFor(mp+" to be removed after the Unmount action", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })

	// An image on a web server opens the same way (served by a process of
	// its own: the daemon is not handed remote images).
	web := nginxtest.Start(t, s.base)
	s.mustRun(s.isofsd, "open", web.URL("demo.iso"))
	s.waitFor("the remote mount on "+mp, func() bool { m, ok := s.mountedAt(mp); return ok && m.Source == web.URL("demo.iso") })
	s.waitFor("a Thunar window showing the remote DEMO", func() bool { return slices.Contains(s.windows("DEMO"), "DEMO - Thunar") })
	s.mustRun("gio", "mount", "-u", mp)
	s.waitFor(mp+" to be removed", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })
	s.waitFor("no isofsd process left", func() bool { return len(s.procs(s.isofsd)) == 0 })

	// Uninstall: what install wrote is gone, and disc images have no
	// default handler again.
	un := s.mustRun(s.isofsd, "desktop", "uninstall", "--user")
	for _, line := range strings.Split(installOut, "\n") {
		if p, ok := strings.CutPrefix(line, "wrote "); ok {
			if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s left after uninstall: %v", p, err)
			}
		}
	}
	if got := strings.TrimSpace(s.mustRun("xdg-mime", "query", "default", "application/x-cd-image")); got == "isofsd.desktop" {
		t.Errorf("isofsd still the default after uninstall:\n%s", un)
	}
}

// TestDesktopDownloadsWatch: the opt-in user service watching ~/Downloads
// (the unit `service install --systemd --user --watch ~/Downloads
// --mount-root /media/$USER` writes, its command run as the user): a
// browser-style download (an empty placeholder, the data in NAME.part,
// then a rename) mounts itself under /media/USER, where GIO lists it and
// Thunar shows it in its side pane; deleting the file unmounts it and
// removes the mountpoint.
func TestDesktopDownloadsWatch(t *testing.T) {
	s := newDesktopSession(t)
	downloads := filepath.Join(s.home, "Downloads")
	s.mustRun("mkdir", "-p", downloads)
	s.mustRun(s.isofsd, "service", "install", "--systemd", "--user", "--watch", downloads, "--mount-root", s.media)
	unit, err := os.ReadFile(filepath.Join(s.home, ".config", "systemd", "user", "isofsd.service"))
	must(t, err)
	var execStart []string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(v) // the paths here hold no blanks
		}
	}
	if !slices.Equal(execStart, []string{s.isofsd, "daemon", "--watch", downloads, "--mount-root", s.media}) {
		t.Fatalf("ExecStart %q", execStart)
	}
	s.start(execStart...)
	s.waitFor("the isofsd daemon", func() bool { _, err := s.run(s.isofsd, "status"); return err == nil })

	src := filepath.Join(s.base, "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "hello.txt"), []byte("downloaded\n"), 0o644))
	img := filepath.Join(s.base, "distro.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-V", "DISTRO", "-o", img, src)
	must(t, os.Chmod(img, 0o644))
	s.mustRun("touch", filepath.Join(downloads, "distro-12.iso"))
	s.mustRun("cp", img, filepath.Join(downloads, "distro-12.iso.part"))
	s.mustRun("mv", filepath.Join(downloads, "distro-12.iso.part"), filepath.Join(downloads, "distro-12.iso"))
	mp := filepath.Join(s.media, "distro-12")
	s.waitFor("the download mounted on "+mp, func() bool { _, ok := s.mountedAt(mp); return ok })
	if gio := s.mustRun("gio", "mount", "-l"); !strings.Contains(gio, "file://"+mp) {
		t.Errorf("gio mount -l does not list %s:\n%s", mp, gio)
	}
	s.start("thunar", s.home)
	s.waitFor("a Thunar window", func() bool { return len(s.windows("Thunar")) > 0 })
	s.screenshot("downloads-watched.png")

	s.mustRun("rm", filepath.Join(downloads, "distro-12.iso"))
	s.waitFor(mp+" to be unmounted", func() bool { _, ok := s.mountedAt(mp); return !ok })
	s.waitFor(mp+" to be removed", func() bool { _, err := os.Lstat(mp); return errors.Is(err, os.ErrNotExist) })
	if log, _ := os.ReadFile(filepath.Join(s.base, "isofsd.log")); strings.Contains(string(log), "not mounted") {
		t.Errorf("the daemon tried to mount the placeholder:\n%s", log)
	}
}
