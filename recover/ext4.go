package recover

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/isofsd/isofsd/isofmt"
)

// Recovering a fragmented deleted file on ext4.
//
// When ext4 deletes a file it zeroes the extents in the inode, so the live
// inode table cannot say where the file's pieces were. But every change to
// an inode goes through the jbd2 journal as a copy of the whole inode-table
// block, and those copies stay in the journal area until it wraps around;
// an extent index or leaf block may also survive where it was. So after
// carving has shown an image to be wrong, we look for inode records — in
// the journal or anywhere else on the file system — whose extent tree maps
// logical block 0 to the image's first block, rebuild the file from each
// distinct extent list, and keep the one that verifies. This is what
// extundelete and ext4magic do, limited to the one file we are after.

// ext4 layout constants.
const (
	ext4SuperOffset   = 1024
	ext4Magic         = 0xEF53
	ext4ExtentMagic   = 0xF30A
	ext4Incompat64Bit = 0x80
	// ext4MaxUninit: extents longer than this are unwritten (fallocated)
	// and read as zeros; their real length is ee_len - 32768.
	ext4MaxInit = 32768
	// ext4MaxDepth caps extent tree depth (the kernel allows 5).
	ext4MaxDepth = 5
	// ext4MaxCandidates caps the distinct inode copies tried per image.
	ext4MaxCandidates = 16
	// ext4MaxIndexed caps inode records remembered during the scan.
	ext4MaxIndexed = 1 << 20
	// ext4MaxExtents caps the extents of one rebuilt file.
	ext4MaxExtents = 1 << 16
)

// ext4FS is one ext4 file system on the source.
type ext4FS struct {
	Start, Size int64
	BlockSize   int64
	InodeSize   int64

	// journal lists the journal's runs (offsets from Start), nil if unknown.
	journal []fileExtent

	indexed bool
	// byFirst maps the physical block of logical block 0 to inode records
	// (copies) that start there.
	byFirst map[uint64][][]byte
}

// ext4Sources lists the ext4 file systems of a source.
type ext4Sources struct {
	fss []*ext4FS
}

// readExt4Super recognises an ext4 (or ext2/3) superblock at start.
func readExt4Super(r io.ReaderAt, start, limit int64) *ext4FS {
	var sb [1024]byte
	if _, err := r.ReadAt(sb[:], start+ext4SuperOffset); err != nil {
		return nil
	}
	if binary.LittleEndian.Uint16(sb[56:]) != ext4Magic {
		return nil
	}
	logBS := binary.LittleEndian.Uint32(sb[24:])
	if logBS > 6 {
		return nil
	}
	bs := int64(1024) << logBS
	blocks := int64(binary.LittleEndian.Uint32(sb[4:]))
	if binary.LittleEndian.Uint32(sb[96:])&ext4Incompat64Bit != 0 {
		blocks |= int64(binary.LittleEndian.Uint32(sb[336:])) << 32
	}
	isz := int64(binary.LittleEndian.Uint16(sb[88:]))
	if isz == 0 {
		isz = 128 // revision 0
	}
	if isz < 128 || isz > bs || isz&(isz-1) != 0 || blocks <= 0 || blocks > limit/bs+1 {
		return nil
	}
	fs := &ext4FS{Start: start, Size: min(blocks*bs, limit-start), BlockSize: bs, InodeSize: isz}
	fs.journal = fs.findJournal(r, sb[:])
	return fs
}

// findJournal locates the journal's blocks through the journal inode, so
// the search for old inode copies reads only the journal instead of the
// whole file system. It returns nil when anything does not add up (the
// whole file system is then scanned).
func (fs *ext4FS) findJournal(r io.ReaderAt, sb []byte) []fileExtent {
	ino := int64(binary.LittleEndian.Uint32(sb[224:]))
	perGroup := int64(binary.LittleEndian.Uint32(sb[40:]))
	firstData := int64(binary.LittleEndian.Uint32(sb[20:]))
	if ino < 1 || ino > perGroup || binary.LittleEndian.Uint32(sb[92:])&0x4 == 0 { // compat has_journal
		return nil
	}
	descSize := int64(32)
	if binary.LittleEndian.Uint32(sb[96:])&ext4Incompat64Bit != 0 {
		if d := int64(binary.LittleEndian.Uint16(sb[254:])); d >= 64 && d <= 1024 {
			descSize = d
		}
	}
	gd := make([]byte, descSize)
	if _, err := r.ReadAt(gd, fs.Start+(firstData+1)*fs.BlockSize); err != nil {
		return nil
	}
	table := int64(binary.LittleEndian.Uint32(gd[8:]))
	if descSize >= 64 {
		table |= int64(binary.LittleEndian.Uint32(gd[40:])) << 32
	}
	off := table*fs.BlockSize + (ino-1)*fs.InodeSize
	if table <= 0 || off+fs.InodeSize > fs.Size {
		return nil
	}
	rec := make([]byte, fs.InodeSize)
	if _, err := r.ReadAt(rec, fs.Start+off); err != nil {
		return nil
	}
	var ex []fileExtent
	if err := fs.extents(r, rec[40:100], 0, &ex); err != nil || len(ex) == 0 {
		return nil
	}
	for _, e := range ex {
		if e.Physical+e.Length > fs.Size {
			return nil
		}
	}
	return ex
}

