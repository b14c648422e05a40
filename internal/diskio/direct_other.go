//go:build !linux && !darwin

package diskio

import "os"

// OpenDirect opens path buffered: this system has no O_DIRECT for plain
// opens (Windows drives get FILE_FLAG_NO_BUFFERING from package writer,
// which opens them with CreateFile). direct is always false.
func OpenDirect(path string, flag int, perm os.FileMode) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, flag, perm)
	return f, false, err
}
