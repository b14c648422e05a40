package mounter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

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
// crash the daemon finds the old state or the new one). The JSON is
// compact: with a thousand mounts, indenting it was a third of the cost
// of keeping it up to date.
func writeState(path string, st *DaemonState) error {
	b, err := json.Marshal(st)
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
