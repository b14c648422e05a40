package extract

import (
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// hasIDs: this system has no numeric owners to compare.
func hasIDs(fs.FileInfo, int, int) bool { return false }

// ownedByMe: files carry no numeric owner here; the lock decides.
func ownedByMe(fs.FileInfo) bool { return true }

// tryLock takes an exclusive lock on all of f without waiting
// (LockFileEx; the system drops it when the process dies) and reports
// whether it got it.
func tryLock(f *os.File) bool {
	return withFd(f, func(h uintptr) error {
		var ol windows.Overlapped
		return windows.LockFileEx(windows.Handle(h), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, ^uint32(0), ^uint32(0), &ol)
	}) == nil
}
