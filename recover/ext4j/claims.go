package ext4j

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/isofsd/isofsd/recover/fsmeta"
)

// Metadata written over deleted files.
//
// The block bitmap only says whether a block is in use now. A file
// deleted after the image was — a big file whose extent tree needed leaf
// blocks, a directory that grew and was removed — leaves its metadata
// blocks free too, written over the image's clusters. Its data extents
// are a deleted file of their own, which recover weighs; its metadata
// blocks are not, so Deleted gathers them here from everything the
// journal remembers: the copies themselves (every journaled block was
// metadata in its transaction) and, for every inode record in an
// inode-table copy, its extent tree blocks, the blocks of directories and
// symlinks, and its extended attribute block.

// metaUse is the newest transaction in which a block held metadata.
type metaUse struct {
	seq  uint32
	what string
}

type metaBlocks struct {
	use    map[int64]metaUse
	capped bool
	sorted []int64
}

func newMetaBlocks() *metaBlocks { return &metaBlocks{use: map[int64]metaUse{}} }

func (m *metaBlocks) add(blk int64, seq uint32, what string) {
	u, ok := m.use[blk]
	if ok && int32(u.seq-seq) >= 0 {
		return
	}
	if !ok && len(m.use) >= MaxMetaBlocks {
		m.capped = true
		return
	}
	m.use[blk] = metaUse{seq, what}
	m.sorted = nil
}

// metaOfInodes adds the metadata blocks of every inode record in the
// inode-table copies: extent tree blocks, directory and symlink blocks,
// extended attribute blocks.
func (fs *FS) metaOfInodes(ctx context.Context, copies []Copy, leafAt func(uint32) LeafSource, m *metaBlocks) error {
	type state struct {
		ino  int64
		gen  uint32
		root [inodeBlockSize]byte
		acl  int64
	}
	done := map[state]bool{}
	for i, c := range copies {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		first, ok := fs.tableInode(c.Target)
		if !ok {
			continue
		}
		for k := int64(0); k < fs.BlockSize/fs.InodeSize; k++ {
			rec := c.Data[k*fs.InodeSize : (k+1)*fs.InodeSize]
			if mode(rec) == 0 {
				continue
			}
			ino := first + k
			st := state{ino: ino, gen: gen(rec), acl: int64(binary.LittleEndian.Uint32(rec[104:])) | int64(binary.LittleEndian.Uint16(rec[118:]))<<32}
			copy(st.root[:], rec[inodeBlockOff:])
			if done[st] {
				continue // the same tree in an older transaction: the newest is already in
			}
			done[st] = true
			if st.acl > 0 && st.acl < fs.Blocks {
				m.add(st.acl, c.Sequence, fmt.Sprintf("the extended attribute block of inode %d", ino))
			}
			if !hasExtents(rec) {
				continue
			}
			// A damaged tree still gives the blocks found before the damage.
			nodes, ex, _ := fs.treeBlocks(rec[inodeBlockOff:inodeBlockOff+inodeBlockSize], leafAt(c.Sequence))
			for _, b := range nodes {
				m.add(b, c.Sequence, fmt.Sprintf("an extent tree block of inode %d", ino))
			}
			if isRegular(rec) {
				continue // a file's data: recover weighs deleted files against each other
			}
			what := fmt.Sprintf("a block of directory inode %d", ino)
			if mode(rec)&0xF000 != 0x4000 {
				what = fmt.Sprintf("a data block of inode %d (mode %#o)", ino, mode(rec))
			}
			n := 0
			for _, e := range ex {
				if e.Zero {
					continue
				}
				for b := e.Physical / fs.BlockSize; b*fs.BlockSize < e.Physical+e.Length && n < maxDirBlocks; b++ {
					m.add(b, c.Sequence, what)
					n++
				}
			}
		}
	}
	return nil
}

// claim records on f the metadata blocks inside its data extents: those
// journaled after its last state (seq last) were certainly written over
// it; those from its first state (seq first) on may have been; older ones
// were metadata before the file took the blocks.
func (m *metaBlocks) claim(f *fsmeta.File, bs int64, first, last uint32) {
	if m.capped {
		f.Notes = append(f.Notes, fmt.Sprintf("more than %d metadata blocks in the journal: the ones past that were not weighed against this file", MaxMetaBlocks))
		f.AddClaim(fsmeta.Claim{What: "metadata blocks not weighed (too many)"})
	}
	if m.sorted == nil {
		m.sorted = make([]int64, 0, len(m.use))
		for b := range m.use {
			m.sorted = append(m.sorted, b)
		}
		sort.Slice(m.sorted, func(i, j int) bool { return m.sorted[i] < m.sorted[j] })
	}
	for _, e := range f.Extents {
		if e.Zero {
			continue
		}
		lo, hi := e.Physical/bs, (e.Physical+e.Length+bs-1)/bs
		i := sort.Search(len(m.sorted), func(i int) bool { return m.sorted[i] >= lo })
		for ; i < len(m.sorted) && m.sorted[i] < hi; i++ {
			b := m.sorted[i]
			u := m.use[b]
			after := int32(u.seq-last) > 0
			if !after && int32(u.seq-first) < 0 {
				continue
			}
			p, q := max(b*bs, e.Physical), min((b+1)*bs, e.Physical+e.Length)
			f.AddClaim(fsmeta.Claim{Physical: p, Length: q - p, What: fmt.Sprintf("%s (transaction %d)", u.what, u.seq), After: after})
		}
	}
}

// Metadata returns a function that reports what ext4 metadata block b (a
// block of a recovered file, of the file system's block size) holds — an
// extent tree block or a directory block — or "" when none: the last
// check before a file is called exact on the file system's word, for
// metadata the journal no longer remembers.
func (fs *FS) Metadata(b []byte) string {
	if int64(len(b)) != fs.BlockSize {
		return ""
	}
	le := binary.LittleEndian
	if le.Uint16(b) == extentMagic {
		entries, maxEntries, depth := int64(le.Uint16(b[2:])), int64(le.Uint16(b[4:])), le.Uint16(b[6:])
		if maxEntries == (fs.BlockSize-12)/12 && entries <= maxEntries && depth <= MaxDepth {
			return "an ext4 extent tree block"
		}
	}
	// A directory block starts with "." pointing at an inode, or is a
	// chain of entries over the whole block with at least one name.
	if d := DirEntries(b); d != nil && (len(d) > 0 || le.Uint32(b) != 0 && b[6] == 1 && b[8] == '.') {
		return "an ext4 directory block"
	}
	return ""
}
