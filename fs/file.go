package fs

import (
	"errors"
	"io"
	"syscall"
	"time"

	"github.com/isofsd/isofsd/isofmt"
)

// Handle is an open file.
type Handle struct {
	f *FS
	n *isofmt.Node
	r *isofmt.FileReader
	// plain is set when every byte of the file is stored as is, so that
	// ranges inside one extent can be handed to the kernel by fd.
	plain bool
}

// Open opens n for reading.
func (f *FS) Open(n *isofmt.Node) (*Handle, syscall.Errno) {
	if n.IsDir() {
		return nil, syscall.EISDIR
	}
	h := &Handle{f: f, n: n, r: f.img.OpenNode(n)}
	h.plain = f.file != nil && n.Stat.Mode.IsRegular() && n.Stat.Zisofs == nil
	return h, 0
}

// Node returns the open file's node.
func (h *Handle) Node() *isofmt.Node { return h.n }

// ReadAt fills p from off and returns the byte count; fewer than len(p)
// only at the end of the file.
func (h *Handle) ReadAt(p []byte, off int64) (int, syscall.Errno) {
	n, err := h.r.ReadAt(p, off)
	h.f.bytesRead.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		return n, h.f.Errno("read", h.n, "", err)
	}
	return n, 0
}

// FileRange is a range of the image file that a read maps onto (see
// Span), with the file's state when it was looked at.
type FileRange struct {
	// FD is the image file's descriptor, Offset the byte offset there
	// and N the byte count.
	FD     uintptr
	Offset int64
	N      int

	regular bool
	size    int64
	mtime   time.Time
}

// Span maps the read of size bytes at off onto the image file when the
// whole range (clamped to the file's end) lies inside one recorded
// extent and inside the image as it is now, for a zero-copy splice.
// Anything else (zisofs, sparse runs, a range crossing extents, an image
// that shrank or was rewritten under the mount, a source that is not a
// local file) returns ok == false and must be read with ReadAt, which
// also reports the errors. Once the bytes are taken from the file, and
// before they are handed on, Intact must confirm that the image did not
// change meanwhile.
func (h *Handle) Span(off int64, size int) (r FileRange, ok bool) {
	if !h.plain || off < 0 || size <= 0 {
		return r, false
	}
	st := &h.n.Stat
	end := min(off+int64(size), st.Size)
	if end <= off {
		return r, false
	}
	var pos int64
	for _, e := range st.Extents {
		if off >= pos+e.Length {
			pos += e.Length
			continue
		}
		if e.Sparse || end > pos+e.Length {
			return r, false
		}
		r.Offset = e.Offset + off - pos
		r.N = int(end - off)
		break
	}
	if r.N == 0 {
		return r, false
	}
	var err error
	r.FD = h.f.fd
	r.regular, r.size, r.mtime, err = fdStat(h.f.fd)
	if err != nil || (r.regular && r.Offset+int64(r.N) > r.size) {
		return r, false
	}
	if h.f.guard != nil && r.regular && h.f.guard(r.size, r.mtime) != nil {
		return r, false // rewritten image: ReadAt reports and logs it
	}
	h.f.bytesRead.Add(int64(r.N))
	return r, true
}

// Intact reports whether the image file still has the size and
// modification time Span saw for r. A splice checked only before it
// loads the bytes can meet an image being rewritten (cp, or a download
// finishing over it): a rewrite truncates or writes the file, which moves
// both, so bytes taken from the file between Span and a true Intact are
// the image's as it was checked. On false, drop the bytes and read with
// ReadAt, which checks after reading and reports the change.
func (h *Handle) Intact(r FileRange) bool {
	if !r.regular {
		return true // a device: no size or time to go by
	}
	regular, size, mtime, err := fdStat(r.FD)
	return err == nil && regular && size == r.size && mtime.Equal(r.mtime)
}
