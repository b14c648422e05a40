//go:build darwin

package mounter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// target is the mountpoint: an existing directory macFUSE mounts on by
// path (it cannot mount on a descriptor), with the device it had before.
type target struct {
	path string
	dev  int32
}

func (t *target) close() {}

// reopenPath names an open file so that opening the name opens that very
// file.
func reopenPath(f *os.File) string { return fmt.Sprintf("/dev/fd/%d", f.Fd()) }

// openTarget checks that the mountpoint is a directory nothing is
// mounted on. A MountpointDir from the watch directory must still be
// what its path names, and not through a symlink: macFUSE mounts by
// path, so this is checked again just before mounting.
func openTarget(o Options, log logrus.FieldLogger) (*target, error) {
	mp, err := filepath.Abs(o.Mountpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
	}
	if o.MountpointDir == nil {
		if real, err := filepath.EvalSymlinks(mp); err == nil {
			mp = real
		}
	}
	var st, parent unix.Stat_t
	if err := unix.Lstat(mp, &st); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMountpoint, &os.PathError{Op: "stat", Path: mp, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrMountpoint, mp)
	}
	if o.MountpointDir != nil {
		var fst unix.Stat_t
		if err := unix.Fstat(int(o.MountpointDir.Fd()), &fst); err != nil || fst.Dev != st.Dev || fst.Ino != st.Ino {
			return nil, fmt.Errorf("%w: %s changed while it was being checked", ErrMountpoint, mp)
		}
	}
	if err := unix.Stat(filepath.Dir(mp), &parent); err == nil && parent.Dev != st.Dev {
		return nil, fmt.Errorf("%w: %s already has a file system mounted on it; unmount it first", ErrBusy, mp)
	}
	return &target{path: mp, dev: st.Dev}, nil
}

// checkEmpty refuses a mountpoint that has entries: the mount would hide
// them.
func (t *target) checkEmpty() error {
	f, err := os.Open(t.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%w: %s is not empty (it holds %q…): mounting would hide what is there; use -o nonempty to mount over it anyway", ErrMountpoint, t.path, names[0])
	}
	return nil
}

// visible reports whether a file system now sits on the mountpoint.
func (t *target) visible() bool {
	var st unix.Stat_t
	return unix.Stat(t.path, &st) == nil && st.Dev != t.dev
}

// platformMountOptions are macFUSE's -o options: nosuid,nodev unless
// trusted, and the per-mount flags.
func platformMountOptions(o Options, flags []string) []string {
	out := append([]string(nil), flags...)
	if !o.TrustImageSuid {
		out = append(out, "nosuid", "nodev")
	}
	return out
}

// isFUSE reports whether statfs names macFUSE (or its older name).
func isFUSE(sf *unix.Statfs_t) bool {
	name := unix.ByteSliceToString(sf.Fstypename[:])
	return strings.HasPrefix(name, "macfuse") || strings.HasPrefix(name, "osxfuse")
}

// Unmount unmounts the FUSE mount at mountpoint; lazy forces it even
// while files are open. Anything but a macFUSE mount is refused.
func Unmount(mountpoint string, lazy bool) error {
	mp, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	var sf unix.Statfs_t
	if err := unix.Statfs(mp, &sf); err != nil {
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	if unix.ByteSliceToString(sf.Mntonname[:]) != mp {
		return fmt.Errorf("%s: %w", mp, ErrNotMounted)
	}
	if !isFUSE(&sf) {
		return fmt.Errorf("%s: %w: it is %s; refusing to unmount it", mp, ErrNotIsofsd, unix.ByteSliceToString(sf.Fstypename[:]))
	}
	flags := 0
	if lazy {
		flags = unix.MNT_FORCE
	}
	if err := unix.Unmount(mp, flags); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return &BusyError{Mountpoint: mp}
		}
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	return nil
}

// Mounts lists nothing on macOS: `unmount --all` unmounts the daemon's
// mounts (standalone ones end with `umount`).
func Mounts() ([]MountInfo, error) { return nil, nil }

// reusableMountpoint reports whether the directory at path (opened as
// dir) is an empty one nothing is mounted on.
func reusableMountpoint(dir *os.File, path string) bool {
	t, err := openTarget(Options{Mountpoint: path, MountpointDir: dir}, nil)
	return err == nil && t.checkEmpty() == nil
}

// pickDrive: drive letters are Windows'.
func pickDrive(reserved func(drive string) bool) (string, error) {
	return "", fmt.Errorf("%w: %q (a free drive letter) is for Windows", ErrMountpoint, AnyDrive)
}
