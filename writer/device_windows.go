//go:build windows

package writer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/windows"
)

// The Windows probe opens \\.\PhysicalDriveN without access rights (query
// only) and asks the storage stack: IOCTL_STORAGE_QUERY_PROPERTY for bus,
// vendor, product and serial, IOCTL_DISK_GET_LENGTH_INFO for the size,
// IOCTL_DISK_GET_DRIVE_GEOMETRY_EX for the sector size and
// IOCTL_DISK_IS_WRITABLE for write protection. Mounted volumes are found
// from the drive letters: IOCTL_VOLUME_GET_VOLUME_DISK_EXTENTS names the
// disks under each letter.

const (
	ioctlStorageQueryProperty       = 0x002D1400
	ioctlDiskGetLengthInfo          = 0x0007405C
	ioctlDiskGetDriveGeometryEx     = 0x000700A0
	ioctlDiskIsWritable             = 0x00070024
	ioctlVolumeGetVolumeDiskExtents = 0x00560000
	maxPhysicalDrives               = 64
	physicalDrivePrefix             = `\\.\PhysicalDrive`
)

func openQuery(path string, access uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, err
	}
	return windows.CreateFile(p, access, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
}

func ioctl(h windows.Handle, code uint32, in []byte, outSize int) ([]byte, error) {
	out := make([]byte, max(outSize, 1))
	var n uint32
	var inp *byte
	if len(in) > 0 {
		inp = &in[0]
	}
	if err := windows.DeviceIoControl(h, code, inp, uint32(len(in)), &out[0], uint32(len(out)), &n, nil); err != nil {
		return nil, err
	}
	return out[:n], nil
}

// driveNumber parses \\.\PhysicalDriveN.
func driveNumber(path string) (uint32, bool) {
	if !strings.HasPrefix(strings.ToLower(path), strings.ToLower(physicalDrivePrefix)) {
		return 0, false
	}
	n, err := strconv.ParseUint(path[len(physicalDrivePrefix):], 10, 32)
	return uint32(n), err == nil
}

