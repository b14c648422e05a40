//go:build unix

package fs

import "golang.org/x/sys/unix"

// mkdev encodes a device number as st_rdev.
func mkdev(major, minor uint32) uint32 { return uint32(unix.Mkdev(major, minor)) }
