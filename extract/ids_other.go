//go:build !unix && !windows

package extract

import (
	"io/fs"
	"os"
)

// hasIDs: this system has no numeric owners to compare.
func hasIDs(fs.FileInfo, int, int) bool { return false }

// ownedByMe: no owners to check here.
func ownedByMe(fs.FileInfo) bool { return false }

// tryLock: no locks here, so no temporary file is taken for abandoned.
func tryLock(*os.File) bool { return false }
