// Package ext4j finds deleted files on ext2/3/4 through the old metadata
// the jbd2 journal still holds. Deleting a file zeroes the extents in its
// inode, so the live inode table cannot say where the data was; but every
// change to an inode went through the journal as a copy of its whole
// inode-table block, and those copies stay in the journal area until it
// wraps around — in the current transactions and in the older ones before
// the journal's head, which a replay never looks at. The journal's
// descriptor blocks say which file-system block each copy belongs to, so
// a copy of an inode-table block gives inode numbers, and copies of
// directory blocks give the names. This is what extundelete and ext4magic
// do.
//
// The file system is damaged by assumption: every offset, length and count
// read from it is checked before use, trees and chains are capped.
package ext4j

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// ext4 and jbd2 layout.
const (
	superOffset    = 1024
	magic          = 0xEF53
	extentMagic    = 0xF30A
	incompat64Bit  = 0x80
	compatJournal  = 0x4
	jbd2Magic      = 0xC03B3998
	jbdDescriptor  = 1
	jbdCommit      = 2
	jbdSuperV1     = 3
	jbdSuperV2     = 4
	jbdRevoke      = 5
	jbd64Bit       = 0x2
	jbdCsumV2      = 0x8
	jbdCsumV3      = 0x10
	tagEscape      = 1
	tagSameUUID    = 2
	tagLast        = 8
	maxInitExtent  = 32768 // ee_len above this marks an unwritten extent
	bgBlockUninit  = 0x2
	inodeBlockOff  = 40 // i_block in an inode record
	inodeBlockSize = 60
)

// Limits.
const (
	// MaxDepth caps extent tree depth (the kernel allows 5).
	MaxDepth = 5
	// MaxExtents caps the extents of one file.
	MaxExtents = 1 << 16
	// MaxGroups caps the block groups read.
	MaxGroups = 1 << 22
	// MaxJournalBlocks caps the journal blocks scanned (a 4 GiB journal of 4 KiB blocks).
	MaxJournalBlocks = 1 << 20
	// MaxCopies caps the journal block copies remembered.
	MaxCopies = 1 << 20
	// MaxCopyBytes caps the bytes of journal copies held in memory.
	MaxCopyBytes = 512 << 20
	// MaxIndexed caps the inode records remembered by IndexInodeCopies.
	MaxIndexed = 1 << 20
	// MaxMetaBlocks caps the metadata blocks Deleted remembers as claims;
	// past it every file is in doubt.
	MaxMetaBlocks = 1 << 22
	// maxDirBlocks caps the blocks of one directory taken as claims.
	maxDirBlocks = 1 << 16
)

// ErrCorrupt marks metadata that breaks ext4's or jbd2's rules.
var ErrCorrupt = errors.New("ext4: corrupt metadata")

// group is one block group's metadata locations.
type group struct {
	blockBitmap, inodeTable int64
	flags                   uint16
}

// FS is an ext2/3/4 file system opened for undelete.
type FS struct {
	r    io.ReaderAt
	size int64

	BlockSize      int64
	InodeSize      int64
	Blocks         int64
	InodesPerGroup int64
	BlocksPerGroup int64
	firstData      int64
	groups         []group
	tableBlocks    int64

	// Journal lists the journal's runs (byte offsets in the file system),
	// nil when there is none or it cannot be located.
	Journal []fsmeta.Extent
	// JournalNote says why the journal is missing.
	JournalNote string

	bitmaps map[int]([]byte)
	idx     *index // built by CopiesStartingAt
}

