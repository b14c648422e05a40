//go:build unix

package writer

import "golang.org/x/sys/unix"

// DevNumOf splits a device number as stat reports it (st_dev, st_rdev).
func DevNumOf(d uint64) DevNum { return DevNum{unix.Major(d), unix.Minor(d)} }

func devNum(d uint64) DevNum { return DevNumOf(d) }
