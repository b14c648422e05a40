//go:build unix && !linux

package extract

import "io/fs"

// systemDest: os.Root is the writer on this system.
func systemDest(fd int, p string, _ bool) (dirHandle, error) { return rootAt(fd, p) }

// processUmask: unknown here, so permissions are always set explicitly.
func processUmask() (fs.FileMode, bool) { return 0, false }
