//go:build unix

package filesrc

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fstat is one fstat(2) of fd: os.File.Stat allocates a FileInfo, and
// the guard stats the file on every read.
func fstat(_ *os.File, fd uintptr) (fileState, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return fileState{}, err
	}
	return fileState{regular: st.Mode&unix.S_IFMT == unix.S_IFREG, size: st.Size, mtime: time.Unix(st.Mtim.Unix())}, nil
}