// findExt4 looks for ext4 at the start of the source and in each partition
// of its MBR/GPT.
func findExt4(src io.ReaderAt, size int64) *ext4Sources {
	out := &ext4Sources{}
	if fs := readExt4Super(src, 0, size); fs != nil {
		out.fss = append(out.fss, fs)
		return out
	}
	if sa, err := isofmt.ReadSystemArea(src, size); err == nil {
		for _, p := range sa.Partitions {
			if p.Start > 0 && p.Start < size {
				if fs := readExt4Super(src, p.Start, min(size, p.Start+p.Size)); fs != nil {
					out.fss = append(out.fss, fs)
				}
			}
		}
	}
	return out
}

// index scans the file system once for inode records with an extent
// tree, remembering them by the physical block of their first extent.
// Inode records sit at multiples of the inode size inside blocks, in the
// inode tables and in the journal's block copies alike.
func (fs *ext4FS) index(ctx context.Context, src io.ReaderAt) error {
	if fs.indexed {
		return nil
	}
	fs.indexed = true
	fs.byFirst = map[uint64][][]byte{}
	// The journal holds the copies that matter: the live inode table has
	// the zeroed inode. Without a journal location, scan everything.
	areas := fs.journal
	if areas == nil {
		areas = []fileExtent{{Physical: 0, Length: fs.Size}}
	}
	count := 0
	for _, a := range areas {
		if err := fs.indexArea(ctx, src, a.Physical, a.Physical+a.Length, &count); err != nil {
			return err
		}
	}
	return nil
}

// indexArea indexes the inode records in [from, to) of the file system.
func (fs *ext4FS) indexArea(ctx context.Context, src io.ReaderAt, from, to int64, count *int) error {
	const chunk = 16 << 20
	buf := make([]byte, chunk)
	magic := []byte{0x0A, 0xF3}
	for off := from; off < to; off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(chunk), to-off)
		b := buf[:n]
		if _, err := src.ReadAt(b, fs.Start+off); err != nil && err != io.EOF {
			readPieces(src, b, fs.Start+off)
		}
		for i := 0; ; {
			j := bytes.Index(b[i:], magic)
			if j < 0 {
				break
			}
			j += i
			i = j + 1
			slot := int64(j) - 40 // i_block starts at byte 40 of an inode
			if slot < 0 || slot%fs.InodeSize != 0 || slot+fs.InodeSize > n {
				continue
			}
			rec := b[slot : slot+fs.InodeSize]
			first, ok := firstPhysical(rec[40:100])
			if !ok {
				continue
			}
			if *count++; *count > ext4MaxIndexed {
				return nil
			}
			fs.byFirst[first] = append(fs.byFirst[first], append([]byte(nil), rec...))
		}
	}
	return nil
}

// firstPhysical returns the physical block of logical block 0 of an
// in-inode extent tree (depth 0 only here; deeper trees are resolved when
// rebuilding, and their first leaf is matched through the index entry).
func firstPhysical(iblock []byte) (uint64, bool) {
	eh := iblock[:12]
	if binary.LittleEndian.Uint16(eh[0:]) != ext4ExtentMagic {
		return 0, false
	}
	entries := binary.LittleEndian.Uint16(eh[2:])
	maxEntries := binary.LittleEndian.Uint16(eh[4:])
	depth := binary.LittleEndian.Uint16(eh[6:])
	if entries == 0 || entries > maxEntries || maxEntries > 4 || depth > ext4MaxDepth {
		return 0, false
	}
	e := iblock[12:24]
	if binary.LittleEndian.Uint32(e[0:]) != 0 {
		return 0, false
	}
	if depth > 0 {
		// Index entry: the key is the leaf block; callers index it too.
		leaf := uint64(binary.LittleEndian.Uint32(e[4:])) | uint64(binary.LittleEndian.Uint16(e[8:]))<<32
		return leaf | 1<<63, true
	}
	return uint64(binary.LittleEndian.Uint32(e[8:])) | uint64(binary.LittleEndian.Uint16(e[6:]))<<32, true
}

// fileExtent is one run of a rebuilt file, in bytes.
type fileExtent struct {
	Logical, Physical, Length int64
	Unwritten                 bool
}

