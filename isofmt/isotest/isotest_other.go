//go:build !unix

package isotest

import "io/fs"

func diskIno(fs.FileInfo) string { return "" }
