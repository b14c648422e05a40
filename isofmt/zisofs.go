package isofmt

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

// zisofsMagic starts every zisofs-compressed file.
var zisofsMagic = []byte{0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07}

// zisofsReader decompresses a zisofs (Rock Ridge ZF, "pz") file block by
// block. The stored bytes hold a 16-byte header, a table of nblocks+1
// little-endian pointers, then one zlib stream per block; equal adjacent
// pointers mean a block of zeros. Only the last decoded block is kept, which
// serves sequential readers; random readers decode what they ask for.
type zisofsReader struct {
	raw     io.ReaderAt // stored (compressed) bytes of the file
	rawSize int64
	size    int64 // uncompressed size
	shift   uint
	table   int64 // byte offset of the pointer table
	name    string

	mu      sync.Mutex
	lastIdx int64
	last    []byte
}

func newZisofsReader(raw io.ReaderAt, rawSize int64, z *Zisofs, name string) (*zisofsReader, error) {
	var hdr [16]byte
	if rawSize < 16 {
		return nil, fmt.Errorf("isofmt: %s: zisofs file of %d bytes has no header: %w", name, rawSize, ErrCorrupt)
	}
	if _, err := raw.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("isofmt: %s: reading zisofs header: %w", name, err)
	}
	if !bytes.Equal(hdr[:8], zisofsMagic) {
		return nil, fmt.Errorf("isofmt: %s: zisofs header magic missing: %w", name, ErrCorrupt)
	}
	size := int64(binary.LittleEndian.Uint32(hdr[8:12]))
	hwords, shift := hdr[12], hdr[13]
	if shift < 15 || shift > 17 || hwords < 4 {
		return nil, fmt.Errorf("isofmt: %s: zisofs block size 2^%d, header %d words: %w", name, shift, hwords, ErrUnsupported)
	}
	if size != z.RealSize {
		return nil, fmt.Errorf("isofmt: %s: zisofs header size %d disagrees with ZF entry %d: %w", name, size, z.RealSize, ErrCorrupt)
	}
	r := &zisofsReader{raw: raw, rawSize: rawSize, size: size, shift: uint(shift), table: int64(hwords) * 4, name: name, lastIdx: -1}
	nblocks := (size + 1<<r.shift - 1) >> r.shift
	if r.table+(nblocks+1)*4 > rawSize {
		return nil, fmt.Errorf("isofmt: %s: zisofs pointer table (%d blocks) exceeds the stored %d bytes: %w", name, nblocks, rawSize, ErrCorrupt)
	}
	return r, nil
}

func (z *zisofsReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= z.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < z.size {
		pos := off + int64(n)
		idx := pos >> z.shift
		blk, err := z.block(idx)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], blk[pos-idx<<z.shift:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns decoded block idx; the result must not be modified.
func (z *zisofsReader) block(idx int64) ([]byte, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if idx == z.lastIdx {
		return z.last, nil
	}
	bsize := int64(1) << z.shift
	want := min(bsize, z.size-idx<<z.shift)
	var ptrs [8]byte
	if _, err := z.raw.ReadAt(ptrs[:], z.table+idx*4); err != nil {
		return nil, fmt.Errorf("isofmt: %s: zisofs block %d pointers: %w", z.name, idx, err)
	}
	start := int64(binary.LittleEndian.Uint32(ptrs[0:4]))
	end := int64(binary.LittleEndian.Uint32(ptrs[4:8]))
	// A zlib stream of one block is never much larger than the block.
	if start > end || end > z.rawSize || end-start > bsize+bsize/8+1024 {
		return nil, fmt.Errorf("isofmt: %s: zisofs block %d has bad pointers %d..%d (stored size %d): %w", z.name, idx, start, end, z.rawSize, ErrCorrupt)
	}
	out := make([]byte, want)
	if start != end {
		zr, err := zlib.NewReader(io.NewSectionReader(z.raw, start, end-start))
		if err != nil {
			return nil, fmt.Errorf("isofmt: %s: zisofs block %d: %v: %w", z.name, idx, err, ErrCorrupt)
		}
		if _, err := io.ReadFull(zr, out); err != nil {
			return nil, fmt.Errorf("isofmt: %s: zisofs block %d decompresses short: %v: %w", z.name, idx, err, ErrCorrupt)
		}
	}
	z.lastIdx, z.last = idx, out
	return out, nil
}