// Open reads the superblock, the group descriptors and the journal inode.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	var sb [1024]byte
	if _, err := r.ReadAt(sb[:], superOffset); err != nil {
		return nil, fmt.Errorf("ext4: superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[56:]) != magic {
		return nil, fsmeta.ErrNotFound
	}
	logBS := binary.LittleEndian.Uint32(sb[24:])
	if logBS > 6 {
		return nil, fmt.Errorf("%w: superblock: block size code %d", ErrCorrupt, logBS)
	}
	fs := &FS{r: r, size: size, BlockSize: 1024 << logBS, bitmaps: map[int][]byte{}}
	incompat := binary.LittleEndian.Uint32(sb[96:])
	fs.Blocks = int64(binary.LittleEndian.Uint32(sb[4:]))
	if incompat&incompat64Bit != 0 {
		fs.Blocks |= int64(binary.LittleEndian.Uint32(sb[336:])) << 32
	}
	fs.InodeSize = int64(binary.LittleEndian.Uint16(sb[88:]))
	if binary.LittleEndian.Uint32(sb[76:]) == 0 { // revision 0
		fs.InodeSize = 128
	}
	fs.firstData = int64(binary.LittleEndian.Uint32(sb[20:]))
	fs.BlocksPerGroup = int64(binary.LittleEndian.Uint32(sb[32:]))
	fs.InodesPerGroup = int64(binary.LittleEndian.Uint32(sb[40:]))
	if fs.InodeSize < 128 || fs.InodeSize > fs.BlockSize || fs.InodeSize&(fs.InodeSize-1) != 0 ||
		fs.Blocks <= 0 || fs.Blocks > size/fs.BlockSize+1 || fs.BlocksPerGroup <= 0 || fs.InodesPerGroup <= 0 ||
		fs.InodesPerGroup > 8*fs.BlockSize || fs.BlocksPerGroup > 8*fs.BlockSize {
		return nil, fmt.Errorf("%w: superblock: %d blocks of %d bytes, inode size %d, %d blocks and %d inodes per group", ErrCorrupt, fs.Blocks, fs.BlockSize, fs.InodeSize, fs.BlocksPerGroup, fs.InodesPerGroup)
	}
	fs.tableBlocks = (fs.InodesPerGroup*fs.InodeSize + fs.BlockSize - 1) / fs.BlockSize
	ngroups := (fs.Blocks - fs.firstData + fs.BlocksPerGroup - 1) / fs.BlocksPerGroup
	if ngroups <= 0 || ngroups > MaxGroups {
		return nil, fmt.Errorf("%w: %d block groups", ErrCorrupt, ngroups)
	}
	descSize := int64(32)
	if incompat&incompat64Bit != 0 {
		if d := int64(binary.LittleEndian.Uint16(sb[254:])); d >= 64 && d <= 1024 && d&(d-1) == 0 {
			descSize = d
		}
	}
	gdt := make([]byte, ngroups*descSize)
	if _, err := r.ReadAt(gdt, (fs.firstData+1)*fs.BlockSize); err != nil {
		return nil, fmt.Errorf("ext4: group descriptors: %w", err)
	}
	for g := int64(0); g < ngroups; g++ {
		d := gdt[g*descSize : (g+1)*descSize]
		gr := group{
			blockBitmap: int64(binary.LittleEndian.Uint32(d[0:])),
			inodeTable:  int64(binary.LittleEndian.Uint32(d[8:])),
			flags:       binary.LittleEndian.Uint16(d[18:]),
		}
		if descSize >= 64 {
			gr.blockBitmap |= int64(binary.LittleEndian.Uint32(d[32:])) << 32
			gr.inodeTable |= int64(binary.LittleEndian.Uint32(d[40:])) << 32
		}
		fs.groups = append(fs.groups, gr)
	}
	if binary.LittleEndian.Uint32(sb[92:])&compatJournal != 0 {
		if ino := int64(binary.LittleEndian.Uint32(sb[224:])); ino > 0 {
			fs.Journal, fs.JournalNote = fs.journalRuns(ino)
		} else {
			fs.JournalNote = "external journal (not on this device)"
		}
	} else {
		fs.JournalNote = "no journal (ext2, or created without one)"
	}
	return fs, nil
}

