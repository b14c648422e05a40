//go:build cgofuse && linux

package integration

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/mounter"
)

func init() { cgofuseBuilt = true }

// TestCgofuseBackend runs the whole mount suite over the cgofuse backend
// (libfuse here; the same adapter serves WinFsp and macFUSE): isofsd
// itself, built with this test binary's tags (go test -tags
// cgofuse,fuse3), mounts every case of TestImages in the foreground with
// --backend cgofuse and reports READY, and every check of the suite
// table runs against the mount; damaged images go through the same
// mount command.
func TestCgofuseBackend(t *testing.T) {
	isotest.RequireFUSE(t)
	for _, c := range append(generatedCases(), corpusCases(t)...) {
		t.Run(c.name, func(t *testing.T) {
			if c.damaged {
				checkDamaged(t, c, "--backend", "cgofuse")
				return
			}
			if c.skipMsg != "" {
				t.Skip(c.skipMsg)
			}
			c.prepare(t)
			if c.huge {
				t.Cleanup(func() { os.Remove(c.path) })
			}
			mp := newMountpoint(t)
			cmd, log := foreground(t, c.path, mp, append([]string{"--backend", "cgofuse", "--xattr"}, c.args...)...)
			abs, err := filepath.Abs(c.path)
			must(t, err)
			mi, ok, err := mounter.FindMount(mp)
			if err != nil || !ok || mi.Source != abs || mi.FSType != mounter.FSType {
				t.Errorf("mountinfo %+v (%v %v), want source %s, type %s", mi, ok, err, abs, mounter.FSType)
			}
			for _, s := range suite {
				t.Run(s.name, func(t *testing.T) { s.fn(t, mp, c) })
			}
			if _, err := os.Stat(mp); err != nil {
				t.Fatalf("mount died during the suite: %v\n%s", err, log.String())
			}
			must(t, cmd.Process.Signal(syscall.SIGTERM))
			if code := waitExit(t, cmd, 20*time.Second); code != 0 {
				t.Errorf("exit %d after SIGTERM\n%s", code, log.String())
			}
			if isMounted(t, mp) {
				t.Errorf("%s still mounted after SIGTERM", mp)
			}
		})
	}
}
