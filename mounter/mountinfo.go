//go:build linux

package mounter

import (
	"github.com/isofsd/isofsd/internal/mountinfo"
)

// MountInfo is one line of /proc/self/mountinfo.
type MountInfo = mountinfo.Entry

// ReadMountInfo parses /proc/self/mountinfo.
func ReadMountInfo() ([]MountInfo, error) { return mountinfo.Read() }

// FindMount returns the last (topmost) mount at mountpoint.
func FindMount(mountpoint string) (MountInfo, bool, error) {
	all, err := ReadMountInfo()
	if err != nil {
		return MountInfo{}, false, err
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].MountPoint == mountpoint {
			return all[i], true, nil
		}
	}
	return MountInfo{}, false, nil
}
