//go:build darwin

package writer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The macOS probe asks diskutil, which knows bus protocols, APFS
// containers and mount points: `diskutil list -plist` for the disks and
// their mounts, `diskutil info -plist diskN` for each disk's details.

func diskutilPlist(o ProbeOptions, args ...string) (map[string]any, error) {
	cmd := exec.Command(o.Diskutil, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("diskutil %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	v, err := parsePlist(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("diskutil %s: %w", strings.Join(args, " "), err)
	}
	m := plistDict(v)
	if m == nil {
		return nil, fmt.Errorf("diskutil %s: not a dictionary", strings.Join(args, " "))
	}
	return m, nil
}

func listDevices(o ProbeOptions) ([]*Device, error) {
	list, err := diskutilPlist(o, "list", "-plist")
	if err != nil {
		return nil, err
	}
	mounts := diskutilMounts(list)
	var out []*Device
	wholes, _ := list["WholeDisks"].([]any)
	for _, v := range wholes {
		name, _ := v.(string)
		if name == "" {
			continue
		}
		d, err := darwinDevice(o, name, list, mounts)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// apfsContainer reports whether name is a synthesized APFS container
// (its volumes are counted on the physical disk instead).
func apfsContainer(list map[string]any, name string) bool {
	for _, d := range plistDicts(list, "AllDisksAndPartitions") {
		if plistString(d, "DeviceIdentifier") == name {
			return len(plistDicts(d, "APFSPhysicalStores")) > 0
		}
	}
	return false
}

func darwinDevice(o ProbeOptions, name string, list map[string]any, mounts map[string][]Mount) (*Device, error) {
	info, err := diskutilPlist(o, "info", "-plist", name)
	if err != nil {
		return nil, err
	}
	d := &Device{Name: name, Path: filepath.Join(o.DevRoot, name)}
	applyDiskutilInfo(d, info)
	if apfsContainer(list, name) {
		d.Transport = TransportVirtual
	}
	for _, p := range plistDicts(list, "AllDisksAndPartitions") {
		if plistString(p, "DeviceIdentifier") != name {
			continue
		}
		for _, part := range plistDicts(p, "Partitions") {
			d.Partitions = append(d.Partitions, plistString(part, "DeviceIdentifier"))
		}
	}
	d.Mounts = mounts[name]
	for _, m := range d.Mounts {
		if m.MountPoint == "/" {
			d.System = true
		}
	}
	var st unix.Stat_t
	if unix.Stat(d.Path, &st) == nil {
		d.Num = DevNum{uint32(unix.Major(uint64(st.Rdev))), uint32(unix.Minor(uint64(st.Rdev)))}
	}
	return d, nil
}

// diskName turns /dev/diskN, /dev/rdiskN (or diskN) into diskN.
func diskName(path string) string {
	return strings.TrimPrefix(filepath.Base(path), "r")
}

func lookupDevice(path string, o ProbeOptions) (*Device, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !isDevicePath(path, fi) {
		return nil, fmt.Errorf("%s: %w: not a disk device", path, ErrRefused)
	}
	name := diskName(path)
	if strings.Count(name, "s") > 1 {
		whole := name[:strings.LastIndex(name, "s")]
		return nil, fmt.Errorf("%s: %w: it is a partition; write to the whole disk (/dev/r%s)", path, ErrRefused, whole)
	}
	list, err := diskutilPlist(o, "list", "-plist")
	if err != nil {
		return nil, err
	}
	d, err := darwinDevice(o, name, list, diskutilMounts(list))
	if err != nil {
		return nil, err
	}
	d.Path = path
	return d, nil
}

// devicesBelow is the file system's own device: macOS has no sysfs to
// walk, and diskutil's view is sourceDevices'.
func devicesBelow(path string, _ ProbeOptions) ([]StackDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return []StackDevice{{Dev: devNum(uint64(st.Dev))}}, nil
}

// sourceDevices maps the file system holding path to its whole disk, and
// an APFS container to the disks of its physical stores.
func sourceDevices(path string, o ProbeOptions) ([]DevNum, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return nil, &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	from := unix.ByteSliceToString(fs.Mntfromname[:])
	if !strings.HasPrefix(from, "/dev/disk") {
		return nil, nil
	}
	info, err := diskutilPlist(o, "info", "-plist", from)
	if err != nil {
		return nil, err
	}
	whole := plistString(info, "ParentWholeDisk")
	list, err := diskutilPlist(o, "list", "-plist")
	if err != nil {
		return nil, err
	}
	names := []string{whole}
	for _, d := range plistDicts(list, "AllDisksAndPartitions") {
		if plistString(d, "DeviceIdentifier") != whole {
			continue
		}
		for _, s := range plistDicts(d, "APFSPhysicalStores") {
			part := plistString(s, "DeviceIdentifier")
			if i := strings.LastIndex(part, "s"); i > len("disk") {
				names = append(names, part[:i])
			}
		}
	}
	var out []DevNum
	for _, n := range names {
		var st unix.Stat_t
		if unix.Stat(filepath.Join(o.DevRoot, n), &st) == nil {
			out = append(out, DevNum{uint32(unix.Major(uint64(st.Rdev))), uint32(unix.Minor(uint64(st.Rdev)))})
		}
	}
	return out, nil
}

func unmountHint(d *Device) string {
	return fmt.Sprintf(" (diskutil unmountDisk %s)", d.Path)
}

// rawCharDevices: /dev/rdiskN, the fast unbuffered node, is a character device.
const rawCharDevices = true

// fileLoops: no loop devices to find here (macOS disk images attached
// with hdiutil are drives of their own and are probed as such).
func fileLoops(string, ProbeOptions) ([]*Device, error) { return nil, nil }

// fileIDOf: loop devices, whose backing files it matches, are Linux's.
func fileIDOf(os.FileInfo) (fileID, bool) { return fileID{}, false }
