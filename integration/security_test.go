//go:build linux

package integration

// Regression tests for issue 16's mount holes, each played by a real
// second user against the real binary.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// vfsOptions returns the per-mount options the kernel shows for mp
// (findmnt, an oracle independent of our mountinfo parser), or "" when
// nothing is mounted there.
func vfsOptions(t testing.TB, mp string) string {
	t.Helper()
	isotest.RequireTool(t, "findmnt")
	out, err := exec.Command("findmnt", "-n", "-o", "VFS-OPTIONS", "--mountpoint", mp).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// hasOptions reports whether the comma-separated list opts holds every
// one of want.
func hasOptions(opts string, want ...string) bool {
	have := map[string]bool{}
	for _, o := range strings.Split(opts, ",") {
		have[o] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

// unmountCleanup unmounts mp when the test ends; failing to is an error.
func unmountCleanup(t testing.TB, mp string) {
	t.Cleanup(func() {
		if !isMounted(t, mp) {
			return
		}
		if out, code := run(t, "unmount", "--standalone", mp); code != 0 {
			t.Errorf("unmount %s: exit %d: %s", mp, code, out)
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
}

// setuidImage builds, in dir, the image: a setuid-root copy of
// id(1) at /rootid.
func setuidImage(t *testing.T, dir string) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	id, err := exec.LookPath("id")
	must(t, err)
	src := filepath.Join(dir, "suid-src")
	must(t, os.Mkdir(src, 0o755))
	copyFile(t, id, filepath.Join(src, "rootid"), 0o755)
	must(t, os.Chmod(filepath.Join(src, "rootid"), 0o755|os.ModeSetuid))
	img := filepath.Join(dir, "suid.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-o", img, src)
	must(t, os.Chmod(img, 0o644))
	return img
}

// TestSetuidImageIsNosuid replays issue 16.1: root mounts an image
// holding a setuid-root program — through mount.fuse3 with the options an
// fstab line gets (mount(8) appends dev,suid), through the CLI asking for
// suid,dev, and through the daemon — and another user runs the program.
// Every such mount must be nosuid,nodev and the program must run with the
// user's own uid. --trust-image-suid, the one way to honour the bits, is
// the control: there the same program does run as root, so the test can
// tell the two apart.
func TestSetuidImageIsNosuid(t *testing.T) {
	isotest.RequireFUSE(t)
	u := newUser(t)
	dir := sharedDir(t)
	img := setuidImage(t, dir)
	noSocket := "ISOFSD_SOCKET=" + filepath.Join(dir, "no-daemon.sock")
	newMP := func(name string) string {
		mp := filepath.Join(dir, name)
		mkdirOwned(t, mp, nil, 0o755)
		unmountCleanup(t, mp)
		return mp
	}
	runAsUser := func(t *testing.T, mp string) string {
		out, code := u.Run(t, filepath.Join(mp, "rootid"), "-u")
		if code != 0 {
			t.Fatalf("%s/rootid -u as %s: exit %d: %s", mp, u.Name, code, out)
		}
		t.Logf("%s/rootid -u as uid %d: %s", mp, u.UID, strings.TrimSpace(out))
		return strings.TrimSpace(out)
	}
	userUID := strconv.Itoa(u.UID)

	t.Run("mount.fuse3", func(t *testing.T) {
		helper := "/sbin/mount.fuse3"
		if _, err := os.Stat(helper); err != nil {
			t.Skip("mount.fuse3 not installed (fuse3)")
		}
		mp := newMP("helper")
		cmd := exec.Command(helper, img, mp, "-t", "isofsd", "-o", "ro,allow_other")
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(isofsdBin)+":"+os.Getenv("PATH"), noSocket)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mount.fuse3: %v\n%s", err, out)
		}
		if opts := vfsOptions(t, mp); !hasOptions(opts, "ro", "nosuid", "nodev") {
			t.Errorf("mount options %q, want ro,nosuid,nodev", opts)
		}
		if got := runAsUser(t, mp); got != userUID {
			t.Errorf("setuid program on the mount ran with euid %s, want the user's %s", got, userUID)
		}
	})
	t.Run("cli-suid-dev", func(t *testing.T) {
		mp := newMP("cli")
		cmd := exec.Command(isofsdBin, "mount", "-o", "suid,dev,allow_other", img, mp)
		cmd.Env = append(os.Environ(), noSocket)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mount: %v\n%s", err, out)
		}
		if opts := vfsOptions(t, mp); !hasOptions(opts, "nosuid", "nodev") {
			t.Errorf("mount options %q, want nosuid,nodev", opts)
		}
		if got := runAsUser(t, mp); got != userUID {
			t.Errorf("setuid program ran with euid %s, want %s", got, userUID)
		}
	})
	t.Run("daemon", func(t *testing.T) {
		socket := filepath.Join(t.TempDir(), "d.sock")
		startDaemonProc(t, socket, nil)
		mp := newMP("daemon")
		if out, code := run(t, "mount", "--daemon", "--socket", socket, "-o", "suid,dev,allow_other", img, mp); code != 0 {
			t.Fatalf("mount through the daemon: exit %d: %s", code, out)
		}
		t.Cleanup(func() { run(t, "unmount", "--socket", socket, mp) })
		if opts := vfsOptions(t, mp); !hasOptions(opts, "nosuid", "nodev") {
			t.Errorf("mount options %q, want nosuid,nodev", opts)
		}
		if got := runAsUser(t, mp); got != userUID {
			t.Errorf("setuid program ran with euid %s, want %s", got, userUID)
		}
	})
	t.Run("trust-image-suid", func(t *testing.T) {
		mp := newMP("trusted")
		cmd := exec.Command(isofsdBin, "mount", "--trust-image-suid", "-o", "allow_other", img, mp)
		cmd.Env = append(os.Environ(), noSocket)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mount --trust-image-suid: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "setuid") {
			t.Errorf("--trust-image-suid did not warn: %q", out)
		}
		if opts := vfsOptions(t, mp); hasOptions(opts, "nosuid") {
			t.Errorf("mount options %q: --trust-image-suid still nosuid", opts)
		}
		if got := runAsUser(t, mp); got != "0" {
			t.Errorf("with --trust-image-suid the setuid-root program ran with euid %s, want 0", got)
		}
	})
	// Review S7: for a user the flag cannot be honoured (fusermount3
	// forces nosuid,nodev), so it is refused, not warned about and
	// silently ignored.
	t.Run("trust-image-suid-as-user", func(t *testing.T) {
		mp := filepath.Join(dir, "user-trusted")
		mkdirOwned(t, mp, u, 0o755)
		unmountCleanup(t, mp)
		out, code := u.RunEnv(t, []string{noSocket}, isofsdBin, "mount", "--standalone", "--trust-image-suid", img, mp)
		if code != 2 || !strings.Contains(out, "needs root") || strings.Contains(out, "will take effect") {
			t.Errorf("mount --trust-image-suid as %s: exit %d, want 2 saying it needs root:\n%s", u.Name, code, out)
		}
		if opts := vfsOptions(t, mp); opts != "" {
			t.Errorf("%s mounted anyway (%s)", mp, opts)
		}
	})
}

// TestAllowOtherKeepsModes replays issue 16.4: with -o allow_other, a
// second user must be refused a 0600 file and a 0700 directory owned by
// root in the image, and may still read what is world-readable.
func TestAllowOtherKeepsModes(t *testing.T) {
	isotest.RequireFUSE(t)
	isotest.RequireTool(t, "xorriso")
	u := newUser(t)
	dir := sharedDir(t)
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(filepath.Join(src, "private"), 0o700))
	must(t, os.Chmod(src, 0o755))
	must(t, os.Chmod(filepath.Join(src, "private"), 0o700))
	must(t, os.WriteFile(filepath.Join(src, "private", "inside.txt"), []byte("in\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "secret.txt"), []byte("secret\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(src, "public.txt"), []byte("public\n"), 0o644))
	img := filepath.Join(dir, "perm.iso")
	xorriso(t, "-as", "mkisofs", "-quiet", "-R", "-o", img, src)
	must(t, os.Chmod(img, 0o644))
	for _, backend := range backendsBuilt() {
		t.Run(backend, func(t *testing.T) {
			mp := filepath.Join(dir, "mnt-"+backend)
			mkdirOwned(t, mp, nil, 0o755)
			unmountCleanup(t, mp)
			if out, code := run(t, "mount", "--standalone", "--backend", backend, "-o", "allow_other", img, mp); code != 0 {
				t.Fatalf("mount: exit %d: %s", code, out)
			}
			if out, code := u.Run(t, "cat", filepath.Join(mp, "public.txt")); code != 0 || out != "public\n" {
				t.Fatalf("public.txt as %s: exit %d %q (allow_other not in effect?)", u.Name, code, out)
			}
			if out, code := u.Run(t, "cat", filepath.Join(mp, "secret.txt")); code == 0 || !strings.Contains(out, "Permission denied") {
				t.Errorf("0600 root file read by %s: exit %d %q", u.Name, code, out)
			}
			if out, code := u.Run(t, "ls", filepath.Join(mp, "private")); code == 0 || !strings.Contains(out, "Permission denied") {
				t.Errorf("0700 root directory listed by %s: exit %d %q", u.Name, code, out)
			}
			if opts := mountOptions(t, mp); !hasOptions(opts, "default_permissions") {
				t.Errorf("mount options %q lack default_permissions", opts)
			}
		})
	}
}

// mountOptions is every option findmnt shows for mp (VFS and file
// system ones).
func mountOptions(t testing.TB, mp string) string {
	t.Helper()
	out, err := exec.Command("findmnt", "-n", "-o", "OPTIONS", "--mountpoint", mp).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", mp, err)
	}
	return strings.TrimSpace(string(out))
}

