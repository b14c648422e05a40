package extract

import (
	"os"

	"golang.org/x/sys/windows"
)

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only).
func setFileTimes(f *os.File, atime, mtime int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	a, m := windows.NsecToFiletime(atime), windows.NsecToFiletime(mtime)
	var serr error
	err = rc.Control(func(h uintptr) {
		serr = windows.SetFileTime(windows.Handle(h), nil, &a, &m)
	})
	if err != nil {
		return err
	}
	return serr
}
