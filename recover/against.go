package recover

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/isofsd/isofsd/isofmt"
)

// Checking a drive that was written raw against the image it was written
// from. Only the image's own length is compared (the drive is larger),
// and differences a booted system makes on purpose are told apart from
// damage: a live system may add a partition (persistence, data) to the
// partition table, or move the GPT backup header to the end of the drive.

// DriveComparison is what CompareDrive found.
type DriveComparison struct {
	// Compared is the number of bytes compared: the image's length.
	Compared  int64 `json:"compared"`
	DriveSize int64 `json:"drive_size"`
	// Identical means not one byte differs.
	Identical bool `json:"identical"`
	// Harmless explains differences that a booted system makes.
	Harmless []string `json:"harmless,omitempty"`
	// Bad are the differing ranges that are not harmless.
	Bad []Range `json:"bad,omitempty"`
	// Files names the image's files on the bad ranges.
	Files *FileDamage `json:"files,omitempty"`
	// Beyond describes what the drive holds after the image.
	Beyond []string `json:"beyond,omitempty"`
}

// systemAreaSize is the ISO 9660 system area: 16 sectors of 2048 bytes,
// where hybrid images keep their MBR and GPT.
const systemAreaSize = 16 * isofmt.SectorSize

// CompareDrive compares the first img.Size() bytes of drive with the
// image, 4 KiB at a time, and explains the differences.
func CompareDrive(ctx context.Context, drive io.ReaderAt, driveSize int64, img *isofmt.Image, progress func(done, total int64)) (*DriveComparison, error) {
	n := img.Size()
	res := &DriveComparison{Compared: n, DriveSize: driveSize}
	if driveSize < n {
		res.Bad = append(res.Bad, Range{driveSize, n - driveSize})
		n = driveSize
	}
	const step = 4 << 20
	a, b := make([]byte, step), make([]byte, step)
	var diffs []Range
	for off := int64(0); off < n; off += step {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m := int(min(step, n-off))
		if err := readAll(img.Source(), a[:m], off, "the image"); err != nil {
			return nil, err
		}
		if err := readAll(drive, b[:m], off, "the drive"); err != nil {
			return nil, err
		}
		if !bytes.Equal(a[:m], b[:m]) {
			for k := 0; k < m; k += checkBlockSize {
				e := min(k+checkBlockSize, m)
				if !bytes.Equal(a[k:e], b[k:e]) {
					diffs = appendRange(diffs, Range{off + int64(k), int64(e - k)})
				}
			}
		}
		if progress != nil {
			progress(off+int64(m), n)
		}
	}
	res.Identical = len(diffs) == 0 && len(res.Bad) == 0

	imgSA, _ := isofmt.ReadSystemArea(img.Source(), img.Size())
	drvSA, _ := isofmt.ReadSystemArea(drive, driveSize)
	tableOK, tableWhy := partitionsKept(imgSA, drvSA, img.Size())
	var gptBackup Range
	if imgSA != nil && imgSA.GPT != nil && imgSA.GPT.BackupFound && imgSA.GPT.BackupOffset >= img.Size()-64<<10 {
		// The backup header and its entries (33 sectors) end the image.
		ss := int64(imgSA.GPT.SectorSize)
		gptBackup = Range{img.Size() - 33*ss, 33 * ss}
	}
	movedBackup := drvSA != nil && drvSA.GPT != nil && drvSA.GPT.BackupOffset == driveSize-int64(drvSA.GPT.SectorSize)
	var saDiff, backupDiff bool
	for _, d := range diffs {
		switch {
		case d.End() <= systemAreaSize && tableOK:
			saDiff = true
		case gptBackup.Length > 0 && d.Offset >= gptBackup.Offset && d.End() <= gptBackup.End() && movedBackup:
			backupDiff = true
		default:
			res.Bad = append(res.Bad, d)
		}
	}
	if saDiff {
		res.Harmless = append(res.Harmless, "the partition table in the first 32 KiB differs from the image's: "+tableWhy+" (a booted live system does this, e.g. for a persistence partition); the image's own partitions are unchanged")
	}
	if backupDiff {
		res.Harmless = append(res.Harmless, fmt.Sprintf("the GPT backup that ended the image (at byte %d) was moved to the end of the drive (byte %d), as a booted system or a partitioning tool does when it finds the drive larger than the image", gptBackup.Offset, driveSize-int64(drvSA.GPT.SectorSize)))
	}
	if drvSA != nil {
		inImage := map[int64]bool{}
		if imgSA != nil {
			for _, p := range imgSA.Partitions {
				inImage[p.Start] = true
			}
		}
		seen := map[int64]bool{}
		for _, p := range drvSA.Partitions {
			if inImage[p.Start] || seen[p.Start] || p.Scheme == "mbr" && p.TypeCode == "0xee" {
				continue
			}
			seen[p.Start] = true
			where := "after the image"
			if p.Start < img.Size() {
				where = "over the image's tail (its GPT backup area)"
			}
			res.Beyond = append(res.Beyond, fmt.Sprintf("%s partition %d (%s) at byte %d, %d bytes, %s: not in the image's table, not checked", p.Scheme, p.Index, p.Type, p.Start, p.Size, where))
		}
	}
	if len(res.Bad) > 0 {
		d, err := Damage(img, res.Bad, "differs on the drive")
		if err != nil && d == nil {
			return res, err
		}
		res.Files = d
	}
	return res, nil
}