// extents walks an extent tree (in-inode root, deeper levels read from
// disk) into a sorted list.
func (fs *ext4FS) extents(src io.ReaderAt, node []byte, depth int, out *[]fileExtent) error {
	if depth > ext4MaxDepth {
		return fmt.Errorf("extent tree deeper than %d", ext4MaxDepth)
	}
	if len(node) < 12 || binary.LittleEndian.Uint16(node[0:]) != ext4ExtentMagic {
		return fmt.Errorf("bad extent node")
	}
	entries := int(binary.LittleEndian.Uint16(node[2:]))
	d := binary.LittleEndian.Uint16(node[6:])
	if 12+12*entries > len(node) {
		return fmt.Errorf("extent node claims %d entries", entries)
	}
	for k := 0; k < entries; k++ {
		e := node[12+12*k : 24+12*k]
		if d == 0 {
			ln := int64(binary.LittleEndian.Uint16(e[4:]))
			unwritten := ln > ext4MaxInit
			if unwritten {
				ln -= ext4MaxInit
			}
			phys := int64(binary.LittleEndian.Uint32(e[8:])) | int64(binary.LittleEndian.Uint16(e[6:]))<<32
			if len(*out) >= ext4MaxExtents {
				return fmt.Errorf("more than %d extents", ext4MaxExtents)
			}
			*out = append(*out, fileExtent{
				Logical:  int64(binary.LittleEndian.Uint32(e[0:])) * fs.BlockSize,
				Physical: phys * fs.BlockSize, Length: ln * fs.BlockSize, Unwritten: unwritten})
			continue
		}
		leaf := int64(binary.LittleEndian.Uint32(e[4:])) | int64(binary.LittleEndian.Uint16(e[8:]))<<32
		if leaf*fs.BlockSize >= fs.Size {
			return fmt.Errorf("extent index points past the file system")
		}
		blk := make([]byte, fs.BlockSize)
		if _, err := src.ReadAt(blk, fs.Start+leaf*fs.BlockSize); err != nil {
			return err
		}
		if err := fs.extents(src, blk, depth+1, out); err != nil {
			return err
		}
	}
	return nil
}

// layout is one possible placement of a deleted file on the source:
// its size and its runs (Physical is a byte offset in the source).
type layout struct {
	size    int64
	extents []fileExtent
}

// candidates returns the distinct extent lists of inode copies whose file
// starts at byte offset pos of the source.
func (fs *ext4FS) candidates(src io.ReaderAt, pos int64) []layout {
	rel := pos - fs.Start
	if rel < 0 || rel >= fs.Size || rel%fs.BlockSize != 0 {
		return nil
	}
	target := uint64(rel / fs.BlockSize)
	recs := fs.byFirst[target]
	// Deeper trees: the root's first entry names a leaf; accept it when
	// the leaf's first extent starts at the target.
	for key, rs := range fs.byFirst {
		if key&(1<<63) == 0 {
			continue
		}
		leaf := int64(key &^ (1 << 63))
		blk := make([]byte, 24)
		if _, err := src.ReadAt(blk, fs.Start+leaf*fs.BlockSize); err != nil {
			continue
		}
		if p, ok := firstPhysicalLeaf(blk); ok && p == target {
			recs = append(recs, rs...)
		}
	}
	seen := map[string]bool{}
	var out []layout
	for _, rec := range recs {
		size := int64(binary.LittleEndian.Uint32(rec[4:])) | int64(binary.LittleEndian.Uint32(rec[108:]))<<32
		var ex []fileExtent
		if err := fs.extents(src, rec[40:100], 0, &ex); err != nil || len(ex) == 0 || size <= 0 {
			continue
		}
		sort.Slice(ex, func(i, j int) bool { return ex[i].Logical < ex[j].Logical })
		for k := range ex {
			ex[k].Physical += fs.Start
		}
		key := fmt.Sprint(size, ex)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, layout{size, ex})
		if len(out) == ext4MaxCandidates {
			break
		}
	}
	// Prefer the copies that map the most of the file with written data:
	// the latest copy of a finished file has no unwritten extents.
	sort.SliceStable(out, func(i, j int) bool { return written(out[i]) > written(out[j]) })
	return out
}

func firstPhysicalLeaf(node []byte) (uint64, bool) {
	if binary.LittleEndian.Uint16(node[0:]) != ext4ExtentMagic || binary.LittleEndian.Uint16(node[6:]) != 0 || binary.LittleEndian.Uint16(node[2:]) == 0 {
		return 0, false
	}
	e := node[12:24]
	if binary.LittleEndian.Uint32(e[0:]) != 0 {
		return 0, false
	}
	return uint64(binary.LittleEndian.Uint32(e[8:])) | uint64(binary.LittleEndian.Uint16(e[6:]))<<32, true
}

