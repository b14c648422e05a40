//go:build windows

package fs

import (
	"errors"
	"syscall"
)

// mkdev encodes a device number the Linux way (what Rock Ridge records);
// WinFsp shows no device files anyway.
func mkdev(major, minor uint32) uint32 { return (major&0xfff)<<8 | minor&0xff | (minor&^0xff)<<12 }

// fdSize: splice is Linux-only, so the question never matters here.
func fdSize(fd uintptr) (bool, int64, error) {
	return false, 0, errors.New("fdSize: " + syscall.EWINDOWS.Error())
}
