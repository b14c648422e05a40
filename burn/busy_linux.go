package burn

import (
	"errors"
	"fmt"

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
