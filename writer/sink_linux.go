//go:build linux

package writer

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/internal/diskio"
)

// openDevice opens a block device for an exclusive read-write session:
// O_EXCL on a block device makes the kernel refuse the open while anything
// (a mount, swap, device-mapper) holds it, and keeps new mounts out while
// we write. O_DIRECT bypasses the page cache; if the device refuses it we
// fall back to buffered I/O and say so.
func openDevice(path string) (*osSink, DevNum, int64, error) {
	f, direct, err := diskio.OpenDirect(path, os.O_RDWR|unix.O_EXCL, 0)
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil, DevNum{}, 0, fmt.Errorf("%s: %w: %w (mounted, swap, or held by another program)", path, ErrRefused, unix.EBUSY)
		}
		return nil, DevNum{}, 0, err
	}
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, DevNum{}, 0, fmt.Errorf("%s: fstat: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		f.Close()
		return nil, DevNum{}, 0, fmt.Errorf("%s: %w: no longer a block device", path, ErrRefused)
	}
	size, err := unix.IoctlGetUint64(fd, unix.BLKGETSIZE64)
	if err != nil {
		f.Close()
		return nil, DevNum{}, 0, fmt.Errorf("%s: BLKGETSIZE64: %w", path, err)
	}
	lbs, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil || lbs <= 0 {
		lbs = 512
	}
	return &osSink{f: f, direct: direct, lbs: lbs, isDev: true}, devNum(st.Rdev), int64(size), nil
}

// openFile opens (creating or truncating) a regular file target. tmpfs and
// some FUSE filesystems reject O_DIRECT; those get buffered I/O.
func openFile(path string) (*osSink, error) {
	f, direct, err := diskio.OpenDirect(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osSink{f: f, direct: direct, lbs: 4096}, nil
}

func (s *osSink) Sync() error { return unix.Fdatasync(int(s.f.Fd())) }

// DropCache evicts the target's cached pages so that a buffered verify
// reads the medium, not memory. tmpfs files cannot be evicted; a file on
// tmpfs is memory anyway.
func (s *osSink) DropCache() {
	fd := int(s.f.Fd())
	if s.isDev {
		_ = unix.IoctlSetInt(fd, unix.BLKFLSBUF, 0)
	}
	_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
}

// rawCharDevices: Linux drives are block devices only (raw character
// devices are long gone).
const rawCharDevices = false

// buffered turns O_DIRECT off (Linux lets F_SETFL change it on an open
// file), for callers that write unaligned pieces.
func (s *osSink) buffered() error {
	fd := int(s.f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_DIRECT); err != nil {
		return err
	}
	s.direct = false
	return nil
}
