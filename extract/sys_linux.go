package extract

import "os"

// setFileTimes sets the access and modification times of an open file
// (os has Chtimes by name only; x/sys's Futimes goes through /proc).
func setFileTimes(f *os.File, atime, mtime int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		serr = futimens(int(fd), timespecs(meta{atime: atime, mtime: mtime}))
	})
	if err != nil {
		return err
	}
	return serr
}