// TestUnmountRefusesOtherFilesystems replays issue 16.6: `isofsd
// unmount` of a tmpfs must exit 2 and leave the tmpfs mounted.
func TestUnmountRefusesOtherFilesystems(t *testing.T) {
	isotest.RequireRoot(t)
	mp := filepath.Join(t.TempDir(), "tmpfs")
	must(t, os.Mkdir(mp, 0o755))
	if err := syscall.Mount("isofsd-test", mp, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mp, 0); err != nil {
			t.Errorf("unmount the test tmpfs: %v", err)
		}
	})
	must(t, os.WriteFile(filepath.Join(mp, "keep"), []byte("x"), 0o644))
	for _, args := range [][]string{{"unmount", "--standalone", mp}, {"unmount", "--standalone", "--lazy", mp}, {"umount", mp}} {
		out, code := run(t, args...)
		if code != 2 || !strings.Contains(out, "tmpfs") || !strings.Contains(out, "not an isofsd mount") {
			t.Errorf("isofsd %s: exit %d %q; want exit 2 naming tmpfs as not an isofsd mount", strings.Join(args, " "), code, out)
		}
		if opts := vfsOptions(t, mp); opts == "" {
			t.Fatalf("isofsd %s unmounted the tmpfs", strings.Join(args, " "))
		}
	}
	if _, err := os.Stat(filepath.Join(mp, "keep")); err != nil {
		t.Errorf("tmpfs content gone: %v", err)
	}
}

