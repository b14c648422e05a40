//go:build linux

package mounter

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/isofsd/isofsd/internal/mountinfo"
)

// ReadMountInfo parses /proc/self/mountinfo.
func ReadMountInfo() ([]MountInfo, error) { return mountinfo.Read() }

// FindMount returns the last (topmost) mount at mountpoint.
func FindMount(mountpoint string) (MountInfo, bool, error) { return mountinfo.Find(mountpoint) }

// Mounts lists the isofsd mounts the caller may unmount (see ownMounts).
func Mounts() ([]MountInfo, error) {
	all, err := ReadMountInfo()
	if err != nil {
		return nil, err
	}
	return ownMounts(all, os.Geteuid()), nil
}

// ownMounts picks the isofsd mounts of all that euid may unmount: every
// one for root, those mounted by euid (FUSE's user_id=) for anyone else.
// Nested mounts come before the mounts they sit in, and a mountpoint
// covered by several mounts is listed once per mount.
func ownMounts(all []MountInfo, euid int) []MountInfo {
	var out []MountInfo
	for _, m := range all {
		if m.FSType != FSType {
			continue
		}
		if euid != 0 && !mountinfo.HasOption(m.SuperOptions, "user_id="+strconv.Itoa(euid)) {
			continue
		}
		out = append(out, m)
	}
	// mountinfo lists parents before children and lower mounts before
	// the ones stacked on them: undo that order.
	slices.Reverse(out)
	return out
}

// checkOwner refuses to unmount, as a user other than root, a mount
// another user made: fusermount3 would refuse too, with a message about
// /etc/mtab that says nothing of the reason.
func checkOwner(mi MountInfo) error {
	euid := os.Geteuid()
	if euid == 0 {
		return nil
	}
	if uid, ok := MountOwner(mi); ok && uid != euid {
		return fmt.Errorf("%s: %w: it is mounted by uid %d; only that user or root may unmount it", mi.MountPoint, ErrNotOwner, uid)
	}
	return nil
}
