package recover

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/isofsd/isofsd/recover/fsmeta"

	"github.com/isofsd/isofsd/isofmt"
)

// Recovering a fragmented deleted file on FAT.
//
// Deleting a file on FAT marks its directory entry (first byte 0xE5) and
// frees its cluster chain in the FAT, but the entry keeps the first
// cluster and the size. The chain itself is gone; what survives is which
// clusters are still in use by other files. A file written when the disk
// was fragmented filled free clusters in order, skipping used ones, so the
// classic undelete rule — take the next free clusters from the first one
// — rebuilds it as long as the files it was written around still exist.
// The result is verified like any carved image and kept only if better.

// FAT limits.
const (
	maxFATBytes = 256 << 20 // the FAT of a 2 TiB FAT32 volume with 32 KiB clusters
	// fatMaxExtents caps the runs of one rebuilt file.
	fatMaxExtents = 1 << 16
	// fatMaxWork caps the free-run steps spent on one volume's deleted
	// files; fatMaxFreeRuns caps the free-run index.
	fatMaxWork     = 1 << 26
	fatMaxFreeRuns = 1 << 24
)

// fatFS is one FAT file system on the source.
type fatFS struct {
	Start       int64 // byte offset of the boot sector
	Size        int64
	ClusterSize int64
	DataStart   int64 // byte offset (from Start) of cluster 2
	Clusters    int64 // number of data clusters
	bits        int   // 12, 16 or 32
	fatOff      int64 // byte offset (from Start) of the first FAT
	fatBytes    int64
	fat         []byte // loaded on first use
	free        []fatRun
	work        int64 // free-run steps spent rebuilding deleted files
}

