//go:build linux

package integration

// Everyday mount behaviour a new user met (issue 21): mounting over a
// non-empty directory, busy mounts, unmount --all, status without a
// daemon.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestMountNonEmptyRefused: a mount over a directory with entries would
// hide them silently, so it is refused (exit 2, naming -o nonempty)
// unless -o nonempty asks for it — standalone and through the daemon.
func TestMountNonEmptyRefused(t *testing.T) {
	img := smallImage(t)
	socket := filepath.Join(t.TempDir(), "d.sock")
	startDaemonProc(t, socket, nil)
	for _, how := range [][]string{{"--standalone"}, {"--daemon", "--socket", socket}} {
		t.Run(how[0], func(t *testing.T) {
			mp := newMountpoint(t)
			keep := filepath.Join(mp, "keep.txt")
			must(t, os.WriteFile(keep, []byte("mine\n"), 0o644))
			out, code := run(t, append(append([]string{"mount"}, how...), img, mp)...)
			if code != 2 || !strings.Contains(out, "not empty") || !strings.Contains(out, "-o nonempty") {
				t.Errorf("mount over a non-empty directory: exit %d %q; want exit 2 naming -o nonempty", code, out)
			}
			if isMounted(t, mp) {
				t.Fatalf("%s mounted anyway", mp)
			}
			out, code = run(t, append(append([]string{"mount", "-o", "nonempty"}, how...), img, mp)...)
			if code != 0 {
				t.Fatalf("mount -o nonempty: exit %d %s", code, out)
			}
			if _, err := os.Stat(filepath.Join(mp, "a.bin")); err != nil {
				t.Errorf("image not visible: %v", err)
			}
			if out, code := run(t, append(append([]string{"unmount"}, how...), mp)...); code != 0 {
				t.Fatalf("unmount: exit %d %s", code, out)
			}
			if b, err := os.ReadFile(keep); err != nil || string(b) != "mine\n" {
				t.Errorf("the directory's own file after unmount: %q %v", b, err)
			}
		})
	}
}