// Inode reads the live record of inode ino (1-based).
func (fs *FS) Inode(ino int64) ([]byte, error) {
	off, ok := fs.inodeOffset(ino)
	if !ok {
		return nil, fmt.Errorf("%w: inode %d outside the inode tables", ErrCorrupt, ino)
	}
	rec := make([]byte, fs.InodeSize)
	if _, err := fs.r.ReadAt(rec, off); err != nil {
		return nil, fmt.Errorf("ext4: inode %d at byte %d: %w", ino, off, err)
	}
	return rec, nil
}

func (fs *FS) inodeOffset(ino int64) (int64, bool) {
	if ino < 1 {
		return 0, false
	}
	g, i := (ino-1)/fs.InodesPerGroup, (ino-1)%fs.InodesPerGroup
	if g >= int64(len(fs.groups)) {
		return 0, false
	}
	off := fs.groups[g].inodeTable*fs.BlockSize + i*fs.InodeSize
	return off, fs.groups[g].inodeTable > 0 && off+fs.InodeSize <= fs.size
}

// journalRuns locates the journal's blocks through its inode.
func (fs *FS) journalRuns(ino int64) ([]fsmeta.Extent, string) {
	rec, err := fs.Inode(ino)
	if err != nil {
		return nil, fmt.Sprintf("journal inode %d: %v", ino, err)
	}
	ex, err := fs.Extents(rec[inodeBlockOff:inodeBlockOff+inodeBlockSize], nil)
	if err != nil || len(ex) == 0 {
		return nil, fmt.Sprintf("journal inode %d: extents: %v", ino, err)
	}
	return ex, ""
}

// LeafSource returns a better copy of an extent tree block than the one
// on disk (a journal copy from before the deletion), or nil.
type LeafSource func(block int64) []byte

// Extents walks an extent tree (the 60-byte i_block root; deeper levels
// from leaf, or from disk) into a list sorted by logical offset. Lengths
// and offsets are in bytes; unwritten extents read as zeros.
func (fs *FS) Extents(root []byte, leaf LeafSource) ([]fsmeta.Extent, error) {
	var out []fsmeta.Extent
	err := fs.walk(root, 0, leaf, &out, nil)
	sort.Slice(out, func(i, j int) bool { return out[i].Logical < out[j].Logical })
	return out, err
}

// treeBlocks walks an extent tree like Extents and returns the blocks
// that hold its nodes below the root (index and leaf blocks), and its
// extents.
func (fs *FS) treeBlocks(root []byte, leaf LeafSource) ([]int64, []fsmeta.Extent, error) {
	var nodes []int64
	var out []fsmeta.Extent
	err := fs.walk(root, 0, leaf, &out, &nodes)
	return nodes, out, err
}

