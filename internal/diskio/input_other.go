//go:build !unix

package diskio

import "os"

// openNonBlocking is a plain open here: Windows has no FIFOs in the file
// system namespace that an open could block on.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }

// rawDiskDevice: Windows drives (\\.\PhysicalDriveN) are not character
// devices in Go's view.
func rawDiskDevice(string) bool { return false }
