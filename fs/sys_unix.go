//go:build unix

package fs

import (
	"time"

	"golang.org/x/sys/unix"
)

// mkdev encodes a device number as st_rdev.
func mkdev(major, minor uint32) uint32 { return uint32(unix.Mkdev(major, minor)) }

// fdStat reports whether fd is a regular file, its size and its
// modification time.
func fdStat(fd uintptr) (bool, int64, time.Time, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return false, 0, time.Time{}, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG, st.Size, time.Unix(st.Mtim.Unix()), nil
}

// fdStatFunc returns a function reporting fd's size and modification time
// with one fstat and no allocation.
func fdStatFunc(fd uintptr) func() (int64, time.Time, error) {
	return func() (int64, time.Time, error) {
		_, size, mtime, err := fdStat(fd)
		return size, mtime, err
	}
}
