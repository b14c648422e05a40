//go:build unix

package extract

import (
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fileOwner returns the uid that owns the file fi describes.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

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
