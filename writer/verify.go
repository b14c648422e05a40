package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/isofsd/isofsd/internal/diskio"
)

// open opens one target for writing and re-checks, on the open handle,
// that it is still the drive that was assessed: same device number, same
// size, same model and serial, and still not mounted. Between `devices`
// (or the confirmation prompt) and now, a stick may have been swapped for
// another, or the desktop may have auto-mounted it.
func (p *Plan) open(t *Target) (*job, error) {
	j := &job{t: t, cap: -1}
	if t.IsFile {
		s, err := openFile(t.Path)
		if err != nil {
			return nil, err
		}
		// Opening follows symlinks: make sure no device node was swapped
		// in under the file's name since it was checked.
		if fi, err := s.f.Stat(); err != nil || !fi.Mode().IsRegular() {
			s.Close()
			return nil, fmt.Errorf("%s: %w: no longer a regular file", t.Path, ErrRefused)
		}
		j.s = s
		return j, nil
	}
	s, size, err := openCheckedDevice(t, p.opts.Policy, p.opts.Probe)
	if err != nil {
		return nil, err
	}
	j.s, j.cap = s, size
	return j, nil
}

// openCheckedDevice opens the drive t (assessed by CheckTarget)
// exclusively — so that nothing can mount or hold it from now on — and
// refuses it unless it is still the device that was checked (number,
// size, identity) and still eligible under pol.
func openCheckedDevice(t *Target, pol Policy, probe *ProbeOptions) (*osSink, int64, error) {
	d := t.Device
	if d == nil || len(t.Problems) > 0 {
		return nil, 0, fmt.Errorf("%s: %w: not a checked, eligible drive", t.Path, ErrRefused)
	}
	s, num, size, err := openDevice(t.Path)
	if err != nil {
		return nil, 0, err
	}
	fail := func(format string, args ...any) (*osSink, int64, error) {
		s.Close()
		return nil, 0, fmt.Errorf("%s: %w: "+format, append([]any{t.Path, ErrRefused}, args...)...)
	}
	if num != d.Num {
		return fail("it is now device %s, was %s when checked", num, d.Num)
	}
	if size != d.Size {
		return fail("its size is now %d bytes, was %d when checked", size, d.Size)
	}
	now, err := LookupDevice(t.Path, probe)
	if err != nil {
		return fail("probing it again: %v", err)
	}
	if m := d.Identity().Mismatch(now.Identity()); m != "" {
		return fail("%s", m)
	}
	now.Assess(pol)
	if !now.Eligible {
		return fail("%s", now.Verdict())
	}
	return s, size, nil
}

// OpenDevice opens the drive t, which CheckTarget found eligible under
// pol, for a caller that writes it itself (rescue): exclusively, and only
// if it is still the device that was checked and still eligible. Where
// the system allows (Linux), I/O through the file is buffered, so any
// offset and length works; on macOS and Windows raw drives want
// block-aligned I/O. Sync before trusting the data is on the drive.
func OpenDevice(t *Target, pol Policy, probe *ProbeOptions) (*os.File, int64, error) {
	s, size, err := openCheckedDevice(t, pol, probe)
	if err != nil {
		return nil, 0, err
	}
	if err := s.buffered(); err != nil {
		s.Close()
		return nil, 0, fmt.Errorf("%s: %w", t.Path, err)
	}
	return s.f, size, nil
}

// verify reads the target back and compares it, 4 KiB at a time, with the
// checksums taken while writing. It returns the first differing offset,
// or -1. With direct I/O the reads bypass the page cache; otherwise the
// cache is dropped first so the medium is read where the OS allows.
func (j *job) verify(p *Plan, ctx context.Context, total int64, sums []uint32) (bad int64, exact bool, err error) {
	s := j.s
	if !s.Direct() {
		s.DropCache()
	}
	lbs := s.BlockSize()
	buf := diskio.AlignedBuffer(p.opts.BlockSize)
	var off int64
	limit := total
	if p.Disk != nil {
		// File-copy mode: the generated part (tables, FATs, directories)
		// block by block here; file data through the file system after.
		// (whole check blocks: the sums cover 4 KiB each).
		limit = min(total, roundUp64(p.Disk.MetadataEnd, checkBlock))
	}
	for off < limit {
		if err := ctx.Err(); err != nil {
			return -1, false, err
		}
		n := int(min(int64(len(buf)), limit-off))
		rn := n
		if s.Direct() {
			rn = roundUp(n, lbs)
		}
		got, err := s.ReadAt(buf[:rn], off)
		if got < n {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return -1, false, fmt.Errorf("reading back at byte %d: %w", off+int64(got), err)
		}
		for b := 0; b < n; b += checkBlock {
			e := min(b+checkBlock, n)
			idx := (off + int64(b)) / checkBlock
			if held := j.heldBlock(off+int64(b), e-b); held != nil {
				if !bytes.Equal(buf[b:e], held) {
					return off + int64(b), false, nil
				}
				continue
			}
			if idx >= int64(len(sums)) || crc32.Checksum(buf[b:e], castagnoli) != sums[idx] {
				bad, exact := p.pinpoint(off+int64(b), buf[b:e])
				return bad, exact, nil
			}
		}
		off += int64(n)
		d := off
		p.progress(Progress{Target: j.t.Path, Phase: PhaseVerify, Done: d, Total: limit})
	}
	return -1, false, nil
}

// pinpoint narrows a mismatching 4 KiB block down to the first differing
// byte when the source can be re-read (exact); streams only locate the
// block.
func (p *Plan) pinpoint(off int64, got []byte) (int64, bool) {
	if p.Source.ra == nil {
		return off, false
	}
	want := make([]byte, len(got))
	n, _ := p.Source.ra.ReadAt(want, off)
	for i := 0; i < n; i++ {
		if want[i] != got[i] {
			return off + int64(i), true
		}
	}
	return off, false
}

// directReaderAt reads a sink at any offset and length through an aligned
// bounce buffer, so that code written for ordinary readers (the isomd5sum
// check) works on a target opened with O_DIRECT.
type directReaderAt struct {
	s   sink
	buf []byte
}

func newDirectReaderAt(s sink, size int) *directReaderAt {
	return &directReaderAt{s: s, buf: diskio.AlignedBuffer(size)}
}

func (d *directReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if !d.s.Direct() {
		return d.s.ReadAt(p, off)
	}
	lbs := int64(d.s.BlockSize())
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		start := pos / lbs * lbs
		skip := int(pos - start)
		want := min(len(d.buf), roundUp(skip+len(p)-done, int(lbs)))
		n, err := d.s.ReadAt(d.buf[:want], start)
		if n > skip {
			done += copy(p[done:], d.buf[skip:n])
		}
		if err != nil {
			if done == len(p) {
				return done, nil
			}
			return done, err
		}
		if n < want && done < len(p) {
			return done, io.EOF
		}
	}
	return done, nil
}
