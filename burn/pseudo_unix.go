//go:build unix

package burn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/writer"
)

// openPseudo opens the target of a stdio: pseudo-drive: a regular file
// (created when create is set and it does not exist) or a block device.
// isofsd opens it itself — never through a symbolic link, a block device
// exclusively — checks it, and hands the open descriptor to libburn, so
// what was checked is what gets written. A block device must pass the
// rules of `isofsd write` (not mounted, not swap, not the system disk, not
// holding the image, big enough; loop devices allowed). readOnly opens the
// target for reading only (verification of an earlier burn).
func openPseudo(target, image string, size int64, create, readOnly bool) (d *Drive, probs []Problem, created bool, err error) {
	if target == "" {
		return nil, nil, false, fmt.Errorf("%w: stdio: needs a path (stdio:/path/to/file)", ErrRefused)
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, nil, false, err
	}
	d = &Drive{Path: "stdio:" + abs, Device: abs, Pseudo: true, Vendor: "libburn", Model: "stdio pseudo-drive"}
	refuse := func(code ProblemCode, format string, args ...any) (*Drive, []Problem, bool, error) {
		return d, append(probs, Problem{Code: code, Detail: fmt.Sprintf(format, args...)}), created, nil
	}
	mode := unix.O_RDWR
	if readOnly {
		mode = unix.O_RDONLY
	}
	fi, err := os.Lstat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist) && create && !readOnly:
		fd, err := unix.Open(abs, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, nil, false, &os.PathError{Op: "create", Path: abs, Err: err}
		}
		d.file, created = os.NewFile(uintptr(fd), abs), true
		return d, nil, created, nil
	case errors.Is(err, os.ErrNotExist):
		return nil, nil, false, fmt.Errorf("%s: no such file (a burn to it creates it)", d.Path)
	case err != nil:
		return nil, nil, false, err
	case fi.Mode()&os.ModeSymlink != 0:
		return refuse(ProblemTarget, "%s is a symbolic link: name the file or device itself", abs)
	case fi.Mode().IsRegular():
		fd, err := unix.Open(abs, mode|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, false, &os.PathError{Op: "open", Path: abs, Err: err}
		}
		d.file = os.NewFile(uintptr(fd), abs)
		now, err := d.file.Stat()
		if err != nil || !now.Mode().IsRegular() {
			return refuse(ProblemTarget, "%s changed while it was being opened", abs)
		}
		if img, err := os.Stat(image); err == nil && os.SameFile(img, now) && !readOnly {
			return refuse(ProblemTarget, "%s is the image itself", abs)
		}
		return d, nil, false, nil
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
		flags := mode | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if !readOnly {
			flags |= unix.O_EXCL // fails while mounted or held by another program
		}
		fd, err := unix.Open(abs, flags, 0)
		if errors.Is(err, unix.EBUSY) {
			d.Busy = "it is mounted or opened exclusively by another program"
			if dev, lerr := writer.LookupDevice(abs, nil); lerr == nil && len(dev.Mounts) > 0 {
				d.Busy = fmt.Sprintf("%s is mounted at %s; unmount it first", dev.Mounts[0].Device, dev.Mounts[0].MountPoint)
			}
			return d, nil, false, nil
		}
		if err != nil {
			return nil, nil, false, &os.PathError{Op: "open", Path: abs, Err: err}
		}
		d.file = os.NewFile(uintptr(fd), abs)
		if readOnly {
			return d, nil, false, nil
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, nil, false, err
		}
		dev, err := writer.LookupDevice(abs, nil)
		if err != nil {
			return refuse(ProblemTarget, "%v", err)
		}
		if dev.Num != (writer.DevNum{Major: unix.Major(uint64(st.Rdev)), Minor: unix.Minor(uint64(st.Rdev))}) {
			return refuse(ProblemTarget, "%s changed while it was being opened", abs)
		}
		srcs, _ := writer.SourceDevices(image, nil)
		dev.Assess(writer.Policy{AllowLoop: true, ImageSize: size, SourceDevs: srcs, SourceName: image})
		for _, p := range dev.Problems {
			switch p.Code {
			case writer.ProblemMounted, writer.ProblemSwap:
				d.Busy = p.Detail
			case writer.ProblemTooSmall:
				// Assess below says it with the disc's words.
			default:
				probs = append(probs, Problem{Code: ProblemTarget, Detail: p.Detail})
			}
		}
		return d, probs, false, nil
	}
	return refuse(ProblemTarget, "%s is not a regular file or a block device", abs)
}
