//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/mounter"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// daemonProc is an `isofsd daemon` started by a test.
type daemonProc struct {
	cmd    *exec.Cmd
	socket string
	log    *isotest.SyncBuffer
}

// startDaemonProc starts the daemon on socket and returns once it
// reports READY; SIGTERM stops it when the test ends.
func startDaemonProc(t *testing.T, socket string, env []string, extra ...string) *daemonProc {
	t.Helper()
	cmd, log := startReady(t, env, append([]string{"daemon", "--socket", socket}, extra...)...)
	p := &daemonProc{cmd: cmd, socket: socket, log: log}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Signal(syscall.SIGTERM)
			waitExit(t, p.cmd, 30*time.Second)
		}
	})
	return p
}

// daemonMount asks the daemon to mount image on mp over the socket.
func daemonMount(t *testing.T, socket, image, mp string) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	must(t, err)
	defer c.Close()
	req := &ctlproto.Request{Op: ctlproto.OpMount, Mount: &ctlproto.MountRequest{Image: image, Mountpoint: mp}}
	if _, err := ctlproto.Call(c, bufio.NewReader(c), req); err != nil {
		t.Fatalf("mount %s: %v", image, err)
	}
}

// listJSON runs `isofsd list --json`.
func listJSON(t *testing.T, socket string) []ctlproto.MountStatus {
	t.Helper()
	out, code := run(t, "list", "--json", "--socket", socket)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, out)
	}
	var ms []ctlproto.MountStatus
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return ms
}

// threeMounts mounts the same image three times through the daemon.
func threeMounts(t *testing.T, p *daemonProc, img string) []string {
	t.Helper()
	var mps []string
	for range 3 {
		mp := newMountpoint(t)
		daemonMount(t, p.socket, img, mp)
		mps = append(mps, mp)
	}
	return mps
}

