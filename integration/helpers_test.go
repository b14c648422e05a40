//go:build linux

package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/mounter"
)

// isofsdBin is the binary under test, built once by TestMain.
var isofsdBin string

// workDir holds the binary and the images shared by all tests.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "isofsd-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	isofsdBin = filepath.Join(dir, "isofsd")
	out, err := exec.Command("go", "build", "-o", isofsdBin, "github.com/isofsd/isofsd/cmd/isofsd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireFUSE skips the test where FUSE mounts are impossible.
func requireFUSE(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(mounter.FuseDevice, os.O_RDWR, 0)
	if err != nil {
		t.Skipf("FUSE unavailable: cannot open %s: %v", mounter.FuseDevice, err)
	}
	f.Close()
	if _, err := mounter.Fusermount(); err != nil {
		t.Skipf("FUSE unavailable: %v", err)
	}
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
	requireFUSE(t)
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