func (fs *FS) walk(node []byte, depth int, leaf LeafSource, out *[]fsmeta.Extent, nodes *[]int64) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: extent tree deeper than %d", ErrCorrupt, MaxDepth)
	}
	if len(node) < 12 || binary.LittleEndian.Uint16(node[0:]) != extentMagic {
		return fmt.Errorf("%w: extent node without its magic", ErrCorrupt)
	}
	entries := int(binary.LittleEndian.Uint16(node[2:]))
	d := int(binary.LittleEndian.Uint16(node[6:]))
	if 12+12*entries > len(node) {
		return fmt.Errorf("%w: extent node claims %d entries in %d bytes", ErrCorrupt, entries, len(node))
	}
	if depth > 0 && d != 0 && d >= depth+MaxDepth {
		return fmt.Errorf("%w: extent node depth %d", ErrCorrupt, d)
	}
	for k := 0; k < entries; k++ {
		e := node[12+12*k : 24+12*k]
		if d == 0 {
			ln := int64(binary.LittleEndian.Uint16(e[4:]))
			unwritten := ln > maxInitExtent
			if unwritten {
				ln -= maxInitExtent
			}
			phys := int64(binary.LittleEndian.Uint32(e[8:])) | int64(binary.LittleEndian.Uint16(e[6:]))<<32
			if ln == 0 || phys+ln > fs.Blocks {
				return fmt.Errorf("%w: extent of %d blocks at block %d past the file system's %d", ErrCorrupt, ln, phys, fs.Blocks)
			}
			if len(*out) >= MaxExtents {
				return fmt.Errorf("%w: more than %d extents", ErrCorrupt, MaxExtents)
			}
			x := fsmeta.Extent{Logical: int64(binary.LittleEndian.Uint32(e[0:])) * fs.BlockSize, Physical: phys * fs.BlockSize, Length: ln * fs.BlockSize, Zero: unwritten}
			if unwritten {
				x.Physical = 0
			}
			*out = append(*out, x)
			continue
		}
		blk := int64(binary.LittleEndian.Uint32(e[4:])) | int64(binary.LittleEndian.Uint16(e[8:]))<<32
		if blk <= 0 || blk >= fs.Blocks {
			return fmt.Errorf("%w: extent index points to block %d, past the file system", ErrCorrupt, blk)
		}
		if nodes != nil {
			if len(*nodes) >= MaxExtents {
				return fmt.Errorf("%w: more than %d extent tree blocks", ErrCorrupt, MaxExtents)
			}
			*nodes = append(*nodes, blk)
		}
		var b []byte
		if leaf != nil {
			b = leaf(blk)
		}
		if b == nil {
			b = make([]byte, fs.BlockSize)
			if _, err := fs.r.ReadAt(b, blk*fs.BlockSize); err != nil {
				return fmt.Errorf("ext4: extent block %d: %w", blk, err)
			}
		}
		if err := fs.walk(b, depth+1, leaf, out, nodes); err != nil {
			return err
		}
	}
	return nil
}

// Allocated reports whether the block bitmap marks block b used; blocks
// whose bitmap cannot be read count as used.
func (fs *FS) Allocated(b int64) bool {
	if b < fs.firstData || b >= fs.Blocks {
		return true
	}
	g := int((b - fs.firstData) / fs.BlocksPerGroup)
	if g >= len(fs.groups) {
		return true
	}
	bm, ok := fs.bitmaps[g]
	if !ok {
		gr := fs.groups[g]
		switch {
		case gr.flags&bgBlockUninit != 0:
			bm = nil // never used: free, except the group's own metadata, which files never claim
		case gr.blockBitmap <= 0 || gr.blockBitmap >= fs.Blocks:
			bm = []byte{} // unknown
		default:
			bm = make([]byte, fs.BlockSize)
			if _, err := fs.r.ReadAt(bm, gr.blockBitmap*fs.BlockSize); err != nil {
				bm = []byte{}
			}
		}
		fs.bitmaps[g] = bm
	}
	if bm == nil {
		return false
	}
	i := (b - fs.firstData) % fs.BlocksPerGroup
	if i/8 >= int64(len(bm)) {
		return true
	}
	return bm[i/8]&(1<<(i%8)) != 0
}

// Copy is one journaled copy of a file-system block.
type Copy struct {
	Target   int64  // the file-system block it is a copy of
	Sequence uint32 // transaction
	Position int64  // journal block it sits in
	Data     []byte
}

// journal is the parsed journal superblock.
type journal struct {
	first, maxlen int64
	tagBytes      int
	csum          bool
	seq, start    uint32
}

// jblock returns the file-system byte offset of journal block i.
func (fs *FS) jblock(i int64) (int64, bool) {
	pos := i * fs.BlockSize
	for _, e := range fs.Journal {
		if pos >= e.Logical && pos < e.Logical+e.Length && !e.Zero {
			return e.Physical + pos - e.Logical, true
		}
	}
	return 0, false
}

