package recover

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/udf"
)

// Carving constants.
const (
	// DefaultChunkSize is the scan read size: large sequential reads keep
	// a disk streaming; bytes.Index over them is much faster than the disk.
	DefaultChunkSize = 16 << 20
	// systemAreaBytes is where an image's first volume descriptor sits
	// relative to its start (16 sectors of 2 KiB).
	systemAreaBytes = 16 * 2048
	// candidateAlign: images start on a 512-byte boundary of the disk
	// (every filesystem block and partition is aligned at least that much).
	candidateAlign = 512
	// maxTrailingAnchorSearch bounds how far past a UDF partition's end
	// carve looks for the closing anchors (N-257 and N-1), in blocks.
	maxTrailingAnchorSearch = 4096
	// scanOverlap lets a signature straddle two chunks.
	scanOverlap = 8
)

var (
	pvdMagic = []byte("\x01CD001\x01")
	beaMagic = []byte("\x00BEA01\x01")
)

// SizeSource is one piece of evidence for an image's size.
type SizeSource struct {
	What string `json:"what"`
	End  int64  `json:"end"` // bytes from the image start
}

// Found is an image located by Scan.
type Found struct {
	Offset    int64        `json:"offset"`
	Size      int64        `json:"size"`      // the largest end any structure claims
	Available int64        `json:"available"` // bytes of it inside the source
	Kind      string       `json:"kind"`      // "iso9660" or "udf"
	Label     string       `json:"label"`
	Created   time.Time    `json:"created,omitzero"`
	Modified  time.Time    `json:"modified,omitzero"`
	Trees     []string     `json:"trees"`
	Sizes     []SizeSource `json:"sizes"`
	Warnings  []string     `json:"warnings,omitempty"`
	// NestedIn is the offset of an image found earlier that contains this
	// one, -1 if none.
	NestedIn int64 `json:"nested_in"`
	// Broken says why an image whose descriptors were found does not open
	// (its other structures are elsewhere: fragmented, or overwritten).
	// Size then covers only the descriptors seen.
	Broken string `json:"broken,omitempty"`

	preparer string
}

// Truncated reports whether the source ends before the image does.
func (f *Found) Truncated() bool { return f.Available < f.Size }

// CarveOptions tune Scan.
type CarveOptions struct {
	// ChunkSize is the read size (default DefaultChunkSize).
	ChunkSize int64
	// Progress is called after each chunk with bytes scanned so far.
	Progress func(done, total int64)
}

// Scan looks for ISO 9660 and UDF images in src (size bytes): a primary
// volume descriptor 32 KiB after any 512-byte boundary, or a UDF volume
// recognition sequence there with an anchor at block 256. Each candidate
// is confirmed by isofmt. An image starting inside one found before it (a
// second descriptor set, an ISO stored in an ISO) is returned with
// NestedIn set, so the caller can drop it when the outer image proves
// whole and keep it when the outer one turns out to be damaged (a
// fragmented outer image may "contain" an unrelated one). Unreadable
// chunks of a failing disk are skipped, not fatal. Reading runs one chunk
// ahead of searching, so the disk never waits for the CPU.
func Scan(ctx context.Context, src io.ReaderAt, size int64, o CarveOptions) ([]*Found, error) {
	chunk := o.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	chunk = max(chunk/candidateAlign, 1) * candidateAlign

	type filled struct {
		off int64
		b   []byte
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan []byte, 2)
	full := make(chan filled, 1)
	free <- make([]byte, chunk+scanOverlap)
	free <- make([]byte, chunk+scanOverlap)
	go func() {
		defer close(full)
		for off := int64(0); off < size; off += chunk {
			var b []byte
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			n := min(chunk+scanOverlap, size-off)
			b = b[:n]
			if _, err := src.ReadAt(b, off); err != nil && err != io.EOF {
				readPieces(src, b, off) // a failing disk: what can be read, in small pieces
			}
			select {
			case full <- filled{off, b}:
			case <-ctx.Done():
				return
			}
		}
	}()

	var found []*Found
	seen := map[int64]bool{}
	for c := range full {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		off, b := c.off, c.b
		limit := min(chunk, int64(len(b))) // hits must start in this chunk, not the overlap
		// Descriptors start on 512-byte boundaries, so only those are
		// looked at: a strided compare reads each candidate's 7 bytes
		// instead of searching every byte (random data defeats bytes.Index,
		// whose first byte recurs every 256 bytes).
		first := (candidateAlign - off%candidateAlign) % candidateAlign
		for k := first; k < limit && k+int64(len(pvdMagic)) <= int64(len(b)); k += candidateAlign {
			var magic []byte
			switch {
			case b[k+1] == 'C' && bytes.Equal(b[k:k+7], pvdMagic):
				magic = pvdMagic
			case b[k+1] == 'B' && bytes.Equal(b[k:k+7], beaMagic):
				magic = beaMagic
			default:
				continue
			}
			d := off + k
			if d < systemAreaBytes {
				continue
			}
			start := d - systemAreaBytes
			if seen[start] {
				continue
			}
			if magic[1] == 'C' && !plausiblePVD(src, d) {
				continue
			}
			f, err := identify(src, size, start)
			if err != nil {
				// A descriptor that passed the checks but whose image does
				// not open is a fragmented or overwritten image: report it,
				// never hide it.
				if f = brokenCandidate(src, start, magic[1] == 'C', err); f == nil {
					continue
				}
			}
			seen[start] = true
			for _, g := range found {
				if g.NestedIn < 0 && start > g.Offset && start < g.Offset+g.Size {
					f.NestedIn = g.Offset
					break
				}
			}
			found = append(found, f)
		}
		free <- b[:cap(b)]
		if o.Progress != nil {
			o.Progress(min(off+chunk, size), size)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Offset < found[j].Offset })
	return found, ctx.Err()
}

