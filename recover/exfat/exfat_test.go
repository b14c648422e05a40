package exfat

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

// TestSeedImage: the deleted files of a real exFAT volume (mkfs.exfat +
// exfat-fuse, recover/testdata/undelete/mk.sh) are listed with their
// names and sizes; exfat-fuse zeroed their chains, and the notes say the
// extents were assumed.
func TestSeedImage(t *testing.T) {
	img := fsmetatest.Image(t, "exfat.img")
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	files, err := v.Deleted(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*fsmeta.File{}
	for _, f := range files {
		by[f.Name] = f
	}
	frag := by["fragmented.iso"]
	if frag == nil || frag.Size != 40000 || frag.Path != "/fragmented.iso" {
		t.Fatalf("fragmented.iso: %+v", frag)
	}
	t.Logf("fragmented.iso: %+v, notes %v", frag.Extents, frag.Notes)
	for _, e := range frag.Extents {
		if e.Zero {
			continue
		}
		if i := bytes.IndexFunc(img[e.Physical:e.Physical+e.Length], func(r rune) bool { return r != 'a' }); i >= 0 {
			t.Errorf("fragmented.iso: extent %+v holds other bytes at %d", e, i)
		}
	}
	if s := by["second.iso"]; s == nil || s.Size != 3000 {
		t.Errorf("second.iso: %+v", s)
	}
}

const fuzzSize = 2 << 20

func FuzzVolume(f *testing.F) {
	f.Add(fsmetatest.Sparse(fsmetatest.Image(f, "exfat.img")))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		v, err := Open(fsmetatest.FromSparse(b, fuzzSize), fuzzSize)
		if err != nil {
			return
		}
		files, _ := v.Deleted(ctx, nil)
		for _, f := range files {
			for _, e := range f.Extents {
				if !e.Zero && (e.Physical < 0 || e.Physical+e.Length > fuzzSize) {
					t.Fatalf("%s: extent %+v outside the volume", f.ID, e)
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatal("Deleted took more than 10 s")
		}
	})
}

func FuzzEntrySets(f *testing.F) {
	img := fsmetatest.Image(f, "exfat.img")
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		f.Fatal(err)
	}
	root, _ := v.readRun(v.root, v.ClusterSize, false)
	f.Add(root)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, es := range ParseEntrySets(b) {
			if es.Size < 0 || es.ValidSize < 0 {
				t.Fatalf("negative size: %+v", es)
			}
		}
	})
}

// TestHostile: FAT chains that loop or leave the heap, and boot sectors
// with impossible geometry, give errors or bounded results.
func TestHostile(t *testing.T) {
	img := fsmetatest.Image(t, "exfat.img")
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	// A loop: cluster 10 → 11 → 10.
	fat := append([]byte(nil), v.fat...)
	binary.LittleEndian.PutUint32(v.fat[40:], 11)
	binary.LittleEndian.PutUint32(v.fat[44:], 10)
	if c, err := v.chain(10, 1<<30); !errors.Is(err, ErrCorrupt) || len(c) != 2 {
		t.Errorf("looping chain: %d clusters, %v", len(c), err)
	}
	// Out of the heap.
	binary.LittleEndian.PutUint32(v.fat[40:], 0xFFFFFF00)
	if c, _ := v.chain(10, 1<<30); len(c) != 1 {
		t.Errorf("chain to a bad-cluster mark: %d clusters", len(c))
	}
	binary.LittleEndian.PutUint32(v.fat[40:], uint32(v.Clusters+100))
	if _, err := v.chain(10, 1<<30); !errors.Is(err, ErrCorrupt) {
		t.Errorf("chain out of the heap: %v", err)
	}
	v.fat = fat
	// A deleted entry set claiming an exabyte file, NoFatChain: refused
	// without allocating.
	huge := v.rebuild(EntrySet{Deleted: true, Name: "huge", First: 5, Size: 1 << 60, ValidSize: 1 << 60, NoFatChain: true}, "/huge")
	if huge.Complete || len(huge.Extents) != 0 {
		t.Errorf("exabyte NoFatChain file: %+v", huge)
	}
	// The same with a zeroed chain: at most the free clusters.
	huge = v.rebuild(EntrySet{Deleted: true, Name: "huge", First: 5, Size: 1 << 60, ValidSize: 1 << 60}, "/huge")
	if huge.Complete || huge.Stored() > v.Clusters*v.ClusterSize {
		t.Errorf("exabyte zeroed-chain file maps %d bytes", huge.Stored())
	}
	// Boot sectors with impossible geometry.
	for _, c := range []struct {
		name string
		edit func(b []byte)
	}{
		{"cluster shift 40", func(b []byte) { b[109] = 40 }},
		{"FAT past the volume", func(b []byte) { binary.LittleEndian.PutUint32(b[80:], 1<<30) }},
		{"2^32 clusters", func(b []byte) { binary.LittleEndian.PutUint32(b[92:], 0xFFFFFFFF) }},
		{"root cluster 0", func(b []byte) { binary.LittleEndian.PutUint32(b[96:], 0) }},
	} {
		b := append([]byte(nil), img...)
		c.edit(b)
		if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// Directory entries whose secondary count runs past the directory.
	dir := make([]byte, 64)
	dir[0], dir[1] = 0x05, 18
	dir[32], dir[35] = 0x40, 5 // stream extension: a 5-character name, no name entries
	if es := ParseEntrySets(dir); len(es) != 1 || es[0].NameComplete {
		t.Errorf("truncated entry set: %+v", es)
	}
}

// TestMetadataBlocks: the read-back check knows a directory cluster by an
// entry set whose checksum matches (as written, in use, or deleted since),
// and takes no set with a wrong checksum.
func TestMetadataBlocks(t *testing.T) {
	set := func(deleted, wrong bool) []byte {
		b := make([]byte, 4096)
		e := b[96:192]
		e[0], e[1] = entryFile, 2
		e[32] = entryStream
		e[64], e[65] = entryName, 0
		copy(e[66:], []byte{'a', 0})
		binary.LittleEndian.PutUint16(e[2:], setChecksum(e))
		if wrong {
			e[2]++
		}
		if deleted {
			e[0], e[32], e[64] = e[0]&^inUse, e[32]&^inUse, e[64]&^inUse
		}
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"live set", set(false, false), "an exFAT directory cluster"},
		{"deleted set", set(true, false), "an exFAT directory cluster"},
		{"wrong checksum", set(false, true), ""},
		{"zeros", make([]byte, 4096), ""},
	} {
		if got := Metadata(c.b); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
