//go:build linux

package diskio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// OpenDirect opens path with flag|O_DIRECT. File systems that refuse
// O_DIRECT at open (tmpfs, some FUSE ones) say EINVAL; the file is then
// opened without it and direct is false. With direct true, offsets,
// lengths and buffer addresses must be aligned (see AlignedBuffer).
func OpenDirect(path string, flag int, perm os.FileMode) (f *os.File, direct bool, err error) {
	f, err = os.OpenFile(path, flag|unix.O_DIRECT|unix.O_CLOEXEC, perm)
	if errors.Is(err, unix.EINVAL) {
		f, err = os.OpenFile(path, flag|unix.O_CLOEXEC, perm)
		return f, false, err
	}
	return f, err == nil, err
}