// ParseJournalSuper decodes a jbd2 superblock block.
func parseJournalSuper(b []byte, bs int64) (journal, error) {
	be := binary.BigEndian
	if len(b) < 1024 || be.Uint32(b[0:]) != jbd2Magic {
		return journal{}, fmt.Errorf("%w: journal superblock without its magic", ErrCorrupt)
	}
	t := be.Uint32(b[4:])
	if t != jbdSuperV1 && t != jbdSuperV2 {
		return journal{}, fmt.Errorf("%w: journal superblock type %d", ErrCorrupt, t)
	}
	j := journal{first: int64(be.Uint32(b[20:])), maxlen: int64(be.Uint32(b[16:])), seq: be.Uint32(b[24:]), start: be.Uint32(b[28:])}
	if int64(be.Uint32(b[12:])) != bs || j.first < 1 || j.maxlen <= j.first || j.maxlen > MaxJournalBlocks {
		return j, fmt.Errorf("%w: journal of %d blocks of %d bytes from block %d", ErrCorrupt, j.maxlen, be.Uint32(b[12:]), j.first)
	}
	var incompat uint32
	if t == jbdSuperV2 {
		incompat = be.Uint32(b[40:])
	}
	switch {
	case incompat&jbdCsumV3 != 0:
		j.tagBytes = 16
	default:
		j.tagBytes = 12
		if incompat&jbdCsumV2 != 0 {
			j.tagBytes += 2
		}
		if incompat&jbd64Bit == 0 {
			j.tagBytes -= 4
		}
	}
	j.csum = incompat&(jbdCsumV2|jbdCsumV3) != 0
	return j, nil
}

// DescriptorTag is one tag of a journal descriptor block.
type DescriptorTag struct {
	Target  int64
	Escaped bool
}

// ParseDescriptor decodes the tags of a journal descriptor block.
func ParseDescriptor(b []byte, tagBytes int, csum bool) ([]DescriptorTag, error) {
	be := binary.BigEndian
	end := len(b)
	if csum {
		end -= 4 // descriptor block tail
	}
	var out []DescriptorTag
	for off := 12; ; {
		if off+tagBytes > end {
			return out, fmt.Errorf("%w: descriptor tags run past the block without a last tag", ErrCorrupt)
		}
		t := b[off : off+tagBytes]
		var target int64
		var flags uint32
		if tagBytes == 16 {
			target = int64(be.Uint32(t[0:])) | int64(be.Uint32(t[8:]))<<32
			flags = be.Uint32(t[4:])
		} else {
			target = int64(be.Uint32(t[0:]))
			flags = uint32(be.Uint16(t[6:]))
			if tagBytes >= 12 {
				target |= int64(be.Uint32(t[8:])) << 32
			}
		}
		out = append(out, DescriptorTag{Target: target, Escaped: flags&tagEscape != 0})
		off += tagBytes
		if flags&tagSameUUID == 0 {
			off += 16
		}
		if flags&tagLast != 0 || len(out) > len(b) {
			return out, nil
		}
	}
}

