//go:build darwin

package writer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// disk ioctls from <sys/disk.h>: _IOR('d', 24, uint32) and _IOR('d', 25, uint64).
const (
	dkiocGetBlockSize  = 0x40046418
	dkiocGetBlockCount = 0x40086419
)

func ioctlPtr(fd int, req uint, p unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(p))
	if e != 0 {
		return e
	}
	return nil
}

// openDevice opens the raw node /dev/rdiskN (the buffered /dev/diskN is
// many times slower) with an exclusive flock and F_NOCACHE. Raw disk I/O
// must be block-aligned, which Direct() reports.
func openDevice(path string) (*osSink, DevNum, int64, error) {
	raw := path
	if base := filepath.Base(path); strings.HasPrefix(base, "disk") {
		raw = filepath.Join(filepath.Dir(path), "r"+base)
	}
	f, err := os.OpenFile(raw, os.O_RDWR|unix.O_EXLOCK|unix.O_NONBLOCK, 0)
	if err != nil {
		if os.IsExist(err) || err == unix.EBUSY || err == unix.EWOULDBLOCK {
			return nil, DevNum{}, 0, fmt.Errorf("%s: %w: the disk is busy", path, ErrRefused)
		}
		return nil, DevNum{}, 0, err
	}
	fd := int(f.Fd())
	_, _ = unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1)
	var bs uint32
	var count uint64
	if err := ioctlPtr(fd, dkiocGetBlockSize, unsafe.Pointer(&bs)); err != nil || bs == 0 {
		f.Close()
		return nil, DevNum{}, 0, fmt.Errorf("%s: DKIOCGETBLOCKSIZE: %v", path, err)
	}
	if err := ioctlPtr(fd, dkiocGetBlockCount, unsafe.Pointer(&count)); err != nil {
		f.Close()
		return nil, DevNum{}, 0, fmt.Errorf("%s: DKIOCGETBLOCKCOUNT: %v", path, err)
	}
	// The identity is the block device's number, as the probe saw it.
	var st unix.Stat_t
	num := DevNum{}
	if unix.Stat(filepath.Join(filepath.Dir(path), diskName(path)), &st) == nil {
		num = DevNum{uint32(unix.Major(uint64(st.Rdev))), uint32(unix.Minor(uint64(st.Rdev)))}
	}
	return &osSink{f: f, direct: true, lbs: int(bs), isDev: true}, num, int64(count) * int64(bs), nil
}

func openFile(path string) (*osSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	_, _ = unix.FcntlInt(f.Fd(), unix.F_NOCACHE, 1)
	return &osSink{f: f, lbs: 4096}, nil
}

// Sync asks the drive itself to flush (F_FULLFSYNC), falling back to fsync.
func (s *osSink) Sync() error {
	if _, err := unix.FcntlInt(s.f.Fd(), unix.F_FULLFSYNC, 0); err == nil {
		return nil
	}
	return s.f.Sync()
}

// DropCache: F_NOCACHE already keeps the data out of the cache.
func (s *osSink) DropCache() {}

// buffered: raw drives here cannot drop their alignment rules.
func (s *osSink) buffered() error { return nil }
