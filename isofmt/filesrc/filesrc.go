// Package filesrc is the local image source: an image file or block
// device read as an io.ReaderAt for isofmt.Open, as httpsrc is the remote
// one.
//
// A mount keeps its image open for days, and people rewrite image files
// in place (cp over it, a download finishing into it). A File therefore
// guards every read: it compares the file's size and modification time
// with the last ones seen and, when they moved, re-reads the descriptor
// area; if that no longer matches what was there at open time, reads fail
// with isofmt.ErrChanged (until the original bytes are back) instead of
// passing another image's bytes off as the opened one's.
//
// A File also offers its descriptor for zero-copy reads (Region, Intact):
// a FUSE adapter splices plain extents straight from it, checking the same
// guard before the bytes are taken and again before they are handed on.
package filesrc

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/isofmt/internal/core"
)

// ErrChanged is isofmt.ErrChanged: the file holds another image now.
var ErrChanged = core.ErrChanged

// fingerprintOffset and fingerprintLen delimit the bytes a File remembers
// to recognise its image: sectors 16–47, which hold the volume
// descriptors (ISO 9660 and the UDF recognition sequence) and, on almost
// every image, the path tables and root directory.
const (
	fingerprintOffset = 16 * 2048
	fingerprintLen    = 32 * 2048
)

// readAttempts bounds the reads of one ReadAt while the file keeps
// changing under it.
const readAttempts = 3

// File is an open image file or block device. Every read first compares
// the file's size and modification time with the last ones seen; when
// they moved, it re-reads the descriptor area and, if that no longer
// matches what was there at open time, fails with ErrChanged (until the
// original bytes are back). Truncation and in-place edits of file data
// keep the descriptors and are served as they are: the image's readers
// fail reads past the new end as truncated. Deleting or renaming the file
// changes nothing, since the open file keeps its data.
//
// The guard is a best effort, not a checksum: a rewrite that keeps the
// size and lands within one tick of the file system's clock, or one that
// leaves the descriptor area alone, goes unnoticed.
//
// Block devices and other non-regular files are not guarded: their size
// and times say nothing about their content.
//
// A File is safe for concurrent use.
type File struct {
	f       *os.File
	fd      uintptr
	size    int64
	guarded bool
	// want holds the SHA-256 of each sector of the fingerprint area at
	// open time (1 KiB where the bytes would take 64 KiB per image: a
	// daemon serves a thousand).
	want [][sha256.Size]byte

	seen    atomic.Pointer[fileState] // last size/mtime checked and the verdict
	recheck sync.Mutex
	// stat reports the file's current state: a bare fstat(2) on unix (no
	// allocation per read); tests replace it to interleave rewrites.
	stat func() (fileState, error)
}

// fileState is the file as one stat saw it, with the verdict on it.
type fileState struct {
	regular bool
	size    int64
	mtime   time.Time
	err     error
}

// Open opens the image at path: a regular file or a block device, vetted
// by diskio.OpenInput (a FIFO, directory or character device would hang a
// reader or never end). A block device's size is found by seeking to its
// end (stat reports 0).
func Open(path string) (*File, error) {
	in, err := diskio.OpenInput(path)
	if err != nil {
		return nil, err
	}
	g, err := New(in.File)
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// New guards an open file; Close closes it.
func New(f *os.File) (*File, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	g := &File{f: f, fd: f.Fd(), size: st.Size()}
	g.stat = func() (fileState, error) { return fstat(g.f, g.fd) }
	if !st.Mode().IsRegular() {
		if g.size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, fmt.Errorf("filesrc: size: %w", err)
		}
		return g, nil
	}
	g.guarded = true
	if g.want, err = g.fingerprint(); err != nil {
		return nil, err
	}
	g.seen.Store(&fileState{regular: true, size: st.Size(), mtime: st.ModTime()})
	return g, nil
}

// fingerprint hashes the descriptor area sector by sector; a partial
// last sector (a file that ends inside the area) is left out.
func (g *File) fingerprint() ([][sha256.Size]byte, error) {
	b := make([]byte, fingerprintLen)
	n, err := g.f.ReadAt(b, fingerprintOffset)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("filesrc: reading the descriptor area: %w", err)
	}
	sums := make([][sha256.Size]byte, n/sectorSize)
	for i := range sums {
		sums[i] = sha256.Sum256(b[i*sectorSize : (i+1)*sectorSize])
	}
	return sums, nil
}

// sectorSize is the unit the fingerprint is hashed in.
const sectorSize = 2048

// Size is the size of the image when it was opened, in bytes.
func (g *File) Size() int64 { return g.size }