// brokenCandidate reports an image start whose descriptors are there but
// which isofmt cannot open: a primary descriptor that passed
// CheckPrimaryDescriptor, or a UDF recognition sequence (BEA01 followed by
// NSR02/NSR03). Anything weaker is noise, and nil.
func brokenCandidate(src io.ReaderAt, start int64, pvd bool, err error) *Found {
	f := &Found{Offset: start, NestedIn: -1, Size: systemAreaBytes + 3*isofmt.SectorSize, Broken: err.Error()}
	f.Available = f.Size
	if pvd {
		f.Kind = "iso9660"
		return f
	}
	b := make([]byte, 2*isofmt.SectorSize)
	if _, err := src.ReadAt(b, start+systemAreaBytes+isofmt.SectorSize); err != nil {
		return nil
	}
	for k := 0; k < 2; k++ {
		if id := string(b[k*isofmt.SectorSize+1 : k*isofmt.SectorSize+6]); id == "NSR02" || id == "NSR03" {
			f.Kind = "udf"
			return f
		}
	}
	return nil
}

// readPieces fills b from src in 64 KiB pieces, zeroing the unreadable ones.
func readPieces(src io.ReaderAt, b []byte, off int64) {
	const piece = 64 << 10
	for p := 0; p < len(b); p += piece {
		q := min(p+piece, len(b))
		if n, err := src.ReadAt(b[p:q], off+int64(p)); err != nil && err != io.EOF {
			clear(b[p+n : q])
		}
	}
}

// plausiblePVD is the cheap filter before isofmt.Open: isofmt's own
// check of a primary descriptor's fixed fields.
func plausiblePVD(src io.ReaderAt, d int64) bool {
	var pvd [isofmt.SectorSize]byte
	if _, err := src.ReadAt(pvd[:], d); err != nil {
		return false
	}
	return isofmt.CheckPrimaryDescriptor(pvd[:]) == nil
}

// identify confirms an image at start with isofmt and works out its size.
func identify(src io.ReaderAt, srcSize, start int64) (*Found, error) {
	avail := srcSize - start
	sec := io.NewSectionReader(src, start, avail)
	img, err := isofmt.Open(sec, avail, nil)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	f := &Found{Offset: start, NestedIn: -1, Trees: img.Trees()}
	in := img.Info()
	f.Warnings = append(f.Warnings, in.Warnings...)
	if in.Primary != nil {
		f.Kind = "iso9660"
		f.Label = in.VolumeID
		f.Created, f.Modified = in.Primary.CreationTime, in.Primary.ModificationTime
		f.preparer = in.Primary.PreparerID
	}
	if in.VolumeSize > 0 {
		f.Sizes = append(f.Sizes, SizeSource{"ISO 9660 volume size", in.VolumeSize})
	}
	f.Sizes = append(f.Sizes, structureEnds(sec, avail, in)...)
	if ui := img.UDFInfo(); ui != nil {
		if f.Kind == "" {
			f.Kind = "udf"
			f.Label = ui.LogicalVolumeID
			if f.Label == "" {
				f.Label = ui.VolumeID
			}
		}
		if end := ui.PartitionStart + ui.PartitionLength; ui.PartitionLength > 0 {
			f.Sizes = append(f.Sizes, SizeSource{"UDF partition end", end})
		}
		if ui.LastAnchor > 0 {
			f.Sizes = append(f.Sizes, SizeSource{"UDF last anchor", ui.LastAnchor})
		}
		from := max(ui.LastAnchor, ui.PartitionStart+ui.PartitionLength)
		if end := trailingAnchorEnd(sec, avail, int64(ui.BlockSize), from); end > 0 {
			f.Sizes = append(f.Sizes, SizeSource{"UDF closing anchor", end})
		}
	}
	if f.Kind == "" {
		return nil, fmt.Errorf("recover: no ISO 9660 primary descriptor and no UDF volume at byte %d", start)
	}
	for _, s := range f.Sizes {
		f.Size = max(f.Size, s.End)
	}
	if end, ok := xorrisoPadding(sec, avail, f); ok {
		f.Sizes = append(f.Sizes, SizeSource{"xorriso tail padding (300 KiB of zeros after appended partitions)", end})
		f.Size = end
	}
	if f.Size <= systemAreaBytes {
		return nil, errors.New("recover: image claims no size")
	}
	f.Available = min(f.Size, avail)
	return f, nil
}

