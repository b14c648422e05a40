package filecopy

import (
	"fmt"
	"io"

	"github.com/isofsd/isofsd/fatfs"
)

// Stream produces the drive's bytes from offset 0 to Disk.StreamSize:
// zeros where Patches goes later, the FAT32 regions in order, file
// contents read from the image straight into the caller's buffer.
type Stream struct {
	d    *Disk
	segs []segment
	i    int
	in   int64
	cur  io.Reader // the current WIM part, produced sequentially
	pos  int64
}

type segment struct {
	off, n int64
	kind   fatfs.RegionKind
	bytes  []byte
	fatOff int64 // for FAT regions: offset within the FAT
	file   *File
}

// Stream returns a new reader of the drive's shared bytes.
func (d *Disk) Stream() *Stream {
	s := &Stream{d: d}
	s.segs = append(s.segs, segment{off: 0, n: d.PartStart, kind: fatfs.RegionZero})
	for _, r := range d.FS.Regions {
		seg := segment{off: d.PartStart + r.Off, n: r.Len, kind: r.Kind, bytes: r.Bytes}
		if r.Kind == fatfs.RegionFile {
			seg.file = r.File.Data.(*File)
		}
		s.segs = append(s.segs, seg)
	}
	return s
}

// Read fills p with the next bytes of the drive.
func (s *Stream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if s.i >= len(s.segs) {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		sg := &s.segs[s.i]
		left := sg.n - s.in
		if left == 0 {
			s.i++
			s.in = 0
			s.cur = nil
			continue
		}
		dst := p[n:min(int64(len(p)), int64(n)+left)]
		if err := s.fill(sg, dst); err != nil {
			return n, err
		}
		s.hold(dst)
		s.in += int64(len(dst))
		s.pos += int64(len(dst))
		n += len(dst)
	}
	return n, nil
}

func (s *Stream) fill(sg *segment, dst []byte) error {
	switch sg.kind {
	case fatfs.RegionZero:
		clear(dst)
	case fatfs.RegionBytes:
		copy(dst, sg.bytes[s.in:])
	case fatfs.RegionFAT:
		s.d.FS.FATBytes(dst, s.in)
	case fatfs.RegionFile:
		f := sg.file
		if ra := f.readerAt(s.d.Plan.Image); ra != nil {
			m, err := ra.ReadAt(dst, s.in)
			if m < len(dst) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("/%s at byte %d: %w", f.ImagePath, s.in+int64(m), err)
			}
			return nil
		}
		if s.cur == nil {
			s.cur = f.Open(s.d.Plan.Image)
		}
		if _, err := io.ReadFull(s.cur, dst); err != nil {
			return fmt.Errorf("%s (part of /%s) at byte %d: %w", f.Path, f.ImagePath, s.in, err)
		}
	}
	return nil
}

// hold zeros the parts of b (just produced at s.pos) that Patches writes.
func (s *Stream) hold(b []byte) {
	for _, h := range s.d.Held() {
		lo, hi := max(h[0], s.pos), min(h[1], s.pos+int64(len(b)))
		if lo < hi {
			clear(b[lo-s.pos : hi-s.pos])
		}
	}
}
