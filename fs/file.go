package fs

import (
	"errors"
	"io"
	"syscall"

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

// Span maps the read of size bytes at off onto the image file when the
// whole range (clamped to the file's end) lies inside one recorded
// extent and inside the image as it is now: it returns the image's file
// descriptor, the byte offset there and the byte count, for a zero-copy
// splice. Anything else (zisofs, sparse runs, a range crossing extents,
// an image that shrank or was rewritten under the mount, a source that is not a local
// file) returns ok == false and must be read with ReadAt, which also
// reports the errors.
func (h *Handle) Span(off int64, size int) (fd uintptr, srcOff int64, n int, ok bool) {
	if !h.plain || off < 0 || size <= 0 {
		return 0, 0, 0, false
	}
	st := &h.n.Stat
	end := min(off+int64(size), st.Size)
	if end <= off {
		return 0, 0, 0, false
	}
	var pos int64
	for _, e := range st.Extents {
		if off >= pos+e.Length {
			pos += e.Length
			continue
		}
		if e.Sparse || end > pos+e.Length {
			return 0, 0, 0, false
		}
		srcOff = e.Offset + off - pos
		n = int(end - off)
		break
	}
	if n == 0 {
		return 0, 0, 0, false
	}
	regular, imgSize, mtime, err := fdStat(h.f.fd)
	if err != nil || (regular && srcOff+int64(n) > imgSize) {
		return 0, 0, 0, false
	}
	if h.f.guard != nil && regular && h.f.guard(imgSize, mtime) != nil {
		return 0, 0, 0, false // rewritten image: ReadAt reports and logs it
	}
	h.f.bytesRead.Add(int64(n))
	return h.f.fd, srcOff, n, true
}
