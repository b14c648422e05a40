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
// The target must pass writer.CheckTarget, the one target check of write
// and rescue (not mounted, swap or held, not the system disk, not the
// image nor a drive holding it, not a loop device backed by the image, not
// a file under a loop device in use; loop devices allowed); what it finds
// in use makes the drive busy, anything else refuses it. isofsd then opens
// the target itself — never through a symbolic link, a block device
// exclusively and checked again on the open handle (writer.OpenDevice) —
// and hands the descriptor to libburn, so what was checked is what gets
// written. image is "" when nothing is to be burned (drives); readOnly
// opens the target for reading only, unchecked (verification of an
// earlier burn writes nothing).
func openPseudo(target, image string, create, readOnly bool) (d *Drive, probs []Problem, created bool, err error) {
	if target == "" {
		return nil, nil, false, fmt.Errorf("%w: stdio: needs a path (stdio:/path/to/file)", ErrRefused)
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return nil, nil, false, err
	}
	d = &Drive{Path: "stdio:" + abs, Device: abs, Pseudo: true, Vendor: "libburn", Model: "stdio pseudo-drive"}
	refuse := func(format string, args ...any) (*Drive, []Problem, bool, error) {
		d.closeFile()
		return d, append(probs, Problem{Code: ProblemTarget, Detail: fmt.Sprintf(format, args...)}), false, nil
	}
	fi, err := os.Lstat(abs)
	isBlock := err == nil && fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
	switch {
	case errors.Is(err, os.ErrNotExist) && !(create && !readOnly):
		return nil, nil, false, fmt.Errorf("%s: no such file (a burn to it creates it)", d.Path)
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, nil, false, err
	case fi.Mode()&os.ModeSymlink != 0:
		return refuse("%s is a symbolic link: name the file or device itself", abs)
	case !fi.Mode().IsRegular() && !isBlock:
		return refuse("%s is not a regular file or a block device", abs)
	}
	if readOnly {
		fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, nil, false, &os.PathError{Op: "open", Path: abs, Err: err}
		}
		d.file = os.NewFile(uintptr(fd), abs)
		return d, nil, false, nil
	}

	pol := writer.Policy{AllowLoop: true, ImageSize: -1, SourceName: image}
	if image != "" {
		pol.Source, _ = os.Stat(image)
		pol.SourceDevs, _ = writer.SourceDevices(image, nil)
	}
	t, err := writer.CheckTarget(abs, writer.TargetOptions{Policy: pol, ToFile: true})
	if err != nil {
		return refuse("%v", err)
	}
	for _, p := range t.Problems {
		switch p.Code {
		case writer.ProblemMounted, writer.ProblemSwap, writer.ProblemHeld:
			// In use now, maybe not later: the drive is busy (Assess
			// says so once), not an unfit target.
			if d.Busy == "" {
				d.Busy = p.Detail
			}
		default:
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 || d.Busy != "" {
		return d, probs, false, nil
	}

	switch {
	case fi == nil:
		fd, err := unix.Open(abs, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return nil, nil, false, &os.PathError{Op: "create", Path: abs, Err: err}
		}
		d.file = os.NewFile(uintptr(fd), abs)
		return d, nil, true, nil
	case t.Device != nil:
		f, _, err := writer.OpenDevice(t, pol, nil)
		if errors.Is(err, unix.EBUSY) {
			d.Busy = "it is mounted or opened exclusively by another program"
			return d, nil, false, nil
		}
		if err != nil {
			return refuse("%v", err)
		}
		d.file = f
		return d, nil, false, nil
	}
	fd, err := unix.Open(abs, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, false, &os.PathError{Op: "open", Path: abs, Err: err}
	}
	d.file = os.NewFile(uintptr(fd), abs)
	if now, err := d.file.Stat(); err != nil || !os.SameFile(fi, now) {
		return refuse("%s changed while it was being opened", abs)
	}
	return d, nil, false, nil
}