// trailingAnchorEnd finds the UDF anchors written after the partition (at
// N-257 and N-1 of an N-block volume) by udf.CheckAnchor — tag identifier
// 2, checksum, CRC, and a tag location equal to the block it is in — and
// returns the end of the highest one. The source may continue
// far past the image, so udf.Open (which looks at the source's end) cannot
// see them.
func trailingAnchorEnd(r io.ReaderAt, size, bs, from int64) int64 {
	if bs <= 0 || from <= 0 {
		return 0
	}
	first := (from + bs - 1) / bs
	n := min(int64(maxTrailingAnchorSearch), size/bs-first)
	if n <= 0 {
		return 0
	}
	buf := make([]byte, n*bs)
	got, _ := r.ReadAt(buf, first*bs)
	var end int64
	for i := int64(0); (i+1)*bs <= int64(got); i++ {
		if binary.LittleEndian.Uint16(buf[i*bs:]) != 2 {
			continue // not an anchor's tag: skip the CRC
		}
		if udf.CheckAnchor(buf[i*bs:(i+1)*bs], uint32(first+i)) == nil {
			end = (first + i + 1) * bs
		}
	}
	return end
}

// String is a one-line description for logs.
func (f *Found) String() string {
	return fmt.Sprintf("%s image %q at byte %d, %d bytes", f.Kind, f.Label, f.Offset, f.Size)
}

// Carve statuses for a recovered image.
const (
	StatusExact     = "exact"     // proven: a checksum covering the data matched, or complete file-system extents of clusters untouched since deletion
	StatusLikely    = "likely"    // structure valid, data unverified: the tree walks cleanly, nothing proves the bytes
	StatusDamaged   = "damaged"   // files or checksums are wrong (named by path)
	StatusTruncated = "truncated" // the source ends before the image does
)

// Judge turns a verify report of a carved image into a status and a
// note. "exact" needs a checksum that covers every byte: a whole-image
// sum, or in-image checksums when the image has nothing beyond its ISO
// 9660 volume. Anything less is "likely" at best, with a note naming the
// checks that would verify it.
func Judge(f *Found, rep *VerifyReport) (status, note string) {
	switch {
	case f != nil && f.Truncated():
		return StatusTruncated, fmt.Sprintf("the source ends %d bytes before the image", f.Size-f.Available)
	case rep.Verdict == VerdictDamaged:
		return StatusDamaged, ""
	case rep.Verdict == VerdictOK:
		whole := false
		var volume int64
		for _, c := range rep.Checks {
			if strings.HasPrefix(c.Name, "external ") && c.Result == CheckOK {
				whole = true
			}
		}
		for _, s := range rep.Sizes {
			if s.What == "ISO 9660 volume size" {
				volume = s.End
			}
		}
		if whole || (volume > 0 && rep.Size <= volume) {
			var by []string
			for _, c := range rep.Checks {
				// The checksum checks: the implanted MD5, lists in the
				// image (named by path), the external sums.
				if c.Result == CheckOK && (c.Name == "implanted md5" || strings.HasPrefix(c.Name, "/") || strings.HasPrefix(c.Name, "external")) {
					by = append(by, c.Name)
				}
			}
			return StatusExact, "proven by: " + strings.Join(by, ", ")
		}
		return StatusLikely, fmt.Sprintf("checksums verified the ISO 9660 volume (%d bytes); the %d bytes after it (appended partitions) are structure valid, data unverified: %s", volume, rep.Size-volume, verifyHint)
	case rep.Files != nil && len(rep.Files.Damaged) == 0 && len(rep.Files.Unreadable) == 0:
		return StatusLikely, "structure valid, data unverified: no checksum covers the image; the directory tree reads cleanly and every extent lies inside the image; " + verifyHint
	}
	return StatusDamaged, ""
}

// xorrisoPadding handles the one size no structure records: `xorriso -as
// mkisofs` appends its default 300 KiB of zero padding after appended
// partitions when it writes no GPT (whose backup header would mark the
// end). It applies only to xorriso-made images whose last structure is a
// partition beyond the volume, and only when those 300 KiB are zeros.
func xorrisoPadding(r io.ReaderAt, avail int64, f *Found) (int64, bool) {
	const pad = 300 << 10
	var volume, last SizeSource
	for _, s := range f.Sizes {
		if s.What == "ISO 9660 volume size" {
			volume = s
		}
		if s.End > last.End {
			last = s
		}
	}
	if volume.End == 0 || last.End <= volume.End || !strings.Contains(last.What, "partition") || strings.Contains(last.What, "GPT") {
		return 0, false
	}
	if !strings.HasPrefix(f.preparer, "XORRISO") || last.End+pad > avail {
		return 0, false
	}
	b := make([]byte, pad)
	if _, err := r.ReadAt(b, last.End); err != nil || !isAllZero(b) {
		return 0, false
	}
	return last.End + pad, true
}
