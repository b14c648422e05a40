//go:build !unix

package diskio

import (
	"io/fs"
	"os"
	"strings"
)

// openNonBlocking is a plain open here: Windows has no FIFOs in the file
// system namespace that an open could block on.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }

// isDisk reports whether path is a drive: Windows names drives and
// volumes with the device namespace (\\.\PhysicalDrive2, \\.\E:), whose
// mode Go does not report as a device.
func isDisk(path string, m fs.FileMode) bool {
	return strings.HasPrefix(path, `\\.\`) || (m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0)
}