// JournalCopies reads every descriptor block in the journal area — the
// live transactions and the older ones before the head — and returns the
// block copies they describe whose journal position no later transaction
// overwrote, newest first.
func (fs *FS) JournalCopies(ctx context.Context, want func(target int64) bool) ([]Copy, error) {
	if fs.Journal == nil {
		return nil, fmt.Errorf("ext4: %s", fs.JournalNote)
	}
	off, ok := fs.jblock(0)
	if !ok {
		return nil, fmt.Errorf("%w: journal block 0 not mapped", ErrCorrupt)
	}
	sb := make([]byte, fs.BlockSize)
	if _, err := fs.r.ReadAt(sb, off); err != nil {
		return nil, fmt.Errorf("ext4: journal superblock: %w", err)
	}
	j, err := parseJournalSuper(sb, fs.BlockSize)
	if err != nil {
		return nil, err
	}
	type desc struct {
		pos  int64
		seq  uint32
		tags []DescriptorTag
	}
	var descs []desc
	owner := map[int64]uint32{} // journal position → newest transaction that wrote it
	claim := func(pos int64, seq uint32) {
		if s, ok := owner[pos]; !ok || int32(seq-s) > 0 {
			owner[pos] = seq
		}
	}
	b := make([]byte, fs.BlockSize)
	wrap := func(p int64) int64 { return j.first + (p-j.first)%(j.maxlen-j.first) }
	for p := j.first; p < j.maxlen; p++ {
		if p%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		o, ok := fs.jblock(p)
		if !ok {
			continue
		}
		if _, err := fs.r.ReadAt(b[:12], o); err != nil {
			continue
		}
		be := binary.BigEndian
		if be.Uint32(b[0:]) != jbd2Magic {
			continue
		}
		seq := be.Uint32(b[8:])
		switch be.Uint32(b[4:]) {
		case jbdDescriptor:
			if _, err := fs.r.ReadAt(b, o); err != nil {
				continue
			}
			tags, _ := ParseDescriptor(b, j.tagBytes, j.csum)
			if len(tags) == 0 {
				continue
			}
			descs = append(descs, desc{p, seq, tags})
			claim(p, seq)
			for k := range tags {
				claim(wrap(p+1+int64(k)), seq)
			}
		case jbdCommit, jbdRevoke:
			claim(p, seq)
		}
	}
	var out []Copy
	for _, d := range descs {
		for k, t := range d.tags {
			pos := wrap(d.pos + 1 + int64(k))
			if owner[pos] != d.seq || t.Target <= 0 || t.Target >= fs.Blocks || (want != nil && !want(t.Target)) {
				continue
			}
			o, ok := fs.jblock(pos)
			if !ok {
				continue
			}
			data := make([]byte, fs.BlockSize)
			if _, err := fs.r.ReadAt(data, o); err != nil {
				continue
			}
			if t.Escaped {
				binary.BigEndian.PutUint32(data, jbd2Magic)
			}
			if len(out) >= MaxCopies || int64(len(out)+1)*fs.BlockSize > MaxCopyBytes {
				return out, fmt.Errorf("%w: more than %d journal copies (%d bytes); the rest is ignored", ErrCorrupt, len(out), MaxCopyBytes)
			}
			out = append(out, Copy{Target: t.Target, Sequence: d.seq, Position: pos, Data: data})
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return int32(out[a].Sequence-out[b].Sequence) > 0 })
	return out, nil
}

// tableInode maps a block inside an inode table to the number of its
// first inode.
func (fs *FS) tableInode(blk int64) (int64, bool) {
	for g, gr := range fs.groups {
		if gr.inodeTable > 0 && blk >= gr.inodeTable && blk < gr.inodeTable+fs.tableBlocks {
			return int64(g)*fs.InodesPerGroup + (blk-gr.inodeTable)*(fs.BlockSize/fs.InodeSize) + 1, true
		}
	}
	return 0, false
}

// inode fields.
func links(rec []byte) uint16   { return binary.LittleEndian.Uint16(rec[26:]) }
func mode(rec []byte) uint16    { return binary.LittleEndian.Uint16(rec[0:]) }
func dtime(rec []byte) uint32   { return binary.LittleEndian.Uint32(rec[20:]) }
func gen(rec []byte) uint32     { return binary.LittleEndian.Uint32(rec[100:]) }
func isRegular(rec []byte) bool { return mode(rec)&0xF000 == 0x8000 }
func fileSize(rec []byte) int64 {
	return int64(binary.LittleEndian.Uint32(rec[4:])) | int64(binary.LittleEndian.Uint32(rec[108:]))<<32
}
func hasExtents(rec []byte) bool {
	n := rec[inodeBlockOff:]
	return binary.LittleEndian.Uint16(n[0:]) == extentMagic && binary.LittleEndian.Uint16(n[2:]) > 0
}

// Progress reports journal blocks done.
type Progress func(done, total int64)

