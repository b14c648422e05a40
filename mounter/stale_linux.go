//go:build linux

package mounter

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"
)

// clearStaleMounts unmounts the isofsd mounts the state file at path
// records whose server is gone (their directory fails with ENOTCONN, as
// every mount of a daemon killed with SIGKILL does), and removes the
// directories that daemon created. A live mount at a recorded place is
// left alone: it may be one the user made since. It returns the
// mountpoints cleared.
func clearStaleMounts(path string, log logrus.FieldLogger) ([]string, error) {
	st, err := readState(path)
	if err != nil {
		// An unreadable state file is moved aside, not fatal: the daemon
		// must come up.
		log.WithError(err).Warn("state file unreadable; ignoring it")
		os.Rename(path, path+".bad")
		return nil, nil
	}
	var cleared []string
	for _, m := range st.Mounts {
		if !filepath.IsAbs(m.Mountpoint) {
			continue
		}
		mi, ok, err := FindMount(m.Mountpoint)
		if err != nil {
			return cleared, err
		}
		if ok && mi.FSType == FSType {
			if !isStale(m.Mountpoint) {
				continue
			}
			log.WithFields(logrus.Fields{"mountpoint": m.Mountpoint, "image": m.Image}).Warn("clearing a mount left by a previous daemon")
			if err := Unmount(m.Mountpoint, true); err != nil && !errors.Is(err, ErrNotMounted) {
				log.WithField("mountpoint", m.Mountpoint).WithError(err).Error("cannot clear stale mount")
				continue
			}
			cleared = append(cleared, m.Mountpoint)
		}
		if m.Created {
			syscall.Rmdir(m.Mountpoint) // only if empty, never a file or symlink
		}
	}
	return cleared, nil
}