// TestDaemonBinarySIGTERM runs the real daemon with three mounts: list
// (table and JSON), status, unmount one through the CLI while the others
// keep serving, then SIGTERM unmounts the rest and exits 0.
func TestDaemonBinarySIGTERM(t *testing.T) {
	img := smallImage(t)
	socket := filepath.Join(t.TempDir(), "d.sock")
	p := startDaemonProc(t, socket, []string{"JOURNAL_STREAM=8:12345"})
	mps := threeMounts(t, p, img)
	want, err := os.ReadFile(filepath.Join(mps[0], "b.bin"))
	must(t, err)
	ms := listJSON(t, socket)
	if len(ms) != 3 {
		t.Fatalf("list: %+v", ms)
	}
	for _, m := range ms {
		if m.Image != img || m.Tree != "rockridge" || m.Since.IsZero() {
			t.Errorf("list entry %+v", m)
		}
	}
	table, code := run(t, "list", "--socket", socket)
	if code != 0 || !strings.Contains(table, "CACHE HITS") || strings.Count(table, img) != 3 {
		t.Errorf("list table (exit %d):\n%s", code, table)
	}
	if out, code := run(t, "status", "--socket", socket); code != 0 || !strings.Contains(out, "3 mount(s)") {
		t.Errorf("status (exit %d): %s", code, out)
	}
	// The control socket is private.
	st, err := os.Stat(socket)
	must(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v", st.Mode())
	}
	// A second daemon on the same socket refuses, exit 2.
	if out, code := run(t, "daemon", "--socket", socket); code != 2 || !strings.Contains(out, "another isofsd daemon") {
		t.Errorf("second daemon: exit %d: %s", code, out)
	}
	// Unmount one through the control socket; the others keep serving.
	c, err := net.Dial("unix", socket)
	must(t, err)
	if _, err := ctlproto.Call(c, bufio.NewReader(c), &ctlproto.Request{Op: ctlproto.OpUnmount, Mountpoint: mps[1]}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if isMounted(t, mps[1]) {
		t.Errorf("%s still mounted", mps[1])
	}
	for _, mp := range []string{mps[0], mps[2]} {
		got, err := os.ReadFile(filepath.Join(mp, "b.bin"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s stopped serving: %v", mp, err)
		}
	}
	// Under systemd (JOURNAL_STREAM set) lines carry no timestamp.
	if strings.Contains(p.log.String(), "time=") {
		t.Errorf("timestamps in journald mode:\n%s", p.log)
	}
	// A file held open: SIGTERM still takes the mount away (lazily)
	// and the daemon exits after a bounded wait.
	held, err := os.Open(filepath.Join(mps[2], "a.bin"))
	must(t, err)
	defer held.Close()
	must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	if code := waitExit(t, p.cmd, 30*time.Second); code != 0 {
		t.Errorf("daemon exit %d after SIGTERM\n%s", code, p.log)
	}
	if !strings.Contains(p.log.String(), "files still open on a detached mount") {
		t.Errorf("busy mount at shutdown not reported:\n%s", p.log)
	}
	for _, mp := range mps {
		if isMounted(t, mp) {
			t.Errorf("%s still mounted after SIGTERM", mp)
		}
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after SIGTERM: %v", err)
	}
}

// TestDaemonBinaryKill9Restart kills the daemon with SIGKILL: its mounts
// are left dead (ENOTCONN); a restarted daemon clears them.
func TestDaemonBinaryKill9Restart(t *testing.T) {
	img := smallImage(t)
	socket := filepath.Join(t.TempDir(), "d.sock")
	p := startDaemonProc(t, socket, nil)
	mps := threeMounts(t, p, img)
	t.Cleanup(func() {
		for _, mp := range mps {
			if isMounted(t, mp) {
				syscall.Unmount(mp, syscall.MNT_DETACH)
			}
		}
	})
	must(t, p.cmd.Process.Kill())
	p.cmd.Wait()
	for _, mp := range mps {
		if !isMounted(t, mp) {
			t.Fatalf("%s: mount vanished with the daemon; the test cannot show clearing", mp)
		}
		if _, err := os.Stat(filepath.Join(mp, "a.bin")); !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
			t.Fatalf("%s: want a dead mount, stat: %v", mp, err)
		}
	}
	if _, err := os.Stat(mounter.StatePath(socket)); err != nil {
		t.Fatalf("no state file after the crash: %v", err)
	}
	p2 := startDaemonProc(t, socket, nil)
	for _, mp := range mps {
		if isMounted(t, mp) {
			t.Errorf("%s: stale mount not cleared by the restarted daemon\n%s", mp, p2.log)
		}
	}
	if !strings.Contains(p2.log.String(), "stale control socket") || !strings.Contains(p2.log.String(), "left by a previous daemon") {
		t.Errorf("restart did not log the clean-up:\n%s", p2.log)
	}
	// The mountpoints are usable again.
	daemonMount(t, socket, img, mps[0])
	if _, err := os.Stat(filepath.Join(mps[0], "tail.bin")); err != nil {
		t.Error(err)
	}
}

// TestFstabMount mounts through a real fstab entry with util-linux
// mount(8) → mount.fuse3 → `isofsd IMAGE MOUNTPOINT -o opts`, with
// fstab-only options that must be ignored, then reads and unmounts.
//
// mount(8) drops PATH from the helper's environment, so /bin/sh in
// mount.fuse3 searches its default path (/usr/local/sbin first): the
// test runs in a private mount namespace where a directory holding the
// built isofsd is bind-mounted over /usr/local/sbin, leaving the host
// untouched.
func TestFstabMount(t *testing.T) {
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "mount")
	isotest.RequireTool(t, "unshare")
	if os.Geteuid() != 0 {
		t.Skip("mount -T and unshare need root")
	}
	if _, err := os.Stat("/sbin/mount.fuse3"); err != nil {
		isotest.RequireTool(t, "mount.fuse3")
	}
	if st, err := os.Stat("/usr/local/sbin"); err != nil || !st.IsDir() {
		t.Skip("/usr/local/sbin missing: nowhere to put isofsd on the helper's default PATH")
	}
	img := smallImage(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	must(t, os.Mkdir(bin, 0o755))
	must(t, os.Symlink(isofsdBin, filepath.Join(bin, "isofsd")))
	for _, tc := range []struct {
		name, opts string
		ok         bool
	}{
		{"fstab options", "ro,allow_other,nofail,_netdev,x-systemd.automount,x-systemd.device-timeout=5s,noauto,user,uid=1234,gid=99,umask=027,tree=iso9660", true},
		{"rw refused", "rw,nofail", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := newMountpoint(t)
			fstab := filepath.Join(dir, "fstab")
			must(t, os.WriteFile(fstab, []byte(fmt.Sprintf("# test\n%s %s fuse.isofsd %s 0 0\n", img, mp, tc.opts)), 0o644))
			script := `set -e
trap 'umount -l "$MP" 2>/dev/null || true' EXIT
mount --bind "$BIN" /usr/local/sbin
mount -T "$FSTAB" "$MP"
echo "MOUNTINFO $(grep -c " $MP .* - fuse.isofsd $IMG " /proc/self/mountinfo)"
echo "STAT $(stat -c '%u %g %a' "$MP/A.BIN")"
echo "SIZE $(wc -c < "$MP/TAIL.BIN")"
umount "$MP"
echo "AFTER $(grep -c " $MP " /proc/self/mountinfo || true)"
`
			cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
			cmd.Env = append(os.Environ(), "MP="+mp, "BIN="+bin, "FSTAB="+fstab, "IMG="+img)
			out, err := cmd.CombinedOutput()
			if !tc.ok {
				if err == nil || strings.Contains(string(out), "MOUNTINFO") {
					t.Fatalf("mount with %s succeeded: %s", tc.opts, out)
				}
				if !strings.Contains(string(out), "read-only") {
					t.Errorf("rw refusal not explained: %s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("mount -T: %v\n%s", err, out)
			}
			// tree=iso9660 shows plain ISO 9660 names (upper case);
			// uid, gid and umask apply since that tree has no owners.
			for _, want := range []string{"MOUNTINFO 1", "STAT 1234 99 440", fmt.Sprintf("SIZE %d", 1<<20), "AFTER 0"} {
				if !strings.Contains(string(out), want+"\n") {
					t.Errorf("want %q in:\n%s", want, out)
				}
			}
		})
	}
}

// TestMountIsofsdArgv0 runs the binary under the name mount(8) gives a
// helper for type isofsd: `mount.isofsd IMAGE DIR -n -o opts`.
func TestMountIsofsdArgv0(t *testing.T) {
	isotest.RequireFUSE(t)
	img := smallImage(t)
	link := filepath.Join(t.TempDir(), "mount.isofsd")
	must(t, os.Symlink(isofsdBin, link))
	mp := newMountpoint(t)
	out, err := exec.Command(link, img, mp, "-n", "-o", "ro,nofail,x-systemd.automount,bogus_option").CombinedOutput()
	if err != nil {
		t.Fatalf("mount.isofsd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if isMounted(t, mp) {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
	if !strings.Contains(string(out), `ignoring unknown mount option "bogus_option"`) {
		t.Errorf("unknown option not reported: %s", out)
	}
	if _, err := os.Stat(filepath.Join(mp, "c.bin")); err != nil {
		t.Fatal(err)
	}
	if out, code := run(t, "unmount", mp); code != 0 {
		t.Fatalf("unmount: %s", out)
	}
}

// TestDaemonBinarySystemdNotify runs the daemon as systemd would, with
// NOTIFY_SOCKET: READY=1 arrives once the socket answers and the watch
// directory's images are mounted, STOPPING=1 on SIGTERM.
func TestDaemonBinarySystemdNotify(t *testing.T) {
	img := smallImage(t)
	dir := t.TempDir()
	watch := filepath.Join(dir, "watch")
	root := filepath.Join(dir, "media")
	must(t, os.Mkdir(watch, 0o755))
	must(t, os.Link(img, filepath.Join(watch, "disc.iso")))
	notify := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	must(t, err)
	defer conn.Close()
	socket := filepath.Join(dir, "d.sock")
	isotest.RequireFUSE(t)
	cmd := exec.Command(isofsdBin, "daemon", "--socket", socket, "--watch", watch, "--mount-root", root, "--stable-for", "100ms")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	must(t, cmd.Start())
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	next := func() string {
		buf := make([]byte, 4096)
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, log.String())
		}
		return string(buf[:n])
	}
	if got := next(); !strings.Contains(got, "READY=1") {
		t.Fatalf("first notification %q", got)
	}
	// At READY the image already there is mounted and the socket answers.
	mp := filepath.Join(root, "disc")
	if !isMounted(t, mp) {
		t.Errorf("%s not mounted at READY\n%s", mp, log.String())
	}
	if out, code := run(t, "status", "--socket", socket); code != 0 || !strings.Contains(out, "watching "+watch) {
		t.Errorf("status at READY (exit %d): %s", code, out)
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if got := next(); !strings.Contains(got, "STOPPING=1") {
		t.Errorf("notification after SIGTERM %q", got)
	}
	if code := waitExit(t, cmd, 30*time.Second); code != 0 {
		t.Errorf("exit %d\n%s", code, log.String())
	}
	if isMounted(t, mp) {
		t.Errorf("%s still mounted after SIGTERM", mp)
	}
	if _, err := os.Stat(mp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mountpoint the daemon created is left behind: %v", err)
	}
}

// TestSystemdTemplateExecStart plays systemd for the generated
// isofsd@.service: it expands the ExecStart specifiers for the instance
// `systemd-escape --path IMAGE`, creates the RuntimeDirectory, runs the
// command with NOTIFY_SOCKET, and expects READY=1 with the image mounted,
// then SIGTERM to unmount it (what `systemctl stop` does).
func TestSystemdTemplateExecStart(t *testing.T) {
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "systemd-escape")
	img := smallImage(t)
	units, err := mounter.SystemdUnits(mounter.ServiceOptions{Binary: isofsdBin})
	must(t, err)
	var exec0 string
	for _, l := range strings.Split(units[mounter.SystemdTemplateUnit], "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec0 = v
		}
	}
	esc, err := exec.Command("systemd-escape", "--path", img).Output()
	must(t, err)
	inst := strings.TrimSpace(string(esc))
	runtimeDir := t.TempDir()
	// The binary path has no spaces or quotes (checked by the unit
	// tests), so splitting on blanks is systemd's splitting here.
	var argv []string
	for _, w := range strings.Fields(exec0) {
		w = strings.NewReplacer("%f", img, "%t", runtimeDir, "%i", inst).Replace(w)
		argv = append(argv, w)
	}
	mp := filepath.Join(runtimeDir, "isofsd-mount", inst)
	if argv[len(argv)-1] != mp || argv[len(argv)-2] != img {
		t.Fatalf("ExecStart %q expands to %q", exec0, argv)
	}
	must(t, os.MkdirAll(mp, 0o755)) // RuntimeDirectory=
	notify := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	must(t, err)
	defer conn.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
	must(t, cmd.Start())
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	}()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
		t.Fatalf("no READY=1 (%q, %v)\n%s", buf[:n], err, log.String())
	}
	if !isMounted(t, mp) {
		t.Fatalf("READY before the mount appeared\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join(mp, "tail.bin")); err != nil {
		t.Error(err)
	}
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	if code := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Errorf("exit %d after SIGTERM\n%s", code, log.String())
	}
	if isMounted(t, mp) {
		t.Error("still mounted after SIGTERM")
	}
}

