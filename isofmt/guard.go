package isofmt

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// fingerprintOffset and fingerprintLen delimit the bytes an ImageFile
// remembers to recognise its image: sectors 16–47, which hold the volume
// descriptors (ISO 9660 and the UDF recognition sequence) and, on almost
// every image, the path tables and root directory.
const (
	fingerprintOffset = 16 * SectorSize
	fingerprintLen    = 32 * SectorSize
)

// ImageFile is the source OpenFile reads an image through: the open file
// plus a guard against the file being rewritten underneath. Every read
// first compares the file's size and modification time with the last
// ones seen; when they moved, it re-reads the descriptor area and, if
// that no longer matches what was there at open time, fails with
// ErrChanged (until the original bytes are back). Truncation and in-place
// edits of file data keep the descriptors and are served as they are:
// reads past the new end fail with ErrTruncated. Deleting or renaming the
// file changes nothing, since the open file keeps its data.
//
// The guard is a best effort, not a checksum: a rewrite that keeps the
// size and lands within one tick of the file system's clock, or one that
// leaves the descriptor area alone, goes unnoticed, and a zero-copy read
// handed to the kernel after Check can still meet bytes being rewritten.
//
// Block devices and other non-regular files are not guarded: their size
// and times say nothing about their content.
type ImageFile struct {
	f       *os.File
	guarded bool
	want    []byte // the fingerprint area at open time

	seen    atomic.Pointer[fileState] // last size/mtime checked and the verdict
	recheck sync.Mutex
	stat    atomic.Pointer[func() (int64, time.Time, error)] // SetStat's, if any
}

type fileState struct {
	size  int64
	mtime time.Time
	err   error
}

// newImageFile fingerprints f. A file too short to hold the area
// remembers what it has.
func newImageFile(f *os.File) (*ImageFile, error) {
	g := &ImageFile{f: f}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return g, nil
	}
	g.guarded = true
	g.want, err = g.fingerprint()
	if err != nil {
		return nil, err
	}
	g.seen.Store(&fileState{size: st.Size(), mtime: st.ModTime()})
	return g, nil
}

func (g *ImageFile) fingerprint() ([]byte, error) {
	b := make([]byte, fingerprintLen)
	n, err := g.f.ReadAt(b, fingerprintOffset)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("isofmt: reading the descriptor area: %w", err)
	}
	return b[:n], nil
}

// File returns the open image file (for zero-copy reads by descriptor,
// which must call Check first).
func (g *ImageFile) File() *os.File { return g.f }

// Name is the path the image was opened by.
func (g *ImageFile) Name() string { return g.f.Name() }

// Check returns an error wrapping ErrChanged when the file now holds
// other descriptors than at open time, and nil otherwise. It costs one
// fstat when the file has not been modified since the last call.
func (g *ImageFile) Check() error {
	if !g.guarded {
		return nil
	}
	size, mtime, err := g.statNow()
	if err != nil {
		return err
	}
	return g.Verify(size, mtime)
}

// statNow returns the file's size and modification time.
func (g *ImageFile) statNow() (int64, time.Time, error) {
	if stat := g.stat.Load(); stat != nil {
		size, mtime, err := (*stat)()
		if err != nil {
			return 0, time.Time{}, fmt.Errorf("isofmt: stat of image file: %w", err)
		}
		return size, mtime, nil
	}
	st, err := g.f.Stat()
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("isofmt: stat of image file: %w", err)
	}
	return st.Size(), st.ModTime(), nil
}

// SetStat replaces the os.File.Stat that Check calls (an allocation per
// read) with a cheaper one of the caller's, such as a bare fstat(2) on
// the file's descriptor. It returns the file's size and modification time.
func (g *ImageFile) SetStat(stat func() (size int64, mtime time.Time, err error)) {
	g.stat.Store(&stat)
}

// Verify is Check for a caller that has just stat'ed the file itself
// (fs serves zero-copy reads after an fstat of its own): size and mtime
// are what that stat returned.
func (g *ImageFile) Verify(size int64, mtime time.Time) error {
	if !g.guarded {
		return nil
	}
	if s := g.seen.Load(); s.size == size && s.mtime.Equal(mtime) {
		return s.err
	}
	g.recheck.Lock()
	defer g.recheck.Unlock()
	if s := g.seen.Load(); s.size == size && s.mtime.Equal(mtime) {
		return s.err // another reader re-checked meanwhile
	}
	now, err := g.fingerprint()
	var verdict error
	switch {
	case err != nil:
		verdict = err
	case len(now) < len(g.want) && bytes.Equal(now, g.want[:len(now)]):
		// Truncated into the descriptor area: what is left is still ours;
		// reads past the end fail on their own.
	case !bytes.Equal(now, g.want):
		verdict = fmt.Errorf("%s: volume descriptors rewritten at %s (size %d): %w",
			g.f.Name(), mtime.Format(time.RFC3339), size, ErrChanged)
	}
	g.seen.Store(&fileState{size: size, mtime: mtime, err: verdict})
	return verdict
}

// readAttempts bounds the reads of one ReadAt while the file keeps
// changing under it.
const readAttempts = 3

// ReadAt reads from the image file, then checks that the file is still
// in the state last verified as the opened image: a change made before or
// while the bytes were read moves the size or modification time by the
// time of the check. The file is then verified afresh and, if it is (or
// is again) the opened image, the bytes are read once more: bytes read
// while another image was in place are never passed off as this one's,
// even when the original is written back between the read and the check
// (a read straddling a restore). A rewritten image fails with ErrChanged.
func (g *ImageFile) ReadAt(p []byte, off int64) (int, error) {
	if !g.guarded {
		return g.f.ReadAt(p, off)
	}
	for attempt := 1; ; attempt++ {
		before := g.seen.Load()
		n, err := g.f.ReadAt(p, off)
		size, mtime, serr := g.statNow()
		if serr != nil {
			return 0, serr
		}
		if size == before.size && mtime.Equal(before.mtime) {
			if before.err != nil {
				return 0, before.err
			}
			return n, err
		}
		if verr := g.Verify(size, mtime); verr != nil {
			return 0, verr
		}
		if attempt == readAttempts {
			return 0, fmt.Errorf("%s: changed during each of %d reads at byte %d: %w", g.f.Name(), readAttempts, off, ErrChanged)
		}
	}
}

// Close closes the file.
func (g *ImageFile) Close() error { return g.f.Close() }
