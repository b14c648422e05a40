//go:build linux

package mounter

import (
	"os"
)

// ImageMounts returns the isofsd mounts of image (a path, or the URL of
// a remote image) that this process can use, topmost last. A mount
// another user made without allow_other is left out: FUSE refuses us
// access to it, so its mountpoint cannot be stat'ed.
func ImageMounts(image string) ([]MountInfo, error) {
	all, err := imageMounts(image)
	if err != nil {
		return nil, err
	}
	var out []MountInfo
	for _, mi := range all {
		if st, err := os.Stat(mi.MountPoint); err != nil || !st.IsDir() {
			continue
		}
		out = append(out, mi)
	}
	return out, nil
}

// OthersImageMounts returns the isofsd mounts of image made by users
// other than the caller (none for root, who may unmount them all): what
// `isofsd unmount IMAGE` names when it finds none of the caller's own.
func OthersImageMounts(image string) ([]MountInfo, error) {
	if os.Geteuid() == 0 {
		return nil, nil
	}
	all, err := imageMounts(image)
	if err != nil {
		return nil, err
	}
	var out []MountInfo
	for _, mi := range all {
		if checkOwner(mi) != nil {
			out = append(out, mi)
		}
	}
	return out, nil
}

// imageMounts returns every isofsd mount of image, by the source
// mountinfo shows (the same file, for a path).
func imageMounts(image string) ([]MountInfo, error) {
	all, err := ReadMountInfo()
	if err != nil {
		return nil, err
	}
	want, statErr := os.Stat(image)
	var out []MountInfo
	for _, mi := range all {
		if mi.FSType != FSType {
			continue
		}
		if mi.Source != image {
			if statErr != nil {
				continue
			}
			st, err := os.Stat(mi.Source)
			if err != nil || !os.SameFile(st, want) {
				continue
			}
		}
		out = append(out, mi)
	}
	return out, nil
}
