//go:build unix && !linux

package extract

import (
	"os"

	"golang.org/x/sys/unix"
)

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only).
func setFileTimes(f *os.File, atime, mtime int64) error {
	return withFd(f, func(fd uintptr) error {
		return unix.Futimes(int(fd), []unix.Timeval{unix.NsecToTimeval(atime), unix.NsecToTimeval(mtime)})
	})
}
