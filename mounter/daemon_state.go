//go:build linux

package mounter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/internal/diskio"
)

// DaemonState is what the daemon writes next to its socket each time its
// mounts change, so that a daemon restarted after a crash (kill -9, OOM)
// can clear the dead mounts the previous one left behind: their
// directories fail with ENOTCONN until unmounted.
type DaemonState struct {
	PID    int          `json:"pid"`
	Socket string       `json:"socket"`
	Mounts []StateMount `json:"mounts"`
}

// StateMount is one recorded mount.
type StateMount struct {
	Mountpoint string    `json:"mountpoint"`
	Image      string    `json:"image"`
	Since      time.Time `json:"since"`
	// Created is set when the daemon created the directory (watch
	// mounts), so that it also removes it.
	Created bool `json:"created,omitempty"`
}

// maxStateSize caps the state file read back: it is ours, but a
// truncated or foreign file must not make the daemon allocate freely.
const maxStateSize = 4 << 20

// StatePath is the state file belonging to a socket path.
func StatePath(socket string) string {
	return strings.TrimSuffix(socket, ".sock") + ".state.json"
}

// writeState replaces the state file atomically (and durably: after a
// crash the daemon finds the old state or the new one).
func writeState(path string, st *DaemonState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return diskio.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// readState reads a state file; a missing file is an empty state.
func readState(path string) (*DaemonState, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &DaemonState{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st DaemonState
	dec := json.NewDecoder(&limitedReader{f, maxStateSize})
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return &st, nil
}

type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("file too large")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

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
			_, serr := os.Stat(m.Mountpoint)
			if !errors.Is(serr, syscall.ENOTCONN) && !errors.Is(serr, syscall.ECONNABORTED) {
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
			os.Remove(m.Mountpoint) // only if empty
		}
	}
	return cleared, nil
}