// TestDaemonMountFlags: `isofsd mount --daemon` hands the per-mount flags
// to the daemon. --xattr and --direct-io used to be dropped there, so a
// mount made through a running daemon silently had neither.
func TestDaemonMountFlags(t *testing.T) {
	img := smallImage(t)
	p := startDaemonProc(t, filepath.Join(t.TempDir(), "ctl.sock"), nil)
	mp := newMountpoint(t)
	if out, code := run(t, "mount", "--daemon", "--socket", p.socket, "--xattr", "--direct-io", img, mp); code != 0 {
		t.Fatalf("mount --daemon: exit %d: %s\n%s", code, out, p.log)
	}
	defer run(t, "unmount", "--socket", p.socket, mp)
	a := filepath.Join(mp, "a.bin")
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(a, "user.isofsd.lba", buf); err != nil || n == 0 {
		t.Errorf("getxattr user.isofsd.lba through the daemon's mount: %d bytes, %v", n, err)
	}
	var st syscall.Stat_t
	must(t, syscall.Stat(a, &st))
	if st.Blksize != 1<<20 {
		t.Errorf("a.bin (1 MiB) st_blksize %d through the daemon's mount: want 1 MiB (direct I/O)", st.Blksize)
	}
}

// openFDs lists the descriptors of process pid with what they point at.
func openFDs(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	must(t, err)
	var out []string
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed while we looked
		}
		out = append(out, e.Name()+" -> "+target)
	}
	return out
}

