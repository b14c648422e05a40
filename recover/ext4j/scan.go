package ext4j

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Inode copies anywhere.
//
// When the journal's descriptor blocks are gone (the journal superblock
// is damaged, or the area was reused in a way the descriptors no longer
// describe) inode records can still be recognised by their shape: a
// record at a multiple of the inode size whose i_block starts with the
// extent magic. CopiesStartingAt finds those whose file begins at a given
// block — the start of an image carving found — so carving can try their
// extents.

// MaxCandidates caps the distinct layouts CopiesStartingAt returns.
const MaxCandidates = 16

// index remembers inode records by the block of their logical block 0.
type index struct {
	byFirst map[uint64][][]byte
}

// buildIndex scans the journal (the whole file system without one) once.
func (fs *FS) buildIndex(ctx context.Context) error {
	if fs.idx != nil {
		return nil
	}
	fs.idx = &index{byFirst: map[uint64][][]byte{}}
	areas := fs.Journal
	if areas == nil {
		areas = []fsmeta.Extent{{Physical: 0, Length: min(fs.Blocks*fs.BlockSize, fs.size)}}
	}
	count := 0
	for _, a := range areas {
		if a.Zero {
			continue
		}
		if err := fs.indexArea(ctx, a.Physical, a.Physical+a.Length, &count); err != nil {
			return err
		}
	}
	return nil
}

func (fs *FS) indexArea(ctx context.Context, from, to int64, count *int) error {
	const chunk = 16 << 20
	buf := make([]byte, min(chunk, max(to-from, 0)))
	magic := []byte{0x0A, 0xF3}
	for off := from; off < to; off += chunk {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(int64(chunk), to-off)
		b := buf[:n]
		if _, err := fs.r.ReadAt(b, off); err != nil {
			clear(b) // an unreadable chunk holds no copies we can use
			continue
		}
		for i := 0; ; {
			j := bytes.Index(b[i:], magic)
			if j < 0 {
				break
			}
			j += i
			i = j + 1
			slot := int64(j) - inodeBlockOff
			if slot < 0 || slot%fs.InodeSize != 0 || slot+fs.InodeSize > n {
				continue
			}
			rec := b[slot : slot+fs.InodeSize]
			first, ok := firstPhysical(rec[inodeBlockOff : inodeBlockOff+inodeBlockSize])
			if !ok {
				continue
			}
			if *count++; *count > MaxIndexed {
				return nil
			}
			fs.idx.byFirst[first] = append(fs.idx.byFirst[first], append([]byte(nil), rec...))
		}
	}
	return nil
}

// firstPhysical returns the block of logical block 0 of an in-inode
// extent tree; for a deeper tree, the block of its first leaf with the
// top bit set (resolved when matching).
func firstPhysical(iblock []byte) (uint64, bool) {
	if binary.LittleEndian.Uint16(iblock[0:]) != extentMagic {
		return 0, false
	}
	entries := binary.LittleEndian.Uint16(iblock[2:])
	maxEntries := binary.LittleEndian.Uint16(iblock[4:])
	depth := binary.LittleEndian.Uint16(iblock[6:])
	if entries == 0 || entries > maxEntries || maxEntries > 4 || depth > MaxDepth {
		return 0, false
	}
	e := iblock[12:24]
	if binary.LittleEndian.Uint32(e[0:]) != 0 {
		return 0, false
	}
	if depth > 0 {
		leaf := uint64(binary.LittleEndian.Uint32(e[4:])) | uint64(binary.LittleEndian.Uint16(e[8:]))<<32
		return leaf | 1<<63, true
	}
	return uint64(binary.LittleEndian.Uint32(e[8:])) | uint64(binary.LittleEndian.Uint16(e[6:]))<<32, true
}

// CopiesStartingAt returns the distinct layouts (size and extents) of
// inode copies whose file starts at byte pos of the file system, the ones
// mapping the most written data first.
func (fs *FS) CopiesStartingAt(ctx context.Context, pos int64) ([]*fsmeta.File, error) {
	if pos < 0 || pos%fs.BlockSize != 0 || pos >= fs.Blocks*fs.BlockSize {
		return nil, fmt.Errorf("%w: byte %d is no block start of the file system", ErrCorrupt, pos)
	}
	if err := fs.buildIndex(ctx); err != nil {
		return nil, err
	}
	target := uint64(pos / fs.BlockSize)
	recs := fs.idx.byFirst[target]
	for key, rs := range fs.idx.byFirst {
		if key&(1<<63) == 0 {
			continue
		}
		leaf := int64(key &^ (1 << 63))
		if leaf >= fs.Blocks {
			continue
		}
		blk := make([]byte, 24)
		if _, err := fs.r.ReadAt(blk, leaf*fs.BlockSize); err != nil {
			continue
		}
		if p, ok := firstPhysicalLeaf(blk); ok && p == target {
			recs = append(recs, rs...)
		}
	}
	seen := map[string]bool{}
	var out []*fsmeta.File
	for _, rec := range recs {
		size := fileSize(rec)
		ex, err := fs.Extents(rec[inodeBlockOff:inodeBlockOff+inodeBlockSize], nil)
		if err != nil || len(ex) == 0 || size <= 0 {
			continue
		}
		f := &fsmeta.File{FS: "ext4", ID: "inode copy", Size: size}
		for _, e := range ex {
			if !f.Append(e, MaxExtents) {
				break
			}
		}
		f.Trim()
		key := fmt.Sprint(size, f.Extents)
		if seen[key] {
			continue
		}
		seen[key] = true
		f.Complete = f.Stored() >= size && contiguousLogical(f)
		out = append(out, f)
		if len(out) == MaxCandidates {
			break
		}
	}
	// The latest copy of a finished file has no unwritten extents.
	sort.SliceStable(out, func(i, j int) bool { return written(out[i]) > written(out[j]) })
	return out, nil
}

func written(f *fsmeta.File) int64 {
	var n int64
	for _, e := range f.Extents {
		if !e.Zero {
			n += e.Length
		}
	}
	return n
}

// firstPhysicalLeaf is firstPhysical for an extent leaf block.
func firstPhysicalLeaf(node []byte) (uint64, bool) {
	if binary.LittleEndian.Uint16(node[0:]) != extentMagic || binary.LittleEndian.Uint16(node[6:]) != 0 || binary.LittleEndian.Uint16(node[2:]) == 0 {
		return 0, false
	}
	e := node[12:24]
	if binary.LittleEndian.Uint32(e[0:]) != 0 {
		return 0, false
	}
	return uint64(binary.LittleEndian.Uint32(e[8:])) | uint64(binary.LittleEndian.Uint16(e[6:]))<<32, true
}