// fuseConfAllowsOther reports whether /etc/fuse.conf has
// user_allow_other.
func fuseConfAllowsOther() bool {
	b, err := os.ReadFile("/etc/fuse.conf")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(l) == "user_allow_other" {
			return true
		}
	}
	return false
}

// TestFuseRefusalMessage replays issue 16.12: when fusermount3 refuses a
// user's mount, isofsd shows fusermount3's own message and exits 2.
func TestFuseRefusalMessage(t *testing.T) {
	isotest.RequireFUSE(t)
	u := newUser(t)
	dir := sharedDir(t)
	img := filepath.Join(dir, "small.iso")
	copyFile(t, smallImage(t), img, 0o644)
	noSocket := "ISOFSD_SOCKET=" + filepath.Join(dir, "no-daemon.sock")
	own := filepath.Join(dir, "own")
	mkdirOwned(t, own, u, 0o755)
	notOwn := filepath.Join(dir, "root-owned")
	mkdirOwned(t, notOwn, nil, 0o755)
	type refusal struct {
		name  string
		args  string
		wants []string
	}
	cases := []refusal{
		{"mountpoint not the user's", "mount \"$IMG\" " + notOwn, []string{"fusermount3:", "no write access"}},
		{"mountpoint not the user's, foreground", "mount -f \"$IMG\" " + notOwn, []string{"fusermount3:", "no write access"}},
	}
	if !fuseConfAllowsOther() {
		cases = append(cases,
			refusal{"allow_other without user_allow_other", "mount -o allow_other \"$IMG\" " + own, []string{"fusermount3:", "user_allow_other"}},
			refusal{"allow_other, foreground", "mount -f -o allow_other \"$IMG\" " + own, []string{"fusermount3:", "user_allow_other"}})
	} else {
		t.Log("/etc/fuse.conf has user_allow_other: the allow_other refusal cannot be provoked")
	}
	env := []string{noSocket, "BIN=" + isofsdBin, "IMG=" + img}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, code := u.Script(t, env, `"$BIN" `+tc.args)
			if code != 2 {
				t.Errorf("exit %d, want 2: %s", code, out)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q: %s", w, out)
				}
			}
			if strings.Contains(out, "exited with code") {
				t.Errorf("output shows fusermount's exit status instead of its message: %s", out)
			}
		})
	}
	// The control: the same user mounts the image on a directory of its
	// own, so the refusals above are fusermount3's.
	out, code := u.Script(t, append(env, "MP="+own), `set -e
trap '"$BIN" unmount "$MP" 2>/dev/null || true' EXIT
"$BIN" mount "$IMG" "$MP"
grep -q " $MP .* fuse.isofsd " /proc/self/mountinfo
cat "$MP/a.bin" > /dev/null
"$BIN" unmount "$MP"
echo CONTROL-OK`)
	if code != 0 || !strings.Contains(out, "CONTROL-OK") {
		t.Errorf("mount on the user's own directory: exit %d: %s", code, out)
	}
}

