package extract

import "os"

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only; x/sys's Futimes goes through /proc).
func setFileTimes(f *os.File, atime, mtime int64) error {
	return withFd(f, func(fd uintptr) error { return futimens(int(fd), timespecs(meta{atime: atime, mtime: mtime})) })
}
