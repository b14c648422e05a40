//go:build windows

package fs

import (
	"errors"
	"syscall"
	"time"
)

// mkdev encodes a device number the Linux way (what Rock Ridge records);
// WinFsp shows no device files anyway.
func mkdev(major, minor uint32) uint32 { return (major&0xfff)<<8 | minor&0xff | (minor&^0xff)<<12 }

// fdStat: splice is Linux-only, so the question never matters here.
func fdStat(fd uintptr) (bool, int64, time.Time, error) {
	return false, 0, time.Time{}, errors.New("fdStat: " + syscall.EWINDOWS.Error())
}

// fdStatFunc: none here; isofmt's own os.File.Stat serves.
func fdStatFunc(fd uintptr) func() (int64, time.Time, error) { return nil }
