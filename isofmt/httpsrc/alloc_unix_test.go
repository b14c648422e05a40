//go:build unix

package httpsrc

import (
	"io/fs"
	"syscall"
)

// allocated is the disk space fi occupies (sparse files: less than its size).
func allocated(fi fs.FileInfo) int64 { return fi.Sys().(*syscall.Stat_t).Blocks * 512 }
