//go:build !cgofuse && !windows

package cgofuse

import (
	"errors"

	"github.com/sirupsen/logrus"

	isofs "github.com/isofsd/isofsd/fs"
)

// Available reports that this build lacks the cgofuse backend.
const Available = false

// ErrUnsupported is what Mount returns in builds without the backend.
var ErrUnsupported = errors.New("isofsd was built without the cgofuse backend: rebuild with `go build -tags cgofuse` (libfuse headers needed; add -tags cgofuse,fuse3 for libfuse3), or use --backend gofuse")

// Options mirror the real backend's.
type Options struct {
	Source       string
	VolumeLabel  string
	AllowOther   bool
	ExtraOptions []string
	Debug        bool
	Log          logrus.FieldLogger
}

// Server is never created in this build.
type Server struct{}

// Mount reports that the backend is missing.
func Mount(mountpoint string, t *isofs.FS, o Options) (*Server, error) { return nil, ErrUnsupported }

// Wait returns at once.
func (s *Server) Wait() {}

// Unmount reports that the backend is missing.
func (s *Server) Unmount() error { return ErrUnsupported }
