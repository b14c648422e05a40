//go:build !unix

package extract

import "io/fs"

// hasIDs: this system has no numeric owners to compare.
func hasIDs(fs.FileInfo, int, int) bool { return false }
