//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/s3src/s3test"
	"github.com/isofsd/isofsd/mounter"
)

// isofsdBin is the binary under test, built once by TestMain.
var isofsdBin string

// workDir holds the binary and the images shared by all tests.
var workDir string

func TestMain(m *testing.M) {
	if sock := os.Getenv(fakeDaemonEnv); sock != "" {
		// Re-executed as another user by TestClientRefusesForeignSocket.
		os.Exit(runFakeDaemon(sock, os.Getenv(fakeDaemonLogEnv)))
	}
	dir, err := os.MkdirTemp("", "isofsd-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Other users run the binary in the privilege tests.
	os.Chmod(dir, 0o755)
	workDir = dir
	isofsdBin = filepath.Join(dir, "isofsd")
	// The binary gets this test binary's build tags, so that a
	// `go test -tags cgofuse,fuse3` run tests isofsd with that backend.
	out, err := exec.Command("go", "build", "-tags", buildTags(), "-o", isofsdBin, "github.com/isofsd/isofsd/cmd/isofsd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	s3test.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildTags returns the -tags this test binary was built with.
func buildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}

// cgofuseBuilt is set by the cgofuse build of the tests.
var cgofuseBuilt bool

// backendsBuilt lists the FUSE backends this test binary's isofsd has.
func backendsBuilt() []string {
	if cgofuseBuilt {
		return []string{"gofuse", "cgofuse"}
	}
	return []string{"gofuse"}
}

// run runs the isofsd binary and returns its combined output and exit code.
func run(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, isofsdBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("isofsd %v: %v", args, err)
	}
	return out.String(), code
}

// mounted is one live mount made by the test.
type mounted struct {
	mp  string
	log string // the daemon's log file
}

// isMounted reports whether mountinfo lists mp.
func isMounted(t testing.TB, mp string) bool {
	t.Helper()
	_, ok, err := mounter.FindMount(mp)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// waitUnmounted waits until mp is gone from mountinfo.
func waitUnmounted(t testing.TB, mp string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !isMounted(t, mp) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// mountImage mounts image in the background (the default daemon mode)
// and registers a cleanup that unmounts it and fails the test if that
// fails.
func mountImage(t testing.TB, image string, extra ...string) *mounted {
	t.Helper()
	isotest.RequireFUSE(t)
	dir := t.TempDir()
	m := &mounted{mp: filepath.Join(dir, "mnt"), log: filepath.Join(dir, "isofsd.log")}
	if err := os.Mkdir(m.mp, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"mount", "--log-file", m.log}, extra...)
	out, code := run(t, append(args, image, m.mp)...)
	if code != 0 {
		t.Fatalf("isofsd mount %s: exit %d: %s\nlog:\n%s", image, code, out, readLog(m.log))
	}
	t.Cleanup(func() { m.unmount(t) })
	return m
}

// unmount unmounts m if it is still mounted; failing to is a test failure.
func (m *mounted) unmount(t testing.TB) {
	t.Helper()
	if !isMounted(t, m.mp) {
		return
	}
	if out, code := run(t, "unmount", m.mp); code != 0 {
		t.Errorf("isofsd unmount %s: exit %d: %s", m.mp, code, out)
		// Do not leave the mount behind for the next test.
		syscall.Unmount(m.mp, syscall.MNT_DETACH)
		return
	}
	if !waitUnmounted(t, m.mp, 5*time.Second) {
		t.Errorf("%s still mounted after isofsd unmount", m.mp)
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// xorriso runs xorriso with args and fails the test on error.
func xorriso(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("xorriso", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// readyTimeout bounds the wait for a started isofsd's READY.
const readyTimeout = 30 * time.Second

// startReady starts isofsd with args the way systemd starts a
// Type=notify service (NOTIFY_SOCKET) and returns once it sends READY=1:
// the lifecycle's ready signal, sent only once a mount is confirmed or
// the daemon listens — never a guess from log text. A process that exits
// or stays silent fails the test with its output.
func startReady(t *testing.T, env []string, args ...string) (*exec.Cmd, *isotest.SyncBuffer) {
	t.Helper()
	isotest.RequireFUSE(t)
	notify := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	must(t, err)
	defer conn.Close()
	logBuf := &isotest.SyncBuffer{}
	cmd := exec.Command(isofsdBin, args...)
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	cmd.Env = append(append(os.Environ(), env...), "NOTIFY_SOCKET="+notify)
	must(t, cmd.Start())
	fail := func(why string) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("isofsd %s: %s\n%s", strings.Join(args, " "), why, logBuf.String())
	}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(readyTimeout)
	for {
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := conn.Read(buf)
		if err == nil && strings.Contains(string(buf[:n]), "READY=1") {
			return cmd, logBuf
		}
		if exited(cmd.Process.Pid) {
			fail("exited before READY=1")
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("no READY=1 within %v", readyTimeout))
		}
	}
}

// exited reports whether the child pid has exited (a zombie not yet
// waited for).
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z'
}