// fakeDaemonEnv makes the test binary play an attacker's fake daemon on
// the socket it names (see TestMain): it answers every request with a
// forged success and logs each request line to the file named by
// fakeDaemonLogEnv.
const (
	fakeDaemonEnv    = "ISOFSD_TEST_FAKE_DAEMON"
	fakeDaemonLogEnv = "ISOFSD_TEST_FAKE_DAEMON_LOG"
	fakePID          = 424242
)

// runFakeDaemon is the attacker: it creates the socket's directory
// world-writable, listens with a socket anyone may connect to, prints
// READY and forges answers until killed.
func runFakeDaemon(socket, logPath string) int {
	if err := os.MkdirAll(filepath.Dir(socket), 0o777); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Chmod(filepath.Dir(socket), 0o777)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Chmod(socket, 0o666)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("READY")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				logf.WriteString(line)
				fmt.Fprintf(c, `{"version":1,"ok":true,"status":{"pid":%d,"socket":"forged","started":"2020-01-01T00:00:00Z","mounts":7,"pending":0},"mounts":[{"mountpoint":"/forged","image":"/forged.iso","tree":"udf","since":"2020-01-01T00:00:00Z","origin":"client","bytes_read":0,"cache_hits":0,"cache_misses":0}],"mount":{"mountpoint":"/forged","image":"/forged.iso","tree":"udf","since":"2020-01-01T00:00:00Z","origin":"client","bytes_read":0,"cache_hits":0,"cache_misses":0}}`+"\n", fakePID)
			}
		}()
	}
}

// startFakeDaemon runs the fake daemon as u on socket and returns its
// request log.
func startFakeDaemon(t *testing.T, u *isotest.User, testBin, socket string) string {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(socket), "requests-"+strconv.Itoa(os.Getpid())+".log")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := u.CommandContext(ctx, testBin)
	cmd.Env = append(cmd.Env, fakeDaemonEnv+"="+socket, fakeDaemonLogEnv+"="+logPath)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr isotest.SyncBuffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cancel(); cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		t.Fatalf("fake daemon did not start: %q %s", line, stderr.String())
	}
	return logPath
}

