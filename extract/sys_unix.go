//go:build unix && !linux

package extract

import (
	"os"

	"golang.org/x/sys/unix"
)

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only).
func setFileTimes(f *os.File, atime, mtime int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = unix.Futimes(int(fd), []unix.Timeval{unix.NsecToTimeval(atime), unix.NsecToTimeval(mtime)})
	})
	if err != nil {
		return err
	}
	return serr
}
