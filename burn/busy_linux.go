package burn

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/writer"
)

// driveBusy says why the drive at path is in use, "" when it is free: a
// mounted disc (a burn would pull the filesystem from under its users), or
// another program holding the device exclusively (libburn, the desktop's
// disc burner, a running `isofsd burn`).
func driveBusy(path string) string {
	if dev, err := writer.LookupDevice(path, nil); err == nil {
		for _, m := range dev.Mounts {
			return fmt.Sprintf("%s is mounted at %s; unmount it first", m.Device, m.MountPoint)
		}
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EBUSY) {
		return "it is opened exclusively by another program (a burn in progress?)"
	}
	if err == nil {
		unix.Close(fd)
	}
	return ""
}

// systemDrives lists the drives the kernel knows.
func systemDrives() ([]*Drive, error) {
	return SystemDrives("/sys", "/dev", "/proc/sys/dev/cdrom/info")
}

// checkDrivePath refuses a DRIVE that is a path (it holds a "/") but no
// optical drive: a path that does not exist, a file, a directory, or a
// device that is not a CD/DVD/BD drive (SCSI type 5, what SystemDrives
// lists) — so that `drives /dev/typo` or `burn IMG disk.img` fails at once
// with the reason instead of listing an "unknown drive" or asking the
// engine. A file or another disk is burned to as stdio:PATH, with the
// target checks of write. Names without a "/" are the engine's own
// addresses (cdrskin's bus numbers) and left to it.
func checkDrivePath(path string) error {
	if !strings.Contains(path, "/") {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s: no such drive", ErrRefused, path)
	case err != nil:
		return fmt.Errorf("%w: %w", ErrRefused, err)
	case fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is a file, not a drive (stdio:%s burns to it as a libburn pseudo-drive)", ErrRefused, path, path)
	case fi.IsDir():
		return fmt.Errorf("%w: %s is a directory, not a drive", ErrRefused, path)
	case fi.Mode()&os.ModeDevice == 0:
		return fmt.Errorf("%w: %s is not a drive", ErrRefused, path)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	class := "block"
	if fi.Mode()&os.ModeCharDevice != 0 {
		class = "char" // SCSI generic (sg) nodes, which libburn also drives
	}
	sys := filepath.Join("/sys/dev", class, fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev)))
	typ := sysfsAttr(filepath.Join(sys, "device", "type"))
	real, _ := filepath.EvalSymlinks(sys)
	if typ == "5" || (typ == "" && class == "block" && strings.HasPrefix(filepath.Base(real), "sr")) {
		return nil
	}
	return fmt.Errorf("%w: %s is not an optical drive (stdio:%s writes to it as a libburn pseudo-drive)", ErrRefused, path, path)
}