// volumeDisks maps each drive letter to the disks its volume spans.
func volumeDisks() map[string][]uint32 {
	out := map[string][]uint32{}
	mask, err := windows.GetLogicalDrives()
	if err != nil {
		return out
	}
	for i := 0; i < 26; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		letter := string(rune('A'+i)) + ":"
		h, err := openQuery(`\\.\`+letter, 0)
		if err != nil {
			continue
		}
		b, err := ioctl(h, ioctlVolumeGetVolumeDiskExtents, nil, 8+24*maxDiskExtents)
		windows.CloseHandle(h)
		if err != nil {
			continue // CD drives, network drives
		}
		if disks, err := parseDiskExtents(b); err == nil {
			out[letter] = disks
		}
	}
	return out
}

func systemLetter() string {
	dir, err := windows.GetWindowsDirectory()
	if err != nil || len(dir) < 2 {
		return ""
	}
	return strings.ToUpper(dir[:2])
}

func windowsDevice(n uint32, vols map[string][]uint32, sys string) (*Device, error) {
	path := physicalDrivePrefix + strconv.FormatUint(uint64(n), 10)
	// The length query needs read access (administrators); without it the
	// other queries still work and the size stays unknown (0).
	h, err := openQuery(path, windows.GENERIC_READ)
	if err != nil {
		h, err = openQuery(path, 0)
	}
	if err != nil {
		return nil, err
	}
	defer windows.CloseHandle(h)
	d := &Device{Path: path, Name: "PhysicalDrive" + strconv.FormatUint(uint64(n), 10), Num: DevNum{0, n}, LogicalBlockSize: 512}
	// STORAGE_PROPERTY_QUERY{PropertyId: StorageDeviceProperty, QueryType: PropertyStandardQuery}
	q := make([]byte, 12)
	if b, err := ioctl(h, ioctlStorageQueryProperty, q, 1024); err == nil {
		if sd, err := parseStorageDescriptor(b); err == nil {
			d.Vendor, d.Model, d.Serial = sd.Vendor, sd.Product, sd.Serial
			d.Removable = sd.Removable
			d.Transport = windowsTransport(sd.BusType)
		}
	}
	if d.Transport == "" {
		d.Transport = TransportOther
	}
	if b, err := ioctl(h, ioctlDiskGetLengthInfo, nil, 8); err == nil && len(b) >= 8 {
		d.Size = int64(binary.LittleEndian.Uint64(b))
	}
	if b, err := ioctl(h, ioctlDiskGetDriveGeometryEx, nil, 256); err == nil && len(b) >= 24 {
		if bs := binary.LittleEndian.Uint32(b[20:]); bs > 0 {
			d.LogicalBlockSize = int(bs)
		}
	}
	if _, err := ioctl(h, ioctlDiskIsWritable, nil, 1); errors.Is(err, windows.ERROR_WRITE_PROTECT) {
		d.ReadOnly = true
	}
	for letter, disks := range vols {
		for _, dn := range disks {
			if dn == n {
				d.Mounts = append(d.Mounts, Mount{Device: letter, MountPoint: letter + `\`})
				if letter == sys {
					d.System = true
				}
			}
		}
	}
	return d, nil
}

func listDevices(o ProbeOptions) ([]*Device, error) {
	vols, sys := volumeDisks(), systemLetter()
	var out []*Device
	for n := uint32(0); n < maxPhysicalDrives; n++ {
		d, err := windowsDevice(n, vols, sys)
		if err != nil {
			continue // numbers can have gaps
		}
		out = append(out, d)
	}
	return out, nil
}

func lookupDevice(path string, o ProbeOptions) (*Device, error) {
	n, ok := driveNumber(path)
	if !ok {
		return nil, fmt.Errorf("%s: %w: not a \\\\.\\PhysicalDriveN path", path, ErrRefused)
	}
	d, err := windowsDevice(n, volumeDisks(), systemLetter())
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d.Path = path
	return d, nil
}

func devicesBelow(string, ProbeOptions) ([]StackDevice, error) { return nil, ErrUnsupported }

func sourceDevices(path string, o ProbeOptions) ([]DevNum, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	buf := make([]uint16, windows.MAX_PATH+1)
	if err := windows.GetVolumePathName(p, &buf[0], uint32(len(buf))); err != nil {
		return nil, &os.PathError{Op: "GetVolumePathName", Path: path, Err: err}
	}
	vol := strings.TrimSuffix(windows.UTF16ToString(buf), `\`)
	h, err := openQuery(`\\.\`+vol, 0)
	if err != nil {
		return nil, nil // a network share or a mount without a volume handle
	}
	defer windows.CloseHandle(h)
	b, err := ioctl(h, ioctlVolumeGetVolumeDiskExtents, nil, 8+24*maxDiskExtents)
	if err != nil {
		return nil, nil
	}
	disks, err := parseDiskExtents(b)
	if err != nil {
		return nil, err
	}
	var out []DevNum
	for _, n := range disks {
		out = append(out, DevNum{0, n})
	}
	return out, nil
}

func unmountHint(*Device) string {
	return ` (take its volumes offline or remove their drive letters first, e.g. "mountvol X: /p")`
}

// isDevicePath accepts \\.\PhysicalDriveN.
func isDevicePath(path string, _ os.FileInfo) bool {
	_, ok := driveNumber(path)
	return ok
}

// fileLoops: no loop devices to find here (macOS disk images attached
// with hdiutil are drives of their own and are probed as such).
func fileLoops(string, ProbeOptions) ([]*Device, error) { return nil, nil }

// fileIDOf: loop devices, whose backing files it matches, are Linux's.
func fileIDOf(os.FileInfo) (fileID, bool) { return fileID{}, false }
