package isofmt

import (
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// FileReader reads the content of one file: it joins the file's extents,
// returns zeros for sparse runs, and decompresses zisofs. It is safe for
// concurrent ReadAt calls. Data reads go straight to the image source, not
// through the metadata cache: the OS page cache (or a remote source's own
// cache) serves them better.
type FileReader struct {
	img  *Image
	node *Node

	zOnce sync.Once
	z     *zisofsReader
	zErr  error
}

// OpenNode returns a reader for n's content.
func (img *Image) OpenNode(n *Node) *FileReader { return &FileReader{img: img, node: n} }

// Size is the file's logical (uncompressed) size.
func (r *FileReader) Size() int64 { return r.node.Stat.Size }

// Node returns the file's node.
func (r *FileReader) Node() *Node { return r.node }

// ReadAt reads len(p) bytes at off; io.EOF marks the file end. An extent
// lying beyond the image end yields the bytes before it and an error
// wrapping ErrTruncated that names the file and its sector.
func (r *FileReader) ReadAt(p []byte, off int64) (int, error) {
	st := &r.node.Stat
	if r.node.Err != nil {
		// The entry was listed but its data could not be located.
		return 0, fmt.Errorf("isofmt: %s: %w", r.node.Name, r.node.Err)
	}
	if !st.Mode.IsRegular() {
		return 0, io.EOF
	}
	if st.Zisofs != nil {
		r.zOnce.Do(func() {
			r.z, r.zErr = newZisofsReader(rawReader{r}, st.StoredSize(), st.Zisofs, r.node.Name)
		})
		if r.zErr != nil {
			return 0, r.zErr
		}
		return r.z.ReadAt(p, off)
	}
	return r.readRaw(p, off)
}

// Stored maps the read of size bytes at off (clamped to the file's end)
// onto the image source when those bytes are stored there as they are,
// inside one extent: it returns their offset in the source and their
// count. Compressed (zisofs) and sparse data, a range crossing extents,
// an entry whose data could not be located and an extent beyond the
// image's end give ok == false. Zero-copy readers (a splice from the
// image file) use it; everything else reads with ReadAt.
func (r *FileReader) Stored(off int64, size int) (srcOff int64, n int, ok bool) {
	st := &r.node.Stat
	if r.node.Err != nil || !st.Mode.IsRegular() || st.Zisofs != nil || off < 0 || size <= 0 {
		return 0, 0, false
	}
	end := min(off+int64(size), st.Size)
	if end <= off {
		return 0, 0, false
	}
	var pos int64
	for _, e := range st.Extents {
		if off >= pos+e.Length {
			pos += e.Length
			continue
		}
		if e.Sparse || end > pos+e.Length {
			return 0, 0, false
		}
		srcOff = e.Offset + off - pos
		if srcOff+(end-off) > r.img.size {
			return 0, 0, false
		}
		return srcOff, int(end - off), true
	}
	return 0, 0, false
}

// limitedReaderAt is implemented by sources that read ahead (httpsrc):
// limit is the end of the extent being read.
type limitedReaderAt interface {
	ReadAtLimit(p []byte, off, limit int64) (int, error)
}

// rawReader reads the stored bytes of a file (before decompression).
type rawReader struct{ r *FileReader }

func (rr rawReader) ReadAt(p []byte, off int64) (int, error) { return rr.r.readRaw(p, off) }

func (r *FileReader) readRaw(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("isofmt: %s: negative offset %d: %w", r.node.Name, off, fs.ErrInvalid)
	}
	n := 0
	var pos int64 // file position where the current extent starts
	for _, e := range r.node.Stat.Extents {
		if n == len(p) {
			break
		}
		want := off + int64(n)
		if want >= pos+e.Length {
			pos += e.Length
			continue
		}
		in := want - pos
		chunk := p[n:min(int64(len(p)), int64(n)+e.Length-in)]
		if e.Sparse {
			clear(chunk)
			n += len(chunk)
		} else {
			src := e.Offset + in
			avail := r.img.size - src
			if avail < int64(len(chunk)) {
				got := 0
				if avail > 0 {
					got, _ = r.img.src.ReadAt(chunk[:avail], src)
				}
				return n + got, formatErr("data of "+r.node.Name, max(src, r.img.size), ErrTruncated,
					"extent at sector %d (%d bytes) runs past the image end at byte %d", e.Offset/SectorSize, e.Length, r.img.size)
			}
			var got int
			var err error
			if l, ok := r.img.src.(limitedReaderAt); ok {
				// Tell read-ahead sources (HTTP) where this extent ends so
				// they never fetch the next file's bytes.
				got, err = l.ReadAtLimit(chunk, src, e.Offset+e.Length)
			} else {
				got, err = r.img.src.ReadAt(chunk, src)
			}
			n += got
			if got < len(chunk) {
				if err == nil || err == io.EOF {
					err = ErrTruncated
				}
				// A *FormatError, so that whoever logs it (fs.Errno)
				// names the sector that failed, not the directory's.
				return n, &FormatError{Structure: "data of " + r.node.Name, Offset: src + int64(got), Err: err}
			}
		}
		pos += e.Length
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
