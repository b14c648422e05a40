//go:build windows

package writer

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// openDevice opens a physical drive unbuffered and write-through; such
// handles need sector-aligned offsets, lengths and buffers, which Direct()
// reports. Windows has no O_EXCL for disks: the mount rule (no volume with
// a drive letter on it) is what keeps the file systems away.
func openDevice(path string) (*osSink, DevNum, int64, error) {
	n, ok := driveNumber(path)
	if !ok {
		return nil, DevNum{}, 0, fmt.Errorf("%s: %w: not a physical drive path", path, ErrRefused)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, DevNum{}, 0, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_NO_BUFFERING|windows.FILE_FLAG_WRITE_THROUGH, 0)
	if err != nil {
		return nil, DevNum{}, 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	b, err := ioctl(h, ioctlDiskGetLengthInfo, nil, 8)
	if err != nil || len(b) < 8 {
		windows.CloseHandle(h)
		return nil, DevNum{}, 0, fmt.Errorf("%s: IOCTL_DISK_GET_LENGTH_INFO: %v", path, err)
	}
	size := int64(binary.LittleEndian.Uint64(b))
	lbs := 512
	if g, err := ioctl(h, ioctlDiskGetDriveGeometryEx, nil, 256); err == nil && len(g) >= 24 {
		if bs := binary.LittleEndian.Uint32(g[20:]); bs > 0 {
			lbs = int(bs)
		}
	}
	return &osSink{f: os.NewFile(uintptr(h), path), direct: true, lbs: lbs, isDev: true}, DevNum{0, n}, size, nil
}

func openFile(path string) (*osSink, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &osSink{f: f, lbs: 4096}, nil
}

func (s *osSink) Sync() error { return windows.FlushFileBuffers(windows.Handle(s.f.Fd())) }

// DropCache: the drive handle is unbuffered already.
func (s *osSink) DropCache() {}

// buffered: raw drives here cannot drop their alignment rules.
func (s *osSink) buffered() error { return nil }
