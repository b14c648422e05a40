package fetch

import (
	"io/fs"

	"golang.org/x/sys/windows"
)

// Windows has no O_NOFOLLOW; checkOurs refuses a link by Lstat and
// openTarget compares what it opened with what it looked at.
const noFollow = 0

func isLoop(error) bool { return false }

// notOwned: a file's owner is an ACL matter on Windows, and a shared
// directory there is not writable by others by default.
func notOwned(fs.FileInfo) string { return "" }

func freeSpace(dir string) (uint64, error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var avail, total, free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &free); err != nil {
		return 0, err
	}
	return avail, nil
}
