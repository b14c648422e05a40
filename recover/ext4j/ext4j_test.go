package ext4j

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/isofsd/isofsd/recover/fsmeta"
	"github.com/isofsd/isofsd/recover/fsmeta/fsmetatest"
)

func seedFS(t testing.TB) ([]byte, *FS) {
	img := fsmetatest.Image(t, "ext4.img")
	fs, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return img, fs
}

// TestSeedImage: the deleted files of a real ext4 (mkfs.ext4 + a loop
// mount, recover/testdata/undelete/mk.sh) come back from the journal's
// copies of their inode-table blocks, named from its copies of directory
// blocks, with extents holding their bytes.
func TestSeedImage(t *testing.T) {
	img, fs := seedFS(t)
	if fs.Journal == nil {
		t.Fatalf("journal not located: %s", fs.JournalNote)
	}
	files, err := fs.Deleted(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*fsmeta.File{}
	for _, f := range files {
		by[f.Name] = f
	}
	frag := by["fragmented.iso"]
	if frag == nil || frag.Size != 40000 || !frag.Complete || !fs.AllFree(frag) {
		t.Fatalf("fragmented.iso: %+v (of %d deleted files)", frag, len(files))
	}
	t.Logf("fragmented.iso: %+v", frag.Extents)
	for _, e := range frag.Extents {
		if i := bytes.IndexFunc(img[e.Physical:e.Physical+e.Length], func(r rune) bool { return r != 'a' }); e.Zero || i >= 0 {
			t.Errorf("fragmented.iso: extent %+v does not hold its bytes (%d)", e, i)
		}
	}
	if s := by["second.iso"]; s == nil || s.Size != 3000 {
		t.Errorf("second.iso: %+v", s)
	}
}

// metadataOnly keeps the first 64 KiB (superblock, group descriptors,
// bitmaps and inode tables of this small file system) and the journal.
func metadataOnly(img []byte, fs *FS) []byte {
	out := make([]byte, len(img))
	copy(out[:64<<10], img)
	for _, e := range fs.Journal {
		copy(out[e.Physical:e.Physical+e.Length], img[e.Physical:e.Physical+e.Length])
	}
	return out
}

const fuzzSize = 4 << 20

func FuzzFS(f *testing.F) {
	img, fs := seedFS(f)
	f.Add(fsmetatest.Sparse(metadataOnly(img, fs)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		fs, err := Open(fsmetatest.FromSparse(b, fuzzSize), fuzzSize)
		if err != nil {
			return
		}
		files, _ := fs.Deleted(ctx, nil)
		for _, f := range files {
			for _, e := range f.Extents {
				if !e.Zero && (e.Physical < 0 || e.Physical+e.Length > fuzzSize) {
					t.Fatalf("%s: extent %+v outside the file system", f.ID, e)
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatal("Deleted took more than 10 s")
		}
	})
}

func FuzzBlocks(f *testing.F) {
	img, fs := seedFS(f)
	copies, err := fs.JournalCopies(context.Background(), nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range copies {
		f.Add(c.Data)
	}
	sb, _ := fs.jblock(0)
	f.Add(img[sb : sb+fs.BlockSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		DirEntries(b)
		ParseDescriptor(b, 16, true)
		ParseDescriptor(b, 8, false)
		parseJournalSuper(b, 1024)
		if len(b) >= 60 {
			fs.Extents(b[:60], func(int64) []byte { return b })
		}
	})
}

// TestHostile: extent trees that loop through themselves or point past
// the file system, descriptors without a last tag, and a superblock
// claiming more blocks than the source holds.
func TestHostile(t *testing.T) {
	img, fs := seedFS(t)
	// An index node whose child is itself (via the leaf source): capped depth.
	node := make([]byte, 1024)
	binary.LittleEndian.PutUint16(node[0:], extentMagic)
	binary.LittleEndian.PutUint16(node[2:], 1)
	binary.LittleEndian.PutUint16(node[4:], 4)
	binary.LittleEndian.PutUint16(node[6:], 1)
	binary.LittleEndian.PutUint32(node[16:], 100) // child block 100
	if _, err := fs.Extents(node[:60], func(int64) []byte { return node }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("self-referencing extent index: %v", err)
	}
	// A leaf past the file system.
	leaf := make([]byte, 60)
	binary.LittleEndian.PutUint16(leaf[0:], extentMagic)
	binary.LittleEndian.PutUint16(leaf[2:], 1)
	binary.LittleEndian.PutUint16(leaf[4:], 4)
	binary.LittleEndian.PutUint16(leaf[16:], 8)
	binary.LittleEndian.PutUint32(leaf[20:], 0xFFFFFFF0)
	if _, err := fs.Extents(leaf, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("extent past the file system: %v", err)
	}
	// A node claiming more entries than it has room for.
	binary.LittleEndian.PutUint16(leaf[2:], 1000)
	if _, err := fs.Extents(leaf, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("1000 entries in 60 bytes: %v", err)
	}
	// A descriptor block whose tags never say "last".
	d := make([]byte, 1024)
	binary.BigEndian.PutUint32(d, jbd2Magic)
	binary.BigEndian.PutUint32(d[4:], jbdDescriptor)
	for o := 12; o+16 <= 1024; o += 16 {
		binary.BigEndian.PutUint32(d[o+4:], tagSameUUID)
	}
	if tags, err := ParseDescriptor(d, 16, true); !errors.Is(err, ErrCorrupt) || len(tags) > 1024/16 {
		t.Errorf("descriptor without a last tag: %d tags, %v", len(tags), err)
	}
	// A directory block whose record lengths loop (0) or run past it.
	dir := make([]byte, 1024)
	binary.LittleEndian.PutUint32(dir, 12)
	if DirEntries(dir) != nil {
		t.Errorf("zero rec_len accepted")
	}
	binary.LittleEndian.PutUint16(dir[4:], 2048)
	if DirEntries(dir) != nil {
		t.Errorf("rec_len past the block accepted")
	}
	// A superblock claiming 2^40 blocks on 4 MiB.
	b := append([]byte(nil), img...)
	binary.LittleEndian.PutUint32(b[1024+4:], 0xFFFFFFFF)
	if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("superblock claiming 2^32 blocks: %v", err)
	}
}

// TestCopiesBeforeTheHead: after a clean unmount the journal is empty
// (s_start 0: a replay finds nothing); every copy Deleted used came from
// the transactions before the head.
func TestCopiesBeforeTheHead(t *testing.T) {
	img, fs := seedFS(t)
	off, _ := fs.jblock(0)
	j, err := parseJournalSuper(img[off:off+fs.BlockSize], fs.BlockSize)
	if err != nil {
		t.Fatal(err)
	}
	if j.start != 0 {
		t.Fatalf("journal not clean: s_start %d", j.start)
	}
	copies, err := fs.JournalCopies(context.Background(), nil)
	if err != nil || len(copies) == 0 {
		t.Fatalf("%d copies, %v", len(copies), err)
	}
	t.Logf("%d block copies from transactions %d..%d, head at sequence %d", len(copies), copies[len(copies)-1].Sequence, copies[0].Sequence, j.seq)
}

// TestMetadataBlocks: the read-back check knows an extent tree block and a
// directory block, and takes neither zeros, random bytes, a node whose
// sizes do not fit the block, nor a block of the wrong size for one.
func TestMetadataBlocks(t *testing.T) {
	fs := &FS{BlockSize: 1024}
	node := make([]byte, 1024)
	binary.LittleEndian.PutUint16(node[0:], extentMagic)
	binary.LittleEndian.PutUint16(node[2:], 3)
	binary.LittleEndian.PutUint16(node[4:], (1024-12)/12)
	dir := make([]byte, 1024)
	put := func(off int, ino uint32, recLen uint16, name string) {
		binary.LittleEndian.PutUint32(dir[off:], ino)
		binary.LittleEndian.PutUint16(dir[off+4:], recLen)
		dir[off+6] = byte(len(name))
		copy(dir[off+8:], name)
	}
	put(0, 2, 12, ".")
	put(12, 2, 1012, "..")
	wrongMax := append([]byte(nil), node...)
	binary.LittleEndian.PutUint16(wrongMax[4:], 4) // an inode's root, not a block
	tooMany := append([]byte(nil), node...)
	binary.LittleEndian.PutUint16(tooMany[2:], 200)
	noise := make([]byte, 1024)
	for i := range noise {
		noise[i] = byte(i*7 + i/3)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"extent node", node, "an ext4 extent tree block"},
		{"directory", dir, "an ext4 directory block"},
		{"zeros", make([]byte, 1024), ""},
		{"noise", noise, ""},
		{"root-sized node", wrongMax, ""},
		{"entries past max", tooMany, ""},
		{"short block", node[:512], ""},
	} {
		if got := fs.Metadata(c.b); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
