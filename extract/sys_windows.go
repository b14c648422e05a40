package extract

import (
	"os"

	"golang.org/x/sys/windows"
)

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only).
func setFileTimes(f *os.File, atime, mtime int64) error {
	a, m := windows.NsecToFiletime(atime), windows.NsecToFiletime(mtime)
	return withFd(f, func(h uintptr) error { return windows.SetFileTime(windows.Handle(h), nil, &a, &m) })
}
