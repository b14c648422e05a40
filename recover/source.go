package recover

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/isofsd/isofsd/internal/diskio"
)

// Source is a rescue source: a file or device opened with O_DIRECT where
// the system allows it (so a failing disc's errors are not hidden or
// multiplied by the page cache's read-ahead), falling back to buffered
// reads when the direct open or an unaligned direct read is refused.
type Source struct {
	Path   string
	Size   int64
	Direct bool // reads currently go through O_DIRECT

	mu       sync.Mutex
	direct   *os.File
	buffered *os.File
}

// OpenSource opens path read-only and finds its size (block devices
// included). Only regular files and block devices are sources
// (diskio.OpenInput refuses FIFOs, directories and character devices).
func OpenSource(path string) (*Source, error) {
	in, err := diskio.OpenInput(path)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: path, Size: in.Size, buffered: in.File}
	if f, direct, err := in.ReopenDirect(); err == nil {
		if direct {
			s.direct, s.Direct = f, true
		} else {
			f.Close()
		}
	}
	return s, nil
}

// ReadAt reads through O_DIRECT when possible. EINVAL from a direct read
// (an unaligned request, or a filesystem that accepts the flag at open but
// not at read) switches to buffered reads for that request and, if the
// request was aligned, for good.
func (s *Source) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	d := s.direct
	s.mu.Unlock()
	if d != nil {
		n, err := d.ReadAt(p, off)
		if !errors.Is(err, syscall.EINVAL) {
			return n, err
		}
		aligned := off%diskio.Align == 0 && len(p)%512 == 0 && diskio.IsAligned(p)
		if aligned {
			s.mu.Lock()
			s.direct, s.Direct = nil, false
			s.mu.Unlock()
			d.Close()
		}
	}
	return s.buffered.ReadAt(p, off)
}

// Close closes both descriptors.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.direct != nil {
		s.direct.Close()
		s.direct = nil
	}
	return s.buffered.Close()
}

// DisableDirect makes all further reads buffered.
func (s *Source) DisableDirect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.direct != nil {
		s.direct.Close()
		s.direct, s.Direct = nil, false
	}
}
