//go:build unix

package diskio

import (
	"io/fs"
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

// isDisk reports whether a file of mode m at path is a disk: a block
// device, or on macOS also a raw /dev/rdiskN node (a character device,
// through which whole disks read fastest). Other character devices are
// never disks.
func isDisk(path string, m fs.FileMode) bool {
	if m&fs.ModeDevice == 0 {
		return false
	}
	return m&fs.ModeCharDevice == 0 || (runtime.GOOS == "darwin" && strings.HasPrefix(filepath.Base(path), "rdisk"))
}