func written(c layout) int64 {
	var n int64
	for _, e := range c.extents {
		if !e.Unwritten {
			n += min(e.Length, max(c.size-e.Logical, 0))
		}
	}
	return n
}

// assemble writes the file described by c: extents from the source,
// zeros for holes and unwritten extents.
func assemble(ctx context.Context, src io.ReaderAt, srcSize int64, c layout, w io.Writer, progress func(int64)) error {
	var pos int64
	zeros := make([]byte, 1<<20)
	pad := func(to int64) error {
		for pos < to {
			k := min(int64(len(zeros)), to-pos)
			if _, err := w.Write(zeros[:k]); err != nil {
				return err
			}
			pos += k
		}
		return nil
	}
	for _, e := range c.extents {
		if e.Logical >= c.size {
			break
		}
		if e.Logical < pos {
			return fmt.Errorf("overlapping extents at byte %d", e.Logical)
		}
		if err := pad(e.Logical); err != nil {
			return err
		}
		n := min(e.Length, c.size-e.Logical)
		if e.Unwritten {
			if err := pad(e.Logical + n); err != nil {
				return err
			}
			continue
		}
		if e.Physical < 0 || e.Physical+n > srcSize {
			return fmt.Errorf("run at byte %d runs past the source", e.Physical)
		}
		base := pos
		if err := copyRange(ctx, src, e.Physical, n, w, func(d int64) {
			if progress != nil {
				progress(base + d)
			}
		}); err != nil {
			return err
		}
		pos += n
	}
	return pad(c.size)
}

// rank orders carve statuses from worst to best.
func rank(status string) int {
	switch status {
	case StatusExact:
		return 3
	case StatusLikely:
		return 2
	}
	return 0
}

// tryExt4 attempts the journal-based reassembly for r.
func tryExt4(ctx context.Context, src io.ReaderAt, size int64, x *ext4Sources, r *Recovered, o RecoverOptions) bool {
	var fs *ext4FS
	for _, f := range x.fss {
		if r.Offset >= f.Start && r.Offset < f.Start+f.Size {
			fs = f
		}
	}
	if fs == nil {
		return false
	}
	if (r.Offset-fs.Start)%fs.BlockSize != 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("the image does not start on an ext4 block boundary (block size %d): not a file of that file system", fs.BlockSize))
		return false
	}
	if err := fs.index(ctx, src); err != nil {
		r.Attempts = append(r.Attempts, fmt.Sprintf("scanning the ext4 file system: %v", err))
		return false
	}
	cands := fs.candidates(src, r.Offset)
	if len(cands) == 0 {
		r.Attempts = append(r.Attempts, fmt.Sprintf("ext4 at byte %d: no surviving copy of an inode whose data starts at block %d (the journal has moved on or the inode was never journaled); the image's missing pieces cannot be located", fs.Start, (r.Offset-fs.Start)/fs.BlockSize))
		return false
	}
	what := "ext4 inode copy"
	if fs.journal != nil {
		what = "ext4 inode copy from the journal"
	}
	return tryLayouts(ctx, src, size, r, o, what, cands)
}

// tryLayouts writes each candidate layout of the deleted file, verifies
// it, and keeps the first that verifies better than what r has now.
func tryLayouts(ctx context.Context, src io.ReaderAt, size int64, r *Recovered, o RecoverOptions, what string, cands []layout) bool {
	for k, c := range cands {
		tmp := fmt.Sprintf("%s.try-%d", r.Path, k)
		err := writeImage(ctx, tmp, c.size, func(w io.Writer, p func(int64)) error {
			return assemble(ctx, src, size, c, w, p)
		}, o.Progress)
		if err != nil {
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs): %v", what, k+1, len(c.extents), err))
			continue
		}
		rep, err := verifyPathWith(ctx, tmp, VerifyOptions{AnyName: true, External: o.External}, o.Progress)
		if err != nil {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs): %v", what, k+1, len(c.extents), err))
			continue
		}
		f2 := *r.Found
		f2.Size, f2.Available = max(c.size, r.Size), c.size
		st, note := Judge(&f2, rep)
		if rank(st) <= rank(r.Status) {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d (%d runs, %d bytes): %s, no better", what, k+1, len(c.extents), c.size, st))
			continue
		}
		if err := os.Rename(tmp, r.Path); err != nil {
			os.Remove(tmp)
			r.Attempts = append(r.Attempts, fmt.Sprintf("%s %d: %v", what, k+1, err))
			continue
		}
		r.Attempts = append(r.Attempts, fmt.Sprintf("contiguous copy was %s (wrong bytes: %v)", r.Status, r.Wrong))
		r.Method = fmt.Sprintf("%s (%d runs)", what, len(c.extents))
		r.Status, r.Note, r.Verify = st, note, rep
		r.Wrong = wrongRanges(rep)
		r.Found = &f2
		return true
	}
	return false
}
