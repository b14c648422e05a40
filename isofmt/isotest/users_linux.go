//go:build linux

package isotest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// User is a real second user made for one test (by NewUser), for the
// tests that check what another account can or cannot do.
type User struct {
	Name     string
	UID, GID int
	Home     string
}

// UserOptions tune NewUser.
type UserOptions struct {
	// Home is the home directory to create (default: useradd's,
	// /home/NAME).
	Home string
}

// RequireRoot skips a test that needs root: creating users, acting for
// several users.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test creates a second user (useradd) and checks what that user can do")
	}
}

// NewUser creates a user named prefix plus a random suffix, with its own
// group and home directory, and removes it when the test ends: every
// process still running as the user is killed (all were started by the
// test, directly or by D-Bus activation), then `userdel -r` removes the
// user and its home. Each test stream uses its own prefix, so a leftover
// user is recognisable and no two suites collide. It skips the test when
// not running as root.
func NewUser(t testing.TB, prefix string, o ...UserOptions) *User {
	t.Helper()
	RequireRoot(t)
	RequireTool(t, "useradd", "userdel")
	var b [4]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	args := []string{"--create-home", "--user-group", "--shell", "/bin/sh"}
	if len(o) > 0 && o[0].Home != "" {
		args = append(args, "--home-dir", o[0].Home)
	}
	if out, err := exec.Command("useradd", append(args, name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	u := &User{Name: name}
	t.Cleanup(func() { u.remove(t) })
	pw, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	u.UID, _ = strconv.Atoi(pw.Uid)
	u.GID, _ = strconv.Atoi(pw.Gid)
	u.Home = pw.HomeDir
	return u
}

// remove kills the user's processes and deletes the user and its home.
func (u *User) remove(t testing.TB) {
	if u.UID != 0 {
		for range 50 {
			pids := u.Procs()
			if len(pids) == 0 {
				break
			}
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if out, err := exec.Command("userdel", "-r", u.Name).CombinedOutput(); err != nil {
		// userdel -r complains when the mail spool is missing but
		// removes the user: fail only if the user is left.
		if _, lerr := user.Lookup(u.Name); lerr == nil {
			t.Errorf("userdel -r %s: %v\n%s", u.Name, err, out)
		}
	}
}

// Procs lists the live processes whose real uid is the user's.
func (u *User) Procs() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil || !bytes.Contains(status, []byte(fmt.Sprintf("\nUid:\t%d\t", u.UID))) ||
			bytes.Contains(status, []byte("\nState:\tZ")) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// Env is the environment a login over su or cron gives the user: HOME,
// USER, LOGNAME and PATH, no XDG_RUNTIME_DIR.
func (u *User) Env() []string {
	return []string{"HOME=" + u.Home, "USER=" + u.Name, "LOGNAME=" + u.Name,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG=C"}
}

// Command returns name with args, to run as the user (its uid and gid,
// no supplementary groups) with Env, in "/".
func (u *User) Command(name string, args ...string) *exec.Cmd {
	return u.CommandContext(context.Background(), name, args...)
}

// CommandContext is Command, killed when ctx is done.
func (u *User) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID)}}
	cmd.Env = u.Env()
	cmd.Dir = "/"
	return cmd
}

// Run runs a program as the user and returns its combined output and
// exit code (within two minutes).
func (u *User) Run(t testing.TB, name string, args ...string) (string, int) {
	t.Helper()
	return u.RunEnv(t, nil, name, args...)
}

// RunEnv is Run with extra environment variables.
func (u *User) RunEnv(t testing.TB, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := u.CommandContext(ctx, name, args...)
	cmd.Env = append(cmd.Env, env...)
	return u.output(t, cmd)
}

func (u *User) output(t testing.TB, cmd *exec.Cmd) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%v as %s: %v", cmd.Args, u.Name, err)
	}
	return out.String(), 0
}

// CanOpenFUSE reports whether the user may open /dev/fuse: fusermount3
// opens it with the calling user's rights, so user mounts need it to be
// 0666 as Debian makes it (containers often leave it 0600).
func (u *User) CanOpenFUSE(t testing.TB) bool {
	_, code := u.Run(t, "sh", "-c", "exec 3<>/dev/fuse")
	return code == 0
}

// Script runs `sh -c script` as the user with extra environment
// variables and returns its combined output and exit code. Where the
// user cannot open /dev/fuse it runs in a private mount namespace whose
// /dev/fuse is a 0666 node of the same device, so that fusermount3 works
// as on a stock system; mounts made there are seen only inside the
// script, which must check and unmount them itself.
func (u *User) Script(t testing.TB, env []string, script string) (string, int) {
	t.Helper()
	if u.CanOpenFUSE(t) {
		return u.RunEnv(t, env, "sh", "-c", script)
	}
	RequireTool(t, "unshare", "setpriv")
	dir, err := os.MkdirTemp("", "isotest-fuse-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/dev/fuse", &st); err != nil {
		t.Skipf("no /dev/fuse: %v", err)
	}
	node := filepath.Join(dir, "fuse")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(st.Rdev)); err != nil {
		t.Skipf("cannot make a FUSE device node for the user: %v", err)
	}
	if err := os.Chmod(node, 0o666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$0" /dev/fuse && exec setpriv --reuid="$1" --regid="$2" --clear-groups sh -c "$3"`,
		node, strconv.Itoa(u.UID), strconv.Itoa(u.GID), script)
	cmd.Env = append(u.Env(), env...)
	cmd.Dir = "/"
	return u.output(t, cmd)
}
