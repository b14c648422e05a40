package mounter

import "errors"

// Errors reported before anything is mounted; the CLI maps them to its
// usage exit code.
var (
	// ErrNoFUSE means the kernel's FUSE device is missing.
	ErrNoFUSE = errors.New("FUSE is not available (/dev/fuse is missing; load the fuse module or install fuse3)")
	// ErrBusy means something is already mounted on the mountpoint.
	ErrBusy = errors.New("mountpoint is busy")
	// ErrMountpoint means the mountpoint is missing or not a directory.
	ErrMountpoint = errors.New("bad mountpoint")
	// ErrImage means the image could not be opened or read.
	ErrImage = errors.New("cannot open image")
	// ErrNotMounted is returned by Unmount for a path nothing is mounted on.
	ErrNotMounted = errors.New("not mounted")
	// ErrNotIsofsd is returned by Unmount for a mount of another file
	// system: isofsd unmounts only its own.
	ErrNotIsofsd = errors.New("not an isofsd mount")
	// ErrNotOwner is returned by Unmount for another user's mount: only
	// that user or root may unmount it.
	ErrNotOwner = errors.New("not your mount")
	// ErrRefused means the kernel or fusermount3 refused the mount (a
	// mountpoint the user may not mount on, allow_other without
	// user_allow_other, …); the message is theirs.
	ErrRefused = errors.New("mount refused")
	// ErrBadOption is an -o option isofsd does not pass on.
	ErrBadOption = errors.New("unsupported mount option")
)