// Deleted returns the files deleted since the journal copies were made:
// inodes whose live record is free (or reused by another generation)
// while a journal copy still has their extents, named from journal copies
// of directory blocks.
func (fs *FS) Deleted(ctx context.Context, progress Progress) ([]*fsmeta.File, error) {
	copies, err := fs.JournalCopies(ctx, nil)
	if len(copies) == 0 && err != nil {
		return nil, err
	}
	// An inode number is reused by later files, so a name belongs to the
	// state of an inode journaled with it: names[ino] lists each name
	// with the transaction of the directory block copy that held it.
	type nameAt struct {
		seq  uint32
		name string
	}
	names := map[int64][]nameAt{}
	leaves := map[int64][]Copy{}
	type cand struct {
		ino int64
		rec []byte
		c   Copy
	}
	var cands []cand
	seen := map[[2]int64]bool{} // inode, generation
	oldest := map[[2]int64]uint32{}
	// Every block the journal holds a copy of was metadata in that
	// transaction (in ordered and writeback mode file data never goes
	// through the journal): a deleted file's clusters among them were
	// written over, or had not yet been the file's.
	meta := newMetaBlocks()
	for i, c := range copies {
		if progress != nil && i%256 == 0 {
			progress(int64(i), int64(len(copies)))
		}
		if first, ok := fs.tableInode(c.Target); ok {
			meta.add(c.Target, c.Sequence, "an inode table block")
			for k := int64(0); k < fs.BlockSize/fs.InodeSize; k++ {
				rec := c.Data[k*fs.InodeSize : (k+1)*fs.InodeSize]
				ino := first + k
				key := [2]int64{ino, int64(gen(rec))}
				if !isRegular(rec) || links(rec) == 0 || !hasExtents(rec) || fileSize(rec) <= 0 {
					continue
				}
				oldest[key] = c.Sequence // newest first: the last one seen is the oldest
				if seen[key] {
					continue
				}
				seen[key] = true // copies are newest first: the first one of a generation is its last state
				cands = append(cands, cand{ino, rec, c})
			}
			continue
		}
		if binary.LittleEndian.Uint16(c.Data[0:]) == extentMagic {
			meta.add(c.Target, c.Sequence, "an extent tree block")
			leaves[c.Target] = append(leaves[c.Target], c)
			continue
		}
		d := DirEntries(c.Data)
		if len(d) > 0 {
			meta.add(c.Target, c.Sequence, "a directory block")
		} else {
			meta.add(c.Target, c.Sequence, "a metadata block")
		}
		for ino, n := range d {
			names[ino] = append(names[ino], nameAt{c.Sequence, n})
		}
	}
	leafAt := func(seq uint32) LeafSource {
		return func(blk int64) []byte {
			for _, l := range leaves[blk] {
				if int32(seq-l.Sequence) >= 0 && binary.LittleEndian.Uint16(l.Data[2:]) > 0 {
					return l.Data
				}
			}
			return nil
		}
	}
	if err := fs.metaOfInodes(ctx, copies, leafAt, meta); err != nil {
		return nil, err
	}
	var out []*fsmeta.File
	for _, cd := range cands {
		live, err := fs.Inode(cd.ino)
		if err != nil {
			continue
		}
		if links(live) > 0 && gen(live) == gen(cd.rec) && dtime(live) == 0 {
			continue // still there
		}
		seq := cd.c.Sequence
		leaf := leafAt(seq)
		// The name its directory had when this state of the inode was
		// journaled: the newest at or before its transaction, else the
		// oldest after it.
		var name string
		var best, after *nameAt
		for i := range names[cd.ino] {
			n := &names[cd.ino][i]
			if int32(seq-n.seq) >= 0 {
				if best == nil || int32(n.seq-best.seq) > 0 {
					best = n
				}
			} else if after == nil || int32(after.seq-n.seq) > 0 {
				after = n
			}
		}
		if best == nil {
			best = after
		}
		if best != nil {
			name = best.name
		}
		f := &fsmeta.File{FS: "ext4", ID: fmt.Sprintf("inode %d (journal copy in block %d, transaction %d)", cd.ino, cd.c.Position, seq),
			Name: name, Size: fileSize(cd.rec), Modified: time.Unix(int64(binary.LittleEndian.Uint32(cd.rec[16:])), 0).UTC()}
		if f.Name != "" {
			f.Path = f.Name
		}
		ex, err := fs.Extents(cd.rec[inodeBlockOff:inodeBlockOff+inodeBlockSize], leaf)
		if err != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("extent tree: %v", err))
		}
		for _, e := range ex {
			if e.Logical >= f.Size {
				break
			}
			e.Length = min(e.Length, f.Size-e.Logical)
			if !f.Append(e, MaxExtents) {
				break
			}
		}
		f.Complete = err == nil && f.Stored() >= f.Size && contiguousLogical(f)
		if !f.Complete && err == nil {
			f.Notes = append(f.Notes, fmt.Sprintf("extents map %d of %d bytes", f.Stored(), f.Size))
		}
		meta.claim(f, fs.BlockSize, oldest[[2]int64{cd.ino, int64(gen(cd.rec))}], seq)
		out = append(out, f)
	}
	if progress != nil {
		progress(int64(len(copies)), int64(len(copies)))
	}
	return out, err // a partial journal read still gives what it found
}

