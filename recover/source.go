package recover

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// directAlign is the buffer alignment O_DIRECT needs; 4096 covers every
// logical block size in use.
const directAlign = 4096

// AlignedBuffer returns a buffer of n bytes whose start is aligned for O_DIRECT.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off+n : off+n]
}

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
// included: their size comes from seeking to the end).
func OpenSource(path string) (*Source, error) {
	buffered, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	size, err := buffered.Seek(0, io.SeekEnd)
	if err != nil {
		buffered.Close()
		return nil, fmt.Errorf("recover: size of %s: %w", path, err)
	}
	s := &Source{Path: path, Size: size, buffered: buffered}
	if oDirect != 0 {
		if f, err := os.OpenFile(path, os.O_RDONLY|oDirect, 0); err == nil {
			s.direct, s.Direct = f, true
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
		aligned := off%directAlign == 0 && len(p)%512 == 0 && uintptr(unsafe.Pointer(&p[0]))%directAlign == 0
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
