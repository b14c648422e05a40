//go:build unix

package diskio

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// openNonBlocking opens path read-only with O_NONBLOCK, so that opening a
// FIFO returns at once instead of waiting for a writer, then clears the
// flag again: reads of what OpenInput accepts must block normally.
func openNonBlocking(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// rawDiskDevice reports whether a character device is a disk: macOS reads
// whole disks fastest through the raw /dev/rdiskN nodes, which are
// character devices. Elsewhere character devices are never disks.
func rawDiskDevice(path string) bool {
	return runtime.GOOS == "darwin" && strings.HasPrefix(filepath.Base(path), "rdisk")
}
