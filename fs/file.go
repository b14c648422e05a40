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
}

// Open opens n for reading.
func (f *FS) Open(n *isofmt.Node) (*Handle, syscall.Errno) {
	if n.IsDir() {
		return nil, syscall.EISDIR
	}
	return &Handle{f: f, n: n, r: f.img.OpenNode(n)}, 0
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

// Stored maps the read of size bytes at off onto the image source when
// the bytes are stored there as they are, inside one extent, for a
// zero-copy read by an adapter whose source offers one (see
// isofmt.FileReader.Stored); the adapter counts what it serves that way
// with Served.
func (h *Handle) Stored(off int64, size int) (srcOff int64, n int, ok bool) {
	return h.r.Stored(off, size)
}

// Served counts n bytes of file data served without ReadAt (a zero-copy
// read), for BytesRead.
func (h *Handle) Served(n int) { h.f.bytesRead.Add(int64(n)) }
