//go:build !linux

package mounter

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/isofsd/isofsd/fs/cgofuse"
)

// DefaultBackend is the FUSE library mounts use: cgofuse, over macFUSE on
// macOS and WinFsp on Windows (go-fuse serves only Linux here).
const DefaultBackend = "cgofuse"

// CheckTrustImageSuid: macFUSE and WinFsp take the mount's flags as
// given (Windows has no setuid bits to honour).
func CheckTrustImageSuid() error { return nil }

// gofuseAvailable: fs/gofuse is built for Linux only.
const gofuseAvailable = false

// attach has cgofuse mount the tree on t (macFUSE and WinFsp make the
// mount themselves) and waits until the mountpoint shows it.
func (m *Mount) attach(ctx context.Context, t *target, imgPath string, flags []string) error {
	o := m.opts
	srv, err := cgofuse.Mount(t.path, m.tree, cgofuse.Options{Source: imgPath, AllowOther: o.AllowOther,
		ExtraOptions: platformMountOptions(o, flags), Debug: o.Debug, Log: o.Log})
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", imgPath, t.path, err)
	}
	m.server = srv
	deadline := time.Now().Add(mountConfirmTimeout)
	for !t.visible() {
		if time.Now().After(deadline) {
			srv.Unmount()
			return fmt.Errorf("mount on %s did not become visible within %v", t.path, mountConfirmTimeout)
		}
		select {
		case <-ctx.Done():
			srv.Unmount()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// setReadAhead: the read-ahead knob is Linux's.
func (m *Mount) setReadAhead(int) {}

// unmount asks the backend to unmount: on macOS and Windows the process
// serving a mount ends it.
func (m *Mount) unmount(lazy bool) error {
	if err := m.server.(*cgofuse.Server).Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w", m.mountpoint, err)
	}
	return nil
}

// dirPath is the path the directory dir was opened by (macFUSE mounts by
// path; openTarget checks it still names dir).
func dirPath(dir *os.File, name string) (string, error) { return CleanMountpoint(name) }
