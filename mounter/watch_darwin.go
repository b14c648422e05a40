//go:build darwin

package mounter

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// errPollOnly: the watch directory is scanned periodically here (no
// inotify; a scan every half second costs one directory read).
var errPollOnly = errors.New("no change notification here")

// openDirPath opens a directory to reach what is below it.
func openDirPath(path string) (int, error) {
	return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

// openBeneath opens name in the directory dirfd, refusing a symlink
// (O_NOFOLLOW suffices for one name).
func openBeneath(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

func notifier(dir string) (*os.File, error) { return nil, errPollOnly }
