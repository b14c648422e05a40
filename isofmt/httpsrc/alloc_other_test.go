//go:build !unix

package httpsrc

import "io/fs"

// allocated is the disk space fi occupies; without st_blocks, its size.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
