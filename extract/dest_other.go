//go:build !linux

package extract

import "io/fs"

// openSystemDest: os.Root is the writer on this system.
func openSystemDest(dir string, _ bool) (dirHandle, error) { return openRootDest(dir) }

// processUmask: unknown here, so permissions are always set explicitly.
func processUmask() (fs.FileMode, bool) { return 0, false }
