// Package fsmetatest is the test kit of the file-system readers under
// recover/: it loads the small real file-system images committed in
// recover/testdata/undelete (made by mk.sh there with mkntfs + ntfs-3g,
// mkfs.exfat + exfat-fuse, mkfs.ext4 + a loop mount and mkfs.fat +
// mtools, each holding deleted files, one of them fragmented), and turns
// an image into the compact form the fuzz targets mutate: its non-empty
// blocks only, so that every mutation lands on metadata.
package fsmetatest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Image returns the decompressed test image name ("ntfs.img", "exfat.img",
// "ext4.img", "fat.img").
func Image(t testing.TB, name string) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "undelete", name+".gz")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SparseBlock is the block size of the sparse form.
const SparseBlock = 512

// maxSparseRecords bounds a decoded sparse input.
const maxSparseRecords = 1 << 14

// Sparse encodes the blocks of img that are not one byte repeated (free
// space, NTFS's empty $LogFile, the test files' contents) as records: a
// 4-byte little-endian block index, then the block. What is left is the
// metadata.
func Sparse(img []byte) []byte {
	var out []byte
	for i := 0; i+SparseBlock <= len(img); i += SparseBlock {
		b := img[i : i+SparseBlock]
		if bytes.Count(b, b[:1]) == SparseBlock {
			continue
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(i/SparseBlock))
		out = append(out, b...)
	}
	return out
}

// FromSparse decodes a sparse form into a reader of size bytes that
// reads zeros outside the blocks given; records past size and a short
// last record are dropped.
func FromSparse(b []byte, size int64) io.ReaderAt {
	r := &sparseReader{size: size, blocks: map[int64][]byte{}}
	for n := 0; len(b) >= 4+SparseBlock && n < maxSparseRecords; n++ {
		i := int64(binary.LittleEndian.Uint32(b))
		if (i+1)*SparseBlock <= size {
			r.blocks[i] = b[4 : 4+SparseBlock]
		}
		b = b[4+SparseBlock:]
	}
	return r
}

type sparseReader struct {
	size   int64
	blocks map[int64][]byte
}

func (r *sparseReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= r.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.size-off)
	for k := int64(0); k < n; {
		blk, in := (off+k)/SparseBlock, (off+k)%SparseBlock
		m := min(SparseBlock-in, n-k)
		if b, ok := r.blocks[blk]; ok {
			copy(p[k:k+m], b[in:in+m])
		} else {
			clear(p[k : k+m])
		}
		k += m
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
