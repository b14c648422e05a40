//go:build !linux

package mounter

// ImageMounts finds nothing here: there is no mount table to search by
// image (mounts are found through the daemon's list).
func ImageMounts(image string) ([]MountInfo, error) { return nil, nil }

// OthersImageMounts finds nothing here either.
func OthersImageMounts(image string) ([]MountInfo, error) { return nil, nil }