// Name is the path the image was opened by.
func (g *File) Name() string { return g.f.Name() }

// Close closes the file.
func (g *File) Close() error { return g.f.Close() }

// statNow returns the file's current size and modification time.
func (g *File) statNow() (fileState, error) {
	st, err := g.stat()
	if err != nil {
		return st, fmt.Errorf("filesrc: stat of image file %s: %w", g.f.Name(), err)
	}
	return st, nil
}

// Check returns an error wrapping ErrChanged when the file now holds
// other descriptors than at open time, and nil otherwise. It costs one
// fstat when the file has not been modified since the last call.
func (g *File) Check() error {
	if !g.guarded {
		return nil
	}
	st, err := g.statNow()
	if err != nil {
		return err
	}
	return g.verify(st)
}

// verify returns the verdict on the file in state st, re-reading the
// descriptor area when st is not the state last checked.
func (g *File) verify(st fileState) error {
	if s := g.seen.Load(); s.size == st.size && s.mtime.Equal(st.mtime) {
		return s.err
	}
	g.recheck.Lock()
	defer g.recheck.Unlock()
	if s := g.seen.Load(); s.size == st.size && s.mtime.Equal(st.mtime) {
		return s.err // another reader re-checked meanwhile
	}
	now, err := g.fingerprint()
	var verdict error
	switch {
	case err != nil:
		verdict = err
	case len(now) < len(g.want) && slices.Equal(now, g.want[:len(now)]):
		// Truncated into the descriptor area: what is left is still ours;
		// reads past the end fail on their own.
	case !slices.Equal(now, g.want):
		verdict = fmt.Errorf("%s: volume descriptors rewritten at %s (size %d): %w",
			g.f.Name(), st.mtime.Format(time.RFC3339), st.size, ErrChanged)
	}
	st.err = verdict
	g.seen.Store(&st)
	return verdict
}

// ReadAt reads from the image file, then checks that the file is still
// in the state last verified as the opened image: a change made before or
// while the bytes were read moves the size or modification time by the
// time of the check. The file is then verified afresh and, if it is (or
// is again) the opened image, the bytes are read once more: bytes read
// while another image was in place are never passed off as this one's,
// even when the original is written back between the read and the check
// (a read straddling a restore). A rewritten image fails with ErrChanged.
func (g *File) ReadAt(p []byte, off int64) (int, error) {
	if !g.guarded {
		return g.f.ReadAt(p, off)
	}
	for attempt := 1; ; attempt++ {
		before := g.seen.Load()
		n, err := g.f.ReadAt(p, off)
		st, serr := g.statNow()
		if serr != nil {
			return 0, serr
		}
		if st.size == before.size && st.mtime.Equal(before.mtime) {
			if before.err != nil {
				return 0, before.err
			}
			return n, err
		}
		if verr := g.verify(st); verr != nil {
			return 0, verr
		}
		if attempt == readAttempts {
			return 0, fmt.Errorf("%s: changed during each of %d reads at byte %d: %w", g.f.Name(), readAttempts, off, ErrChanged)
		}
	}
}

// Region is a byte range of the image file handed out for a zero-copy
// read (a splice from FD at Offset, N bytes), with the state of the file
// when it was checked.
type Region struct {
	FD     uintptr
	Offset int64
	N      int
	state  fileState
}

// Region offers bytes [off, off+n) of the image for a zero-copy read when
// the file is (still) the opened image and holds the whole range now.
// Otherwise ok is false and the range must be read with ReadAt, which
// reports why. Once the bytes are taken from FD, and before they are
// handed on, Intact must confirm that the file did not change meanwhile.
func (g *File) Region(off int64, n int) (r Region, ok bool) {
	if off < 0 || n <= 0 {
		return r, false
	}
	st, err := g.statNow()
	if err != nil || (st.regular && off+int64(n) > st.size) {
		return r, false
	}
	if g.guarded && g.verify(st) != nil {
		return r, false // rewritten image: ReadAt reports it
	}
	return Region{FD: g.fd, Offset: off, N: n, state: st}, true
}

// Intact reports whether the image file still has the size and
// modification time Region saw for r. A splice checked only before it
// loads the bytes can meet an image being rewritten: a rewrite truncates
// or writes the file, which moves both, so bytes taken from the file
// between Region and a true Intact are the image's as it was checked. On
// false, drop the bytes and read with ReadAt, which checks after reading
// and reports the change.
func (g *File) Intact(r Region) bool {
	if !r.state.regular {
		return true // a device: no size or time to go by
	}
	st, err := g.stat()
	return err == nil && st.regular && st.size == r.state.size && st.mtime.Equal(r.state.mtime)
}