// readFATBoot recognises a FAT boot sector at start.
func readFATBoot(r io.ReaderAt, start, limit int64) *fatFS {
	var b [512]byte
	if _, err := r.ReadAt(b[:], start); err != nil || b[510] != 0x55 || b[511] != 0xAA {
		return nil
	}
	bps := int64(binary.LittleEndian.Uint16(b[11:]))
	spc := int64(b[13])
	reserved := int64(binary.LittleEndian.Uint16(b[14:]))
	nfats := int64(b[16])
	rootEnts := int64(binary.LittleEndian.Uint16(b[17:]))
	total := int64(binary.LittleEndian.Uint16(b[19:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	fatSz := int64(binary.LittleEndian.Uint16(b[22:]))
	if fatSz == 0 {
		fatSz = int64(binary.LittleEndian.Uint32(b[36:]))
	}
	if (bps != 512 && bps != 1024 && bps != 2048 && bps != 4096) || spc == 0 || spc&(spc-1) != 0 ||
		reserved == 0 || nfats == 0 || nfats > 4 || fatSz == 0 || total == 0 {
		return nil
	}
	if !bytes.HasPrefix(b[54:], []byte("FAT")) && !bytes.HasPrefix(b[82:], []byte("FAT")) {
		return nil
	}
	rootSecs := (rootEnts*32 + bps - 1) / bps
	dataSec := reserved + nfats*fatSz + rootSecs
	if dataSec >= total {
		return nil
	}
	clusters := (total - dataSec) / spc
	f := &fatFS{Start: start, Size: min(total*bps, limit-start), ClusterSize: spc * bps, DataStart: dataSec * bps,
		Clusters: clusters, fatOff: reserved * bps, fatBytes: fatSz * bps}
	switch {
	case clusters < 4085:
		f.bits = 12
	case clusters < 65525:
		f.bits = 16
	default:
		f.bits = 32
	}
	if f.fatBytes > maxFATBytes || f.fatBytes*8 < (clusters+2)*int64(f.bits) || start+f.fatOff+f.fatBytes > limit {
		return nil // the FAT must be on the source: it is read into memory whole
	}
	// Clusters past the end of the source cannot be read back; never
	// count them (a truncated volume, or a boot sector that lies).
	f.Clusters = min(f.Clusters, max((f.Size-f.DataStart)/f.ClusterSize, 0))
	return f
}

// findFAT looks for FAT at the start of the source and in its partitions.
func findFAT(src io.ReaderAt, size int64) []*fatFS {
	if f := readFATBoot(src, 0, size); f != nil {
		return []*fatFS{f}
	}
	var out []*fatFS
	if sa, err := isofmt.ReadSystemArea(src, size); err == nil {
		for _, p := range sa.Partitions {
			if p.Start > 0 && p.Start < size {
				if f := readFATBoot(src, p.Start, min(size, p.Start+p.Size)); f != nil {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// entry returns FAT entry c (0 = free); entries past the table read as
// used, so nothing is taken from beyond it.
func (f *fatFS) entry(c int64) uint32 {
	if c < 0 || c*int64(f.bits)/8+4 > int64(len(f.fat)) {
		return 0x0FFFFFFF
	}
	switch f.bits {
	case 12:
		o := c + c/2
		v := uint32(binary.LittleEndian.Uint16(f.fat[o:]))
		if c&1 == 1 {
			return v >> 4
		}
		return v & 0xFFF
	case 16:
		return uint32(binary.LittleEndian.Uint16(f.fat[2*c:]))
	}
	return binary.LittleEndian.Uint32(f.fat[4*c:]) & 0x0FFFFFFF
}

// deletedSize finds the size of the deleted file whose directory entry
// names first as its first cluster: entries are 32-byte records in
// directory clusters (and the FAT12/16 root area), so the whole volume is
// scanned at 32-byte steps for 0xE5 entries. 0 when none is found.
func (f *fatFS) deletedSize(ctx context.Context, src io.ReaderAt, first int64) int64 {
	const chunk = 4 << 20
	buf := make([]byte, chunk)
	for off := f.fatOff + f.fatBytes; off < f.Size; off += chunk {
		if ctx.Err() != nil {
			return 0
		}
		n := min(int64(chunk), f.Size-off)
		if _, err := src.ReadAt(buf[:n], f.Start+off); err != nil && err != io.EOF {
			continue
		}
		for i := int64(0); i+32 <= n; i += 32 {
			e := buf[i : i+32]
			if e[0] != 0xE5 || e[11]&0x18 != 0 || e[11] == 0x0F {
				continue
			}
			lo := int64(binary.LittleEndian.Uint16(e[26:]))
			hi := int64(binary.LittleEndian.Uint16(e[20:]))
			c := lo | hi<<16
			// Some systems clear the high word on delete.
			if c != first && !(hi == 0 && lo == first&0xFFFF) {
				continue
			}
			if sz := int64(binary.LittleEndian.Uint32(e[28:])); sz > 0 {
				return sz
			}
		}
	}
	return 0
}

// tryFAT rebuilds r from the free clusters following its first cluster.
func tryFAT(ctx context.Context, src io.ReaderAt, size int64, fats []*fatFS, r *Recovered, o RecoverOptions) bool {
	var f *fatFS
	for _, x := range fats {
		if r.Offset >= x.Start+x.DataStart && r.Offset < x.Start+x.Size {
			f = x
		}
	}
	if f == nil {
		return false
	}
	rel := r.Offset - f.Start - f.DataStart
	if rel%f.ClusterSize != 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("the image does not start on a FAT cluster boundary (cluster size %d): not a file of that file system", f.ClusterSize))
		return false
	}
	first := rel/f.ClusterSize + 2
	if err := f.loadFAT(src); err != nil {
		r.Attempts = append(r.Attempts, err.Error())
		return false
	}
	if f.entry(first) != 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: cluster %d, where the image starts, belongs to a live file; the deleted image's clusters cannot be told apart", f.Start, first))
		return false
	}
	want := f.deletedSize(ctx, src, first)
	how := "size from its deleted directory entry"
	if want == 0 {
		want, how = r.Size, "size from the image's own structures (no directory entry found)"
	}
	runs, got := f.freeRunsFrom(first, want)
	if got < want {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: only %d free bytes follow cluster %d, the image needs %d", f.Start, got, first, want))
		return false
	}
	if len(runs) == 1 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("FAT at byte %d: the free clusters after cluster %d are one run, the same bytes as the contiguous copy", f.Start, first))
		return false
	}
	return tryLayouts(ctx, src, size, r, o, "FAT free clusters after the first ("+how+")", []layout{{want, runs}})
}

// freeRunsFrom lists the free clusters from first on, wrapping around
// like an allocator, until want bytes are covered: the classic undelete
// rule for a chain that deletion zeroed. It walks the free-run index, so
// a file costs one step per run it takes; every step counts against the
// volume's work budget.
func (f *fatFS) freeRunsFrom(first, want int64) ([]fileExtent, int64) {
	var runs []fileExtent
	var got int64
	free := f.freeIndex()
	if len(free) == 0 {
		return nil, 0
	}
	take := func(c, n int64) bool {
		if got >= want || len(runs) >= fatMaxExtents || f.work >= fatMaxWork {
			return false
		}
		f.work++
		ln := min(n*f.ClusterSize, want-got)
		runs = append(runs, fileExtent{Logical: got, Physical: f.Start + f.DataStart + (c-2)*f.ClusterSize, Length: ln})
		got += ln
		return true
	}
	// From first to the end of the volume, then from cluster 2 back up to
	// first (allocators wrap around).
	i := sort.Search(len(free), func(i int) bool { return free[i].start+free[i].n > first })
	for k := i; k < len(free); k++ {
		c := max(free[k].start, first)
		if !take(c, free[k].start+free[k].n-c) {
			return runs, got
		}
	}
	for k := 0; k < len(free) && free[k].start < first; k++ {
		if !take(free[k].start, min(free[k].start+free[k].n, first)-free[k].start) {
			break
		}
	}
	return runs, got
}

// fatRun is a run of free clusters.
type fatRun struct{ start, n int64 }

// freeIndex lists the FAT's free runs in order, built once.
func (f *fatFS) freeIndex() []fatRun {
	if f.free != nil {
		return f.free
	}
	f.free = []fatRun{}
	for c := int64(2); c < f.Clusters+2; c++ {
		if f.entry(c) != 0 {
			continue
		}
		if n := len(f.free); n > 0 && f.free[n-1].start+f.free[n-1].n == c {
			f.free[n-1].n++
		} else if n < fatMaxFreeRuns {
			f.free = append(f.free, fatRun{c, 1})
		} else {
			break
		}
	}
	return f.free
}

// allFree reports whether every cluster of file's data (extents relative
// to the volume) is free in the FAT.
func (f *fatFS) allFree(file *fsmeta.File) bool {
	for _, e := range file.Extents {
		if e.Zero {
			continue
		}
		for o := e.Physical; o < e.Physical+e.Length; o += f.ClusterSize {
			if o < f.DataStart || f.entry((o-f.DataStart)/f.ClusterSize+2) != 0 {
				return false
			}
		}
	}
	return true
}

// loadFAT reads the first FAT into memory once.
func (f *fatFS) loadFAT(src io.ReaderAt) error {
	if f.fat != nil {
		return nil
	}
	b := make([]byte, f.fatBytes)
	if _, err := src.ReadAt(b, f.Start+f.fatOff); err != nil {
		return fmt.Errorf("reading the FAT at byte %d: %w", f.Start+f.fatOff, err)
	}
	f.fat = b
	return nil
}

// deleted lists the deleted files of the volume from their directory
// entries (0xE5), named from the long-name entries before them when those
// survive. Deletion zeroed their chains, so each is rebuilt by the free
// clusters from its first one, which the notes say. Extents are relative
// to the volume start, like the other readers'.
//
// d-winusb's FAT reader package will own FAT parsing; until it lands this
// builds on the boot-sector and FAT code above.
func (f *fatFS) deleted(ctx context.Context, src io.ReaderAt, progress func(int64, int64)) ([]*fsmeta.File, error) {
	if err := f.loadFAT(src); err != nil {
		return nil, err
	}
	const chunk = 4 << 20
	buf := make([]byte, chunk)
	var out []*fsmeta.File
	from := f.fatOff + f.fatBytes
	for off := from; off < f.Size; off += chunk {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		n := min(int64(chunk), f.Size-off)
		if _, err := src.ReadAt(buf[:n], f.Start+off); err != nil && err != io.EOF {
			continue
		}
		var lfn []uint16
		for i := int64(0); i+32 <= n; i += 32 {
			e := buf[i : i+32]
			if e[11] == 0x0F && e[0] != 0 {
				// Long-name entry: 13 UTF-16 characters in three pieces.
				// A deleted one lost its sequence number to 0xE5, so order
				// comes from position (they precede the short entry in reverse).
				part := make([]uint16, 0, 13)
				for _, r := range [][2]int{{1, 11}, {14, 26}, {28, 32}} {
					for k := r[0]; k+2 <= r[1]; k += 2 {
						part = append(part, binary.LittleEndian.Uint16(e[k:]))
					}
				}
				if len(lfn) < 20*13 { // a name has at most 20 parts
					lfn = append(part, lfn...)
				}
				continue
			}
			name := lfn
			lfn = nil
			if e[0] != 0xE5 || e[11]&0x18 != 0 {
				continue
			}
			size := int64(binary.LittleEndian.Uint32(e[28:]))
			first := int64(binary.LittleEndian.Uint16(e[26:])) | int64(binary.LittleEndian.Uint16(e[20:]))<<16
			if size == 0 || first < 2 || first >= f.Clusters+2 {
				continue
			}
			file := &fsmeta.File{FS: "fat", ID: fmt.Sprintf("deleted directory entry at byte %d (first cluster %d)", f.Start+off+i, first), Size: size,
				Name: fatName(e, name)}
			file.Path = file.Name
			runs, got := f.freeRunsFrom(first, size)
			for _, r := range runs {
				file.Append(fsmeta.Extent{Logical: r.Logical, Physical: r.Physical - f.Start, Length: min(r.Length, size-r.Logical)}, fatMaxExtents)
			}
			file.Notes = append(file.Notes, "FAT chain zeroed by deletion: assumed the file continues over the clusters the FAT shows free (unproven)")
			if got < size {
				file.Notes = append(file.Notes, fmt.Sprintf("only %d of %d bytes in free clusters", got, size))
			}
			if f.entry(first) != 0 {
				file.Notes = append(file.Notes, fmt.Sprintf("its first cluster %d belongs to a live file now", first))
			}
			if f.work >= fatMaxWork {
				file.Notes = append(file.Notes, fmt.Sprintf("rebuilding stopped: the volume's deleted entries exceed the work limit (%d steps)", fatMaxWork))
			}
			out = append(out, file)
		}
		if progress != nil {
			progress(off+n-from, f.Size-from)
		}
	}
	return out, nil
}

// fatName is a deleted entry's long name when one survived, else its
// 8.3 name with the first character (lost to 0xE5) shown as '_'.
func fatName(e []byte, lfn []uint16) string {
	if len(lfn) > 0 {
		for i, c := range lfn {
			if c == 0 || c == 0xFFFF {
				lfn = lfn[:i]
				break
			}
		}
		if len(lfn) > 0 {
			return string(utf16.Decode(lfn))
		}
	}
	base := strings.TrimRight(string(e[1:8]), " ")
	ext := strings.TrimRight(string(e[8:11]), " ")
	// Windows NT's case flags: lower-case base (0x08) and extension (0x10).
	if e[12]&0x08 != 0 {
		base = strings.ToLower(base)
	}
	if e[12]&0x10 != 0 {
		ext = strings.ToLower(ext)
	}
	n := "_" + base
	if ext != "" {
		n += "." + ext
	}
	return n
}
