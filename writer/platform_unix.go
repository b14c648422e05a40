//go:build !windows

package writer

import "os"

// isDevicePath reports whether fi (the stat of path) is a drive node:
// a block device, or on macOS also the raw character device /dev/rdiskN.
func isDevicePath(path string, fi os.FileInfo) bool {
	if fi == nil || fi.Mode()&os.ModeDevice == 0 {
		return false
	}
	return fi.Mode()&os.ModeCharDevice == 0 || rawCharDevices
}
