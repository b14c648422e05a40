//go:build cgofuse && linux

package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/mounter"
)

// cgofuseSuite is the part of the shared suite that is about the tree
// (names, content, statfs, EROFS, hard links); block counts and
// user.isofsd.lba are go-fuse's too but not re-run here.
var cgofuseSuite = []struct {
	name string
	fn   func(t *testing.T, mp string, c *imageCase)
}{
	{"tree-equals-oracle", checkTree},
	{"concurrent-random-reads", checkRandomReads},
	{"statfs", checkStatfs},
	{"erofs", checkEROFS},
	{"hardlinks-share-inode", checkHardlinks},
}

func init() { cgofuseBuilt = true }

// cgofuseMount starts the cgofuse-only mount program and waits for READY.
func cgofuseMount(t *testing.T, bin, image, mp string) {
	t.Helper()
	cmd := exec.Command(bin, image, mp)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("cgofuse mount failed: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("cgofuse mount not ready: %s", stderr.String())
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if code := waitExit(t, cmd, 20*time.Second); code != 0 {
			t.Errorf("cgofuse mount exited %d: %s", code, stderr.String())
		}
		if isMounted(t, mp) {
			t.Errorf("%s still mounted after SIGTERM", mp)
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
}

// TestCgofuseBackend runs the shared suite over the cgofuse backend
// (libfuse on Linux; the same adapter serves WinFsp on Windows).
func TestCgofuseBackend(t *testing.T) {
	requireFUSE(t)
	bin := filepath.Join(workDir, "cgofusemount")
	out, err := exec.Command("go", "build", "-tags", "cgofuse,fuse3", "-o", bin, "./testdata/cgofusemount").CombinedOutput()
	if err != nil {
		t.Fatalf("building the cgofuse mount program (needs cgo and libfuse3-dev): %v\n%s", err, out)
	}
	for _, c := range generatedCases() {
		t.Run(c.name, func(t *testing.T) {
			c.prepare(t)
			if c.huge {
				t.Cleanup(func() { os.Remove(c.path) })
			}
			if len(c.args) > 0 {
				t.Skipf("case needs mount flags %v the cgofuse program does not take", c.args)
			}
			mp := newMountpoint(t)
			abs, err := filepath.Abs(c.path)
			must(t, err)
			cgofuseMount(t, bin, abs, mp)
			mi, ok, err := findMountInfo(mp)
			if err != nil || !ok || mi != abs {
				t.Errorf("mount source %q (%v %v), want %q", mi, ok, err, abs)
			}
			for _, s := range cgofuseSuite {
				t.Run(s.name, func(t *testing.T) { s.fn(t, mp, c) })
			}
			if _, err := os.Stat(mp); err != nil {
				t.Fatalf("mount died during the suite: %v", err)
			}
		})
	}
}

// findMountInfo returns the source mountinfo shows for mp.
func findMountInfo(mp string) (string, bool, error) {
	mi, ok, err := mounter.FindMount(mp)
	return mi.Source, ok, err
}
