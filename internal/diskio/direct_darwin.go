//go:build darwin

package diskio

import (
	"os"

	"golang.org/x/sys/unix"
)

// OpenDirect opens path and turns the page cache off for it (F_NOCACHE,
// macOS's nearest to O_DIRECT). F_NOCACHE imposes no alignment, so direct
// is always false: callers need not align their I/O.
func OpenDirect(path string, flag int, perm os.FileMode) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, false, err
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1)
	return f, false, nil
}