// requestsSeen returns what the fake daemon was sent.
func requestsSeen(t testing.TB, logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// TestClientRefusesForeignSocket replays issue 16.5: without
// XDG_RUNTIME_DIR, another user who got to /tmp/isofsd-UID first must
// receive none of the victim's requests and forge none of its answers;
// an explicit socket in a directory the attacker owns, or served by the
// attacker, is refused before anything is sent.
func TestClientRefusesForeignSocket(t *testing.T) {
	isotest.RequireFUSE(t)
	victim, attacker := newUser(t), newUser(t)
	dir := sharedDir(t)
	self, err := os.Executable()
	must(t, err)
	testBin := filepath.Join(dir, "integration.test")
	copyFile(t, self, testBin, 0o755)
	trap := fmt.Sprintf("/tmp/isofsd-%d", victim.UID)
	os.RemoveAll(trap)
	t.Cleanup(func() { os.RemoveAll(trap) })
	trapSocket := filepath.Join(trap, "isofsd.sock")
	seen := startFakeDaemon(t, attacker, testBin, trapSocket)
	nothingSent := func(t *testing.T) {
		t.Helper()
		if got := requestsSeen(t, seen); got != "" {
			t.Errorf("the attacker's socket received: %s", got)
		}
	}

	t.Run("status with the default socket", func(t *testing.T) {
		out, code := victim.Run(t, isofsdBin, "status", "--json")
		if strings.Contains(out, strconv.Itoa(fakePID)) || code == 0 {
			t.Errorf("status believed the attacker (exit %d): %s", code, out)
		}
		if !strings.Contains(out, `"running": false`) {
			t.Errorf("status --json without a daemon: %s", out)
		}
		nothingSent(t)
	})
	t.Run("explicit socket in the attacker's directory", func(t *testing.T) {
		out, code := victim.Run(t, isofsdBin, "list", "--socket", trapSocket)
		if code != 2 || strings.Contains(out, "/forged") || !strings.Contains(out, "uid "+strconv.Itoa(attacker.UID)) {
			t.Errorf("list on the attacker's socket: exit %d %q; want exit 2 naming uid %d", code, out, attacker.UID)
		}
		nothingSent(t)
	})
	t.Run("socket file made to look like the victim's", func(t *testing.T) {
		// The directory (/tmp: root's, sticky) and the socket file
		// (chowned to the victim by root here) pass; only the peer's
		// credentials tell that the attacker answers.
		sock := filepath.Join(os.TempDir(), fmt.Sprintf("isofsd-peer-%d.sock", victim.UID))
		os.Remove(sock)
		t.Cleanup(func() { os.Remove(sock) })
		log2 := startFakeDaemon(t, attacker, testBin, sock)
		must(t, os.Lchown(sock, victim.UID, victim.GID))
		out, code := victim.Run(t, isofsdBin, "status", "--socket", sock)
		if code != 2 || strings.Contains(out, strconv.Itoa(fakePID)) || !strings.Contains(out, "uid "+strconv.Itoa(attacker.UID)) {
			t.Errorf("status on a socket served by the attacker: exit %d %q; want exit 2 naming uid %d", code, out, attacker.UID)
		}
		if got := requestsSeen(t, log2); got != "" {
			t.Errorf("the attacker's socket received: %s", got)
		}
	})
	t.Run("mount with the default socket", func(t *testing.T) {
		img := filepath.Join(dir, "small.iso")
		copyFile(t, smallImage(t), img, 0o644)
		mp := filepath.Join(dir, "victim-mnt")
		mkdirOwned(t, mp, victim, 0o755)
		out, code := victim.Script(t, []string{"BIN=" + isofsdBin, "IMG=" + img, "MP=" + mp}, `set -e
trap '"$BIN" unmount --standalone "$MP" 2>/dev/null || true' EXIT
"$BIN" mount "$IMG" "$MP"
grep -q " $MP .* fuse.isofsd " /proc/self/mountinfo || { echo "NOT MOUNTED"; exit 1; }
"$BIN" unmount "$MP"
echo MOUNT-OK`)
		if code != 0 || !strings.Contains(out, "MOUNT-OK") {
			t.Errorf("the victim's mount (exit %d): %s", code, out)
		}
		nothingSent(t)
	})
}

// TestWatchFollowsNoSymlinks replays issue 16.3 with a root daemon
// watching a directory another user owns (and mounting into it): that
// user's symlinks must neither turn into mountpoints outside the folder
// nor smuggle in images the user cannot read, and images the folder's
// owner does not own or cannot read are refused, while the user's own
// image is mounted.
func TestWatchFollowsNoSymlinks(t *testing.T) {
	isotest.RequireFUSE(t)
	u := newUser(t)
	dir := sharedDir(t)
	img := filepath.Join(dir, "small.iso")
	copyFile(t, smallImage(t), img, 0o644)
	drop := filepath.Join(dir, "drop")
	mkdirOwned(t, drop, u, 0o755)
	victim := filepath.Join(dir, "victim") // think /var/spool/cron
	mkdirOwned(t, victim, nil, 0o755)
	unmountCleanup(t, victim)
	secretDir := filepath.Join(dir, "root-only")
	mkdirOwned(t, secretDir, nil, 0o700)
	secret := filepath.Join(secretDir, "secret.iso")
	copyFile(t, img, secret, 0o600)
	// What the user does in the folder.
	script := fmt.Sprintf(`set -e
cd %q
ln -s %q evil
cp %q evil.iso
ln -s %q x.iso
cp %q mine.iso
cp %q unreadable.iso
chmod 0200 unreadable.iso
`, drop, victim, img, secret, img, img)
	if out, code := u.Run(t, "sh", "-c", script); code != 0 {
		t.Fatalf("the user's setup: exit %d: %s", code, out)
	}
	// An image the folder's owner does not own (root's).
	copyFile(t, img, filepath.Join(drop, "roots.iso"), 0o644)

	socket := filepath.Join(t.TempDir(), "d.sock")
	p := startDaemonReady(t, "--socket", socket, "--watch", drop, "--mount-root", drop, "--stable-for", "50ms")
	t.Cleanup(func() {
		for _, n := range []string{"mine", "evil", "evil-2", "x", "roots", "unreadable"} {
			mp := filepath.Join(drop, n)
			if isMounted(t, mp) {
				t.Errorf("%s still mounted when the test ends", mp)
				syscall.Unmount(mp, syscall.MNT_DETACH)
			}
		}
	})
	if !isMounted(t, filepath.Join(drop, "mine")) {
		t.Fatalf("the user's own image is not mounted at READY\n%s", p.log.String())
	}
	// Watch mounts are nosuid,nodev like every other (16.1).
	if opts := vfsOptions(t, filepath.Join(drop, "mine")); !hasOptions(opts, "ro", "nosuid", "nodev") {
		t.Errorf("watch mount options %q, want ro,nosuid,nodev", opts)
	}
	if opts := vfsOptions(t, victim); opts != "" {
		t.Errorf("the daemon mounted over %s through the user's symlink (%s)", victim, opts)
	}
	if fi, err := os.Lstat(filepath.Join(drop, "evil")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the user's symlink evil was replaced: %v %v", fi, err)
	}
	for _, n := range []string{"x", "roots", "unreadable"} {
		if isMounted(t, filepath.Join(drop, n)) {
			t.Errorf("%s.iso was mounted\n%s", n, p.log.String())
		}
	}
	for _, m := range listJSON(t, socket) {
		if m.Image == secret || strings.HasSuffix(m.Image, "/x.iso") || strings.HasSuffix(m.Image, "/roots.iso") || strings.HasSuffix(m.Image, "/unreadable.iso") {
			t.Errorf("daemon serves %s on %s", m.Image, m.Mountpoint)
		}
	}
	log := p.log.String()
	for _, want := range []string{"x.iso", "roots.iso", "unreadable.iso"} {
		if !strings.Contains(log, want) {
			t.Errorf("the daemon's log does not say why %s was refused:\n%s", want, log)
		}
	}
	p.stop(t)
}

// readyDaemon is an `isofsd daemon` started by startDaemonReady.
type readyDaemon struct {
	cmd *exec.Cmd
	log *isotest.SyncBuffer
}

// startDaemonReady starts `isofsd daemon args...` and returns once it
// sends READY=1 (the watch directory's images are mounted by then).
func startDaemonReady(t *testing.T, args ...string) *readyDaemon {
	t.Helper()
	cmd, log := startReady(t, nil, append([]string{"daemon"}, args...)...)
	p := &readyDaemon{cmd: cmd, log: log}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.stop(t)
		}
	})
	return p
}

// stop sends SIGTERM and expects a clean exit.
func (p *readyDaemon) stop(t *testing.T) {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, p.cmd, 30*time.Second); code != 0 {
		t.Errorf("daemon exit %d\n%s", code, p.log.String())
	}
}