// settledFDs is openFDs once two looks 100 ms apart agree (at most 5 s):
// the daemon closes a control connection a moment after answering, and a
// look in that moment counts a descriptor on its way out.
func settledFDs(t *testing.T, pid int) []string {
	t.Helper()
	last := openFDs(t, pid)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		cur := openFDs(t, pid)
		if slices.Equal(cur, last) {
			return cur
		}
		last = cur
	}
	return last
}

// TestDaemonNoLeakedFDs: after mounts come and go, the daemon holds no
// more descriptors than before (each mount opens the image, the mountpoint
// and a FUSE connection; a leak would grow with every mount), as
// gocryptfs checks of its own process.
func TestDaemonNoLeakedFDs(t *testing.T) {
	img := smallImage(t)
	socket := filepath.Join(t.TempDir(), "d.sock")
	p := startDaemonProc(t, socket, nil)
	cycle := func() {
		for _, mp := range threeMounts(t, p, img) {
			if _, err := os.ReadFile(filepath.Join(mp, "b.bin")); err != nil {
				t.Fatal(err)
			}
			if out, code := run(t, "unmount", "--socket", socket, mp); code != 0 {
				t.Fatalf("unmount %s: exit %d %s", mp, code, out)
			}
		}
	}
	// The first round lets the runtime and go-fuse open what they keep
	// for good (epoll, splice pipes).
	cycle()
	before := settledFDs(t, p.cmd.Process.Pid)
	for range 3 {
		cycle()
	}
	if after := settledFDs(t, p.cmd.Process.Pid); len(after) > len(before) {
		t.Errorf("the daemon held %d descriptors before three rounds of three mounts and %d after:\nbefore %v\nafter  %v",
			len(before), len(after), before, after)
	}
}