// contiguousLogical reports whether the extents leave no unmapped gap
// (ext4 files may have holes; a hole in a deleted file's copy is taken as
// sparse only when the extents are sorted and do not overlap).
func contiguousLogical(f *fsmeta.File) bool {
	var pos int64
	for _, e := range f.Extents {
		if e.Logical < pos {
			return false
		}
		pos = e.Logical + e.Length
	}
	return true
}

// AllFree reports whether every block of f's data extents (relative to
// the file system) is free in the block bitmaps; callers ask it only for
// the files they recover.
func (fs *FS) AllFree(f *fsmeta.File) bool {
	return fsmeta.AllFree(f, 0, fs.BlockSize, func(b int64) bool { return !fs.Allocated(b) })
}

// DirEntries decodes a linear directory block (ext4_dir_entry_2 records,
// chained by rec_len over the whole block), including entries hidden in
// a record's slack after an unlink merged them into the one before. It
// returns nil when b is not a directory block.
func DirEntries(b []byte) map[int64]string {
	out := map[int64]string{}
	ok := func(off int, recLen int) (int64, string, bool) {
		if off+8 > len(b) {
			return 0, "", false
		}
		ino := int64(binary.LittleEndian.Uint32(b[off:]))
		nl := int(b[off+6])
		if ino == 0 || nl == 0 || 8+nl > recLen || off+8+nl > len(b) {
			return 0, "", false
		}
		name := b[off+8 : off+8+nl]
		if bytes.ContainsAny(name, "/\x00") {
			return 0, "", false
		}
		return ino, string(name), true
	}
	for off := 0; off < len(b); {
		if off+8 > len(b) {
			return nil
		}
		rl := int(binary.LittleEndian.Uint16(b[off+4:]))
		if rl < 12 || rl%4 != 0 || off+rl > len(b) {
			return nil
		}
		if ino, n, good := ok(off, rl); good {
			if n != "." && n != ".." {
				out[ino] = n
			}
			// Slack after this entry's name may hide unlinked entries.
			need := (8 + int(b[off+6]) + 3) &^ 3
			for s := off + need; s+12 <= off+rl; {
				srl := int(binary.LittleEndian.Uint16(b[s+4:]))
				if srl < 12 || srl%4 != 0 || s+srl > off+rl {
					break
				}
				if ino2, n2, good := ok(s, srl); good {
					out[ino2] = n2
				}
				s += (8 + int(b[s+6]) + 3) &^ 3
			}
		}
		off += rl
	}
	return out
}
