//go:build windows

package mounter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/windows"

	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// target is where WinFsp mounts: a free drive letter ("X:") or a
// directory path that does not exist yet (WinFsp creates it).
type target struct {
	path string
}

func (t *target) close() {}

// reopenPath names an open file: Windows has no descriptor links, and
// the watch directory (the only caller that passes one) is Unix-only.
func reopenPath(f *os.File) string { return f.Name() }

// openTarget checks the drive letter is free (AnyDrive picks one) or the
// directory does not exist yet while its parent does.
func openTarget(o Options, log logrus.FieldLogger) (*target, error) {
	mp := strings.TrimSpace(o.Mountpoint)
	if mp == AnyDrive {
		d, err := pickDrive(func(string) bool { return false })
		if err != nil {
			return nil, err
		}
		return &target{path: d}, nil
	}
	if ctlproto.IsDrive(mp) {
		mp = strings.ToUpper(mp)
		inUse, err := windows.GetLogicalDrives()
		if err == nil && inUse&(1<<(mp[0]-'A')) != 0 {
			return nil, fmt.Errorf("%w: drive %s is in use", ErrBusy, mp)
		}
		return &target{path: mp}, nil
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, mp, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return nil, fmt.Errorf("%w: %s exists; WinFsp mounts on a drive letter (X:) or on a directory that does not exist yet", ErrMountpoint, abs)
	}
	if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: %s: its parent directory is missing", ErrMountpoint, abs)
	}
	return &target{path: abs}, nil
}

// checkEmpty: the mountpoint does not exist yet, so it hides nothing.
func (t *target) checkEmpty() error { return nil }

// visible reports whether the drive or directory now shows the mount.
func (t *target) visible() bool {
	p := t.path
	if ctlproto.IsDrive(p) {
		p += `\`
	}
	_, err := os.Stat(p)
	return err == nil
}

// platformMountOptions: WinFsp has no per-mount flags to pass (setuid
// bits and device nodes mean nothing to Windows).
func platformMountOptions(o Options, flags []string) []string { return nil }

// Unmount is for mounts this process does not serve: on Windows only the
// serving process can end a mount, so the daemon's are unmounted through
// it (isofsd unmount asks it first) and a foreground mount with Ctrl-C.
func Unmount(mountpoint string, lazy bool) error {
	return fmt.Errorf("%s: %w by the isofsd daemon: a foreground mount ends with Ctrl-C in its console", mountpoint, ErrNotMounted)
}

// Mounts lists nothing on Windows: `unmount --all` unmounts the daemon's
// mounts.
func Mounts() ([]MountInfo, error) { return nil, nil }

// reusableMountpoint: the watch directory is not supported on Windows.
func reusableMountpoint(dir *os.File, path string) bool { return false }

// pickDrive chooses a free drive letter that reserved does not hold.
func pickDrive(reserved func(drive string) bool) (string, error) {
	inUse, err := windows.GetLogicalDrives()
	if err != nil {
		return "", fmt.Errorf("%w: listing drive letters: %v", ErrMountpoint, err)
	}
	for c := 'A'; c <= 'Z'; c++ {
		if reserved(string(c) + ":") {
			inUse |= 1 << (c - 'A')
		}
	}
	d, ok := freeDrive(inUse)
	if !ok {
		return "", fmt.Errorf("%w: no free drive letter", ErrBusy)
	}
	return d, nil
}
