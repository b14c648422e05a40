//go:build unix

package fs

import "golang.org/x/sys/unix"

// mkdev encodes a device number as st_rdev.
func mkdev(major, minor uint32) uint32 { return uint32(unix.Mkdev(major, minor)) }

// fdSize reports whether fd is a regular file, and its size.
func fdSize(fd uintptr) (bool, int64, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(fd), &st); err != nil {
		return false, 0, err
	}
	return st.Mode&unix.S_IFMT == unix.S_IFREG, st.Size, nil
}
