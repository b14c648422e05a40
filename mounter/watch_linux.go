//go:build linux

package mounter

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// errPollOnly: the system has no change notification we use.
var errPollOnly = errors.New("no change notification here")

// openDirPath opens a directory to reach what is below it (O_PATH).
func openDirPath(path string) (int, error) {
	return unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openBeneath opens name in the directory dirfd as an O_PATH directory
// descriptor, refusing any symlink (openat2's RESOLVE_NO_SYMLINKS; on
// kernels before 5.6, O_NOFOLLOW, which suffices for one name).
func openBeneath(dirfd int, name string) (int, error) {
	how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS}
	fd, err := unix.Openat2(dirfd, name, &how)
	if errors.Is(err, unix.ENOSYS) {
		fd, err = unix.Openat(dirfd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	return fd, err
}

// notifier returns an inotify descriptor that becomes readable when dir
// changes; the scan finds out what changed, so overflow loses nothing.
func notifier(dir string) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MODIFY|unix.IN_CLOSE_WRITE|
		unix.IN_MOVED_TO|unix.IN_MOVED_FROM|unix.IN_DELETE|unix.IN_ATTRIB|unix.IN_DELETE_SELF); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "inotify"), nil
}