// TestDaemonRefusalOneAnswer (review U4): a user pointed at root's daemon
// — its socket 0600, so connecting is not permitted, or 0666, so the
// daemon itself turns the user away — gets the same answer from every
// command: "isofsd daemon on SOCKET will not serve you: REASON", exit 2.
// Before, status said "uid N may not control this daemon" (exit 1), list
// "write: broken pipe", unmount --all silently "0 unmounted" (exit 0), and
// the root-only socket "no isofsd daemon … permission denied".
func TestDaemonRefusalOneAnswer(t *testing.T) {
	isotest.RequireFUSE(t)
	u := isotest.NewUser(t, deskUserPrefix)
	dir := sharedDir(t)
	img := filepath.Join(dir, "small.iso")
	copyFile(t, smallImage(t), img, 0o644)
	socket := filepath.Join(dir, "d.sock")
	startDaemonProc(t, socket, nil)
	rootMP := filepath.Join(dir, "roots")
	mkdirOwned(t, rootMP, nil, 0o755)
	daemonMount(t, socket, img, rootMP)
	userMP := filepath.Join(dir, "users")
	mkdirOwned(t, userMP, u, 0o755)
	unmountCleanup(t, userMP)
	want := "isofsd daemon on " + socket + " will not serve you: "
	for _, tc := range []struct {
		mode   os.FileMode
		reason string
	}{{0o600, "connecting is not permitted"}, {0o666, "may not control this daemon"}} {
		must(t, os.Chmod(socket, tc.mode))
		for _, args := range [][]string{
			{"status"}, {"status", "--json"}, {"list"}, {"unmount", "--all"}, {"unmount", rootMP},
			{"mount", "--daemon", img, userMP}, {"mount", img, userMP},
		} {
			out, code := u.RunEnv(t, []string{"ISOFSD_SOCKET=" + socket}, isofsdBin, args...)
			t.Logf("socket %04o: isofsd %s: exit %d: %s", tc.mode, strings.Join(args, " "), code, strings.TrimSpace(out))
			if code != 2 || !strings.Contains(out, want) || !strings.Contains(out, tc.reason) {
				t.Errorf("socket %04o: isofsd %s as %s: exit %d, want 2 with %q…%q:\n%s", tc.mode, strings.Join(args, " "), u.Name, code, want, tc.reason, out)
			}
		}
	}
	if !isMounted(t, rootMP) {
		t.Error("the daemon's mount is gone")
	}
	if isMounted(t, userMP) {
		t.Error("the user's mount was made around the daemon")
	}
}