// checkBlockSize is the comparison granularity.
const checkBlockSize = 4096

func appendRange(rs []Range, r Range) []Range {
	if k := len(rs); k > 0 && rs[k-1].End() == r.Offset {
		rs[k-1].Length += r.Length
		return rs
	}
	return append(rs, r)
}

func readAll(r io.ReaderAt, b []byte, off int64, what string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("reading %s at byte %d: %w", what, off+int64(n), err)
}

// partitionsKept reports whether every partition of the image is still in
// the drive's table, and describes what the drive's table adds.
func partitionsKept(img, drv *isofmt.SystemArea, imageSize int64) (bool, string) {
	if img == nil || len(img.Partitions) == 0 {
		return false, "the image has no partition table"
	}
	if drv == nil {
		return false, "the drive has no partition table"
	}
	type key struct{ start, size int64 }
	have := map[key]bool{}
	for _, p := range drv.Partitions {
		have[key{p.Start, p.Size}] = true
	}
	for _, p := range img.Partitions {
		if p.Scheme == "mbr" && p.TypeCode == "0xee" {
			continue // the protective entry grows with the drive
		}
		if !have[key{p.Start, p.Size}] {
			return false, fmt.Sprintf("the image's %s partition %d (byte %d, %d bytes) is gone", p.Scheme, p.Index, p.Start, p.Size)
		}
	}
	inImage := map[key]bool{}
	for _, p := range img.Partitions {
		inImage[key{p.Start, p.Size}] = true
	}
	var added []string
	for _, p := range drv.Partitions {
		if !inImage[key{p.Start, p.Size}] && !(p.Scheme == "mbr" && p.TypeCode == "0xee") {
			added = append(added, fmt.Sprintf("%s partition %d (%s) at byte %d", p.Scheme, p.Index, p.Type, p.Start))
		}
	}
	sort.Strings(added)
	why := "the drive's table lists the image's partitions"
	if len(added) > 0 {
		why = fmt.Sprintf("the drive's table adds %s", joinAnd(added))
	}
	if img.GPT != nil && drv.GPT != nil && drv.GPT.BackupOffset != img.GPT.BackupOffset {
		why += fmt.Sprintf(", and its GPT header points to a backup at byte %d instead of the image's %d (moved to the end of the drive)", drv.GPT.BackupOffset, img.GPT.BackupOffset)
	}
	return true, why
}

func joinAnd(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := s[0]
	for _, x := range s[1 : len(s)-1] {
		out += ", " + x
	}
	return out + " and " + s[len(s)-1]
}