// startHolder starts a program that keeps mp busy and returns its pid.
func startHolder(t *testing.T, dir string, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// TestUnmountBusyNamesHolders: an unmount refused because the mount is in
// use names the processes using it and how (as fuser -m does), both
// standalone and through the daemon. A process name is whatever its
// owner chose, any local user's included (prctl PR_SET_NAME, or the name
// of the file it ran): one made of escape sequences is shown quoted, and
// only it (review S4d).
func TestUnmountBusyNamesHolders(t *testing.T) {
	isotest.RequireTool(t, "sleep")
	isotest.RequireTool(t, "tail")
	img := smallImage(t)
	const hostileComm = "\x1b]0;PWN\a\x1b[2J"
	sleepPath, err := exec.LookPath("sleep")
	must(t, err)
	hostileSleep := filepath.Join(t.TempDir(), hostileComm)
	copyFile(t, sleepPath, hostileSleep, 0o755)
	socket := filepath.Join(t.TempDir(), "d.sock")
	startDaemonProc(t, socket, nil)
	for _, how := range [][]string{{"--standalone"}, {"--daemon", "--socket", socket}} {
		t.Run(how[0], func(t *testing.T) {
			mp := newMountpoint(t)
			if out, code := run(t, append(append([]string{"mount"}, how...), img, mp)...); code != 0 {
				t.Fatalf("mount: exit %d %s", code, out)
			}
			cwdPID := startHolder(t, mp, "sleep", "300")
			hostilePID := startHolder(t, mp, hostileSleep, "300")
			openPID := startHolder(t, "/", "tail", "-f", filepath.Join(mp, "a.bin"))
			// tail has the file open once it has printed its end.
			deadline := time.Now().Add(10 * time.Second)
			for {
				fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", openPID))
				open := false
				for _, fd := range fds {
					if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", openPID, fd.Name())); target == filepath.Join(mp, "a.bin") {
						open = true
					}
				}
				if open {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("tail never opened the file")
				}
				time.Sleep(20 * time.Millisecond)
			}
			out, code := run(t, append(append([]string{"unmount"}, how...), mp)...)
			if code == 0 {
				t.Fatalf("unmount of a busy mount succeeded: %s", out)
			}
			for _, want := range []string{
				fmt.Sprintf("pid %d (sleep: cwd)", cwdPID),
				fmt.Sprintf("pid %d (tail: open file)", openPID),
				fmt.Sprintf(`pid %d ("\x1b]0;PWN\a\x1b[2J": cwd)`, hostilePID),
				"--lazy",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("busy unmount message lacks %q: %s", want, out)
				}
			}
			if strings.ContainsAny(out, "\x1b\a") {
				t.Errorf("a process name's escapes reach the terminal: %q", out)
			}
			if !isMounted(t, mp) {
				t.Fatal("a busy mount was unmounted")
			}
			syscall.Kill(cwdPID, syscall.SIGKILL)
			syscall.Kill(hostilePID, syscall.SIGKILL)
			syscall.Kill(openPID, syscall.SIGKILL)
			deadline = time.Now().Add(20 * time.Second)
			for {
				out, code := run(t, append(append([]string{"unmount"}, how...), mp)...)
				if code == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("unmount after the holders died: exit %d %s", code, out)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestUnmountAll: a user's `unmount --all` removes every isofsd mount of
// theirs — standalone ones, nested ones and the daemon's (the daemon
// keeps running) — and nobody else's. It runs as a second user in a
// private mount namespace, so that no mount outside the test is ever at
// stake.
func TestUnmountAll(t *testing.T) {
	isotest.RequireFUSE(t)
	u := newUser(t)
	dir := sharedDir(t)
	img := filepath.Join(dir, "small.iso")
	copyFile(t, smallImage(t), img, 0o644)
	work := filepath.Join(dir, "work")
	mkdirOwned(t, work, u, 0o755)
	// Root's own mount, which the user's --all must leave alone.
	rootMP := filepath.Join(dir, "roots")
	mkdirOwned(t, rootMP, nil, 0o755)
	if out, code := run(t, "mount", "--standalone", img, rootMP); code != 0 {
		t.Fatalf("root's mount: exit %d %s", code, out)
	}
	unmountCleanup(t, rootMP)
	script := `set -e
cd "$WORK"
mkdir a b c
trap 'kill $DPID 2>/dev/null || true; "$BIN" unmount --standalone --lazy --all >/dev/null 2>&1 || true' EXIT
"$BIN" daemon --socket "$WORK/d.sock" > daemon.log 2>&1 &
DPID=$!
i=0; until "$BIN" status --socket "$WORK/d.sock" >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 200 ] || { cat daemon.log; exit 1; }; sleep 0.05; done
"$BIN" mount --standalone "$IMG" a
mkdir -p b/x
"$BIN" mount --standalone -o nonempty "$IMG" b
"$BIN" mount --daemon --socket "$WORK/d.sock" "$IMG" c
mine() { grep " fuse.isofsd " /proc/self/mountinfo | grep -c "user_id=$(id -u)," || true; }
echo "BEFORE $(mine) ROOTS $(grep -c " $ROOTMP " /proc/self/mountinfo)"
"$BIN" unmount --all --socket "$WORK/d.sock" 2>&1
echo "AFTER $(mine) ROOTS $(grep -c " $ROOTMP " /proc/self/mountinfo)"
"$BIN" list --socket "$WORK/d.sock" --json | tr -d ' \n'; echo
kill -0 $DPID && echo DAEMON-ALIVE
`
	out, code := u.Script(t, []string{"BIN=" + isofsdBin, "IMG=" + img, "WORK=" + work, "ROOTMP=" + rootMP}, script)
	if code != 0 {
		t.Fatalf("script: exit %d\n%s", code, out)
	}
	for _, want := range []string{"BEFORE 3 ROOTS 1\n", "unmount --all: 3 unmounted", "AFTER 0 ROOTS 1\n[]\nDAEMON-ALIVE\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if !isMounted(t, rootMP) {
		t.Error("the user's --all unmounted root's mount")
	}
}

// TestStatusJSONNoDaemon: `status --json` answers with a JSON object even
// when no daemon runs, and exits 1.
func TestStatusJSONNoDaemon(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "none.sock")
	out, code := run(t, "status", "--json", "--socket", socket)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var st struct {
		Running *bool  `json:"running"`
		Socket  string `json:"socket"`
		Error   string `json:"error"`
	}
	// The JSON object comes first; the error line follows on stderr.
	if err := json.NewDecoder(strings.NewReader(out)).Decode(&st); err != nil || st.Running == nil || *st.Running || st.Socket != socket || st.Error == "" {
		t.Errorf("status --json without a daemon: %+v %v\n%s", st, err, out)
	}
	// And with one: running true, with its pid.
	p := startDaemonProc(t, socket, nil)
	out, code = run(t, "status", "--json", "--socket", socket)
	var up struct {
		Running bool   `json:"running"`
		PID     int    `json:"pid"`
		Socket  string `json:"socket"`
	}
	if err := json.Unmarshal([]byte(out), &up); err != nil || code != 0 || !up.Running || up.PID != p.cmd.Process.Pid || up.Socket != socket {
		t.Errorf("status --json with a daemon: exit %d %+v %v\n%s", code, up, err, out)
	}
}

// TestUnmountOthersMount (review W4): a user naming root's mount — by its
// mountpoint or by its image — is told it is root's (exit 2, "mounted by
// uid 0"), not fusermount3's "entry not found in /etc/mtab" (exit 1) or
// "not mounted"; the mount stays.
func TestUnmountOthersMount(t *testing.T) {
	isotest.RequireFUSE(t)
	u := isotest.NewUser(t, deskUserPrefix)
	dir := sharedDir(t)
	img := filepath.Join(dir, "small.iso")
	copyFile(t, smallImage(t), img, 0o644)
	for _, opts := range []string{"ro", "allow_other"} {
		mp := filepath.Join(dir, "roots-"+opts)
		mkdirOwned(t, mp, nil, 0o755)
		if out, code := run(t, "mount", "--standalone", "-o", opts, img, mp); code != 0 {
			t.Fatalf("root's mount: exit %d %s", code, out)
		}
		unmountCleanup(t, mp)
		env := []string{"ISOFSD_SOCKET=" + filepath.Join(dir, "none.sock")}
		for _, arg := range []string{mp, img} {
			out, code := u.RunEnv(t, env, isofsdBin, "unmount", arg)
			t.Logf("unmount %s as %s: exit %d: %s", arg, u.Name, code, strings.TrimSpace(out))
			if code != 2 || !strings.Contains(out, "mounted") || !strings.Contains(out, "by uid 0") || strings.Contains(out, "mtab") {
				t.Errorf("-o %s: unmount %s as %s: exit %d, want 2 naming uid 0:\n%s", opts, arg, u.Name, code, out)
			}
		}
		if !isMounted(t, mp) {
			t.Errorf("root's mount on %s is gone", mp)
		}
		// Unmounting a whole image leaves it only when someone else has
		// it: here root may.
		if out, code := run(t, "unmount", "--standalone", img); code != 0 {
			t.Errorf("root: unmount %s: exit %d %s", img, code, out)
		}
	}
}
