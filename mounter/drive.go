package mounter

import (
	"path/filepath"
	"runtime"
	"strings"

	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// AnyDrive as a mountpoint asks for the first free drive letter
// (Windows), the way WinFsp's own "*" does — but chosen here, so that
// the mount can be confirmed and reported by its letter.
const AnyDrive = "*"

// CleanMountpoint is the form a mountpoint is known by: a drive letter
// upper case ("X:") on Windows, else the absolute path with symlinks
// resolved where they resolve.
func CleanMountpoint(mp string) (string, error) {
	if runtime.GOOS == "windows" && (ctlproto.IsDrive(mp) || mp == AnyDrive) {
		return strings.ToUpper(mp), nil
	}
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// freeDrive picks the free drive letter for AnyDrive from a bit mask of
// the letters in use (GetLogicalDrives: bit 0 is A:): from Z: down to D:,
// away from the letters Windows hands out first, as WinFsp does.
func freeDrive(inUse uint32) (string, bool) {
	for c := 'Z'; c >= 'D'; c-- {
		if inUse&(1<<(c-'A')) == 0 {
			return string(c) + ":", true
		}
	}
	return "", false
}
