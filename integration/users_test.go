//go:build linux

package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"golang.org/x/sys/unix"
)

// userPrefix starts the name of every user these tests create, so that
// a leftover one is recognisable (and never collides with another
// suite's).
const userPrefix = "isoxb"

// deskUserPrefix names the users of the tests of review 1's desktop,
// automatic mountpoint and daemon-client fixes.
const deskUserPrefix = "isoxk"

// testUser is a real second user created for one test.
type testUser struct {
	Name     string
	UID, GID uint32
	Home     string
}

// requireRoot skips tests that create users or act for several users.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates a second user (useradd) and checks what that user can do")
	}
}

// newUser creates a user with its own group and home directory and
// removes both (userdel -r) when the test ends.
func newUser(t testing.TB) *testUser {
	t.Helper()
	return newUserPrefixed(t, userPrefix)
}

// newUserPrefixed is newUser with another name prefix (each fix stream's
// tests have theirs).
func newUserPrefixed(t testing.TB, prefix string) *testUser {
	t.Helper()
	requireRoot(t)
	isotest.RequireTool(t, "useradd")
	var b [4]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if out, err := exec.Command("useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", "-r", name).CombinedOutput(); err != nil {
			// userdel -r complains when the mail spool is missing
			// but removes the user; fail only if the user is left.
			if _, lerr := user.Lookup(name); lerr == nil {
				t.Errorf("userdel -r %s: %v\n%s", name, err, out)
			}
		}
	})
	u, err := user.Lookup(name)
	must(t, err)
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &testUser{Name: name, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
}

// command returns cmd running as u, with the environment a login over
// su or cron gives: HOME and PATH, no XDG_RUNTIME_DIR.
func (u *testUser) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	cmd.Env = []string{"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C"}
	cmd.Dir = "/"
	return cmd
}

// run runs a program as u and returns its combined output and exit code.
func (u *testUser) run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	return u.runEnv(t, nil, name, args...)
}

// runEnv is run with extra environment variables.
func (u *testUser) runEnv(t testing.TB, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := u.command(ctx, name, args...)
	cmd.Env = append(cmd.Env, env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v as %s: %v", name, args, u.Name, err)
	}
	return out.String(), 0
}

// sharedDir is a temporary directory other users can traverse (mode
// 0755; t.TempDir's are 0700), removed at the end of the test.
func sharedDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "isofsd-shared-")
	must(t, err)
	must(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// mkdirOwned makes dir owned by u with mode perm.
func mkdirOwned(t testing.TB, dir string, u *testUser, perm os.FileMode) {
	t.Helper()
	must(t, os.Mkdir(dir, perm))
	must(t, os.Chmod(dir, perm))
	if u != nil {
		must(t, os.Chown(dir, int(u.UID), int(u.GID)))
	}
}

// canOpenFUSE reports whether u may open /dev/fuse: fusermount3 opens it
// with the calling user's rights, so user mounts need it to be 0666 as
// Debian makes it (containers often leave it 0600).
func (u *testUser) canOpenFUSE(t testing.TB) bool {
	_, code := u.run(t, "sh", "-c", "exec 3<>/dev/fuse")
	return code == 0
}

// script runs `sh -c script` as u with extra environment variables and
// returns its combined output and exit code. Where u cannot open
// /dev/fuse it runs in a private mount namespace whose /dev/fuse is a
// 0666 node of the same device, so that fusermount3 works as on a stock
// system; mounts made there are seen only inside the script, which must
// check and unmount them itself.
func (u *testUser) script(t testing.TB, env []string, script string) (string, int) {
	t.Helper()
	if u.canOpenFUSE(t) {
		return u.runEnv(t, env, "sh", "-c", script)
	}
	isotest.RequireTool(t, "unshare")
	isotest.RequireTool(t, "setpriv")
	node := filepath.Join(sharedDir(t), "fuse")
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o666, int(unix.Mkdev(10, 229))); err != nil {
		t.Skipf("cannot make a FUSE device node for the user: %v", err)
	}
	must(t, os.Chmod(node, 0o666))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /dev/fuse && exec setpriv --reuid="$1" --regid="$2" --clear-groups sh -c "$3"`,
		node, strconv.Itoa(int(u.UID)), strconv.Itoa(int(u.GID)), script)
	cmd.Env = append(u.command(ctx, "true").Env, env...)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("script as %s: %v", u.Name, err)
	}
	return out.String(), 0
}
