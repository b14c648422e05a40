package udf

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

var fuzzCorpus = []string{
	"libcdio/udf102.iso", "libcdio/test-udf1.iso", "isolyzer/udf.iso",
	"isolyzer/iso9660_udf.iso", "isolyzer/is9660_udf_imgburn.iso",
}

func corpusImages(f *testing.F) map[string][]byte {
	out := map[string][]byte{}
	for _, rel := range fuzzCorpus {
		b, err := os.ReadFile(filepath.Join(corpus, rel))
		if err != nil {
			f.Fatalf("corpus image (part of the repository): %v", err)
		}
		out[rel] = b
	}
	return out
}

// fuzzEntries is a small tree with one of each kind of entry, so seed
// images stay small and fast to mutate.
func fuzzEntries() []udfbuild.Entry {
	mt := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	return []udfbuild.Entry{
		{Path: "README.TXT", Data: []byte("hello udf\n"), Perm: 0o644, UID: 1, GID: 2, MTime: mt},
		{Path: "emb", Data: []byte("embedded"), Embed: true, Perm: 0o644, MTime: mt},
		{Path: "d/many", Data: pattern(20*512, 3), ExtentBlocks: 1, Perm: 0o644, MTime: mt},
		{Path: "d/link", Symlink: "../README.TXT", Perm: 0o777, MTime: mt},
		{Path: "d/hard", Link: "README.TXT"},
		{Path: "sparse", Size: 1 << 33, Chunks: []udfbuild.Chunk{{Off: 1 << 32, Data: []byte("x")}}, Perm: 0o644, MTime: mt},
	}
}

func fuzzBase(tb testing.TB, o udfbuild.Options) []byte {
	img, err := udfbuild.Build(o, fuzzEntries())
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// walkBudget walks at most budget entries, touching every field a walker would.
func walkBudget(v *Volume, budget int) {
	root, err := v.Root()
	if err != nil {
		return
	}
	_ = v.Info()
	queue := []*core.Node{root}
	for len(queue) > 0 && budget > 0 {
		n := queue[0]
		queue = queue[1:]
		kids, err := v.ReadDir(n)
		if err != nil {
			continue
		}
		for _, k := range kids {
			if budget--; budget <= 0 {
				return
			}
			_ = k.Stat.StoredSize()
			if k.IsDir() && k.Err == nil {
				queue = append(queue, k)
			}
		}
	}
}

// fixTags makes every descriptor-looking block of b (block size bs, first
// block at sector first) pass the tag checks, so the fuzzer explores the
// fields behind them rather than only the CRC.
func fixTags(b []byte, bs int, first uint32) {
	for o := 0; o+tagSize <= len(b); o += bs {
		id := binary.LittleEndian.Uint16(b[o:])
		if id == 0 || id > tagEFE {
			continue
		}
		end := min(o+bs, len(b))
		if n := int(binary.LittleEndian.Uint16(b[o+10:])); tagSize+n > end-o {
			binary.LittleEndian.PutUint16(b[o+10:], uint16(end-o-tagSize))
		}
		binary.LittleEndian.PutUint32(b[o+12:], first+uint32(o/bs))
		retag(b, o)
	}
}

// FuzzUDFImage opens whole images: detection, anchors, VDS, partitions,
// file set, and a bounded walk.
func FuzzUDFImage(f *testing.F) {
	for _, b := range corpusImages(f) {
		f.Add(b)
	}
	f.Add(fuzzBase(f, udfbuild.Options{Revision: 0x0201, BlockSize: 512}))
	f.Add(fuzzBase(f, udfbuild.Options{Revision: 0x0250, BlockSize: 512, Metadata: true, EFE: true}))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := openBytes(data)
		if err != nil {
			return
		}
		walkBudget(v, 2000)
	})
}

// FuzzUDFVDS fuzzes the main volume descriptor sequence of udf102.iso
// (with tags repaired and the reserve sequence erased so nothing hides it).
func FuzzUDFVDS(f *testing.F) {
	imgs := corpusImages(f)
	base, ok := imgs["libcdio/udf102.iso"]
	if !ok {
		f.Skip("corpus image libcdio/udf102.iso missing")
	}
	const bs = 2048
	for _, b := range imgs {
		v, err := openBytes(b)
		if err != nil {
			continue
		}
		_ = v
		a := findAnchors(bytes.NewReader(b), int64(len(b)), bs)
		if len(a) > 0 && int64(a[0].mainLoc)*bs+16*bs <= int64(len(b)) {
			f.Add(b[int64(a[0].mainLoc)*bs : int64(a[0].mainLoc)*bs+16*bs])
		}
	}
	a := findAnchors(bytes.NewReader(base), int64(len(base)), bs)
	if len(a) == 0 {
		f.Fatal("udf102.iso has no anchor")
	}
	main, res := int(a[0].mainLoc)*bs, int(a[0].resLoc)*bs
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 16*bs {
			data = data[:16*bs]
		}
		img := bytes.Clone(base)
		clear(img[main : main+16*bs])
		clear(img[res : res+16*bs])
		copy(img[main:], data)
		fixTags(img[main:main+16*bs], bs, a[0].mainLoc)
		v, err := openBytes(img)
		if err != nil {
			return
		}
		walkBudget(v, 500)
	})
}

// FuzzUDFPartitionMaps fuzzes the logical volume descriptor's partition
// map table (count byte + table), in both sequences, tags repaired.
func FuzzUDFPartitionMaps(f *testing.F) {
	const bs = 2048
	base := fuzzBase(f, udfbuild.Options{Revision: 0x0250, BlockSize: bs, Metadata: true, EFE: true})
	lvdMain, lvdRes := 260*bs, 276*bs
	mtl := binary.LittleEndian.Uint32(base[lvdMain+264:])
	f.Add(byte(2), base[lvdMain+440:lvdMain+440+int(mtl)])
	f.Add(byte(1), []byte{1, 6, 1, 0, 0, 0})
	sparable := make([]byte, 64)
	sparable[0], sparable[1] = 2, 64
	copy(sparable[5:], "*UDF Sparable Partition")
	sparable[40], sparable[42] = 32, 1
	binary.LittleEndian.PutUint32(sparable[44:], 2048)
	binary.LittleEndian.PutUint32(sparable[48:], 300)
	f.Add(byte(1), sparable)
	virtual := append([]byte{1, 6, 1, 0, 0, 0}, make([]byte, 64)...)
	virtual[6], virtual[7] = 2, 64
	copy(virtual[6+5:], "*UDF Virtual Partition")
	f.Add(byte(2), virtual)
	f.Fuzz(func(t *testing.T, n byte, maps []byte) {
		if len(maps) > bs-440 {
			maps = maps[:bs-440]
		}
		img := bytes.Clone(base)
		for _, o := range []int{lvdMain, lvdRes} {
			clear(img[o+440 : o+bs])
			copy(img[o+440:], maps)
			binary.LittleEndian.PutUint32(img[o+264:], uint32(len(maps)))
			binary.LittleEndian.PutUint32(img[o+268:], uint32(n))
			binary.LittleEndian.PutUint16(img[o+10:], uint16(440+len(maps)-tagSize))
			retag(img, o)
		}
		v, err := openBytes(img)
		if err != nil {
			return
		}
		walkBudget(v, 500)
	})
}

// FuzzUDFFileEntry replaces the file entry of README.TXT (a block in the
// physical partition) with fuzz data, tag repaired, and reads it back.
func FuzzUDFFileEntry(f *testing.F) {
	const bs = 2048
	base := fuzzBase(f, udfbuild.Options{Revision: 0x0201, BlockSize: bs, EFE: true})
	v, err := openBytes(base)
	if err != nil {
		f.Fatal(err)
	}
	nodes := map[string]*core.Node{}
	root, _ := v.Root()
	kids, _ := v.ReadDir(root)
	for _, k := range kids {
		nodes[k.Name] = k
		if k.IsDir() {
			sub, _ := v.ReadDir(k)
			for _, s := range sub {
				nodes[k.Name+"/"+s.Name] = s
			}
		}
	}
	for _, n := range nodes {
		f.Add(base[n.Stat.Location : n.Stat.Location+bs])
	}
	f.Add(base[root.Stat.Location : root.Stat.Location+bs])
	for _, b := range corpusImages(f) {
		if cv, err := openBytes(b); err == nil {
			if r, err := cv.Root(); err == nil {
				f.Add(b[r.Stat.Location : r.Stat.Location+bs])
			}
		}
	}
	target := nodes["README.TXT"].Stat.Location
	lbn := binary.LittleEndian.Uint32(base[target+12:])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < tagSize {
			return
		}
		img := bytes.Clone(base)
		blk := img[target : target+bs]
		clear(blk)
		copy(blk, data)
		fixTags(blk, bs, lbn)
		v, err := openBytes(img)
		if err != nil {
			t.Fatalf("damage to one file entry broke Open: %v", err)
		}
		walkBudget(v, 500)
	})
}

// FuzzUDFFID replaces the root directory's stream (embedded in its file
// entry) with fuzz data, FID tags repaired, and lists it.
func FuzzUDFFID(f *testing.F) {
	const bs = 2048
	base := fuzzBase(f, udfbuild.Options{Revision: 0x0201, BlockSize: bs, EFE: true})
	v, err := openBytes(base)
	if err != nil {
		f.Fatal(err)
	}
	root, _ := v.Root()
	loc := root.Stat.Location
	if len(root.Stat.Extents) != 1 || root.Stat.Extents[0].Offset != loc+216 {
		f.Fatalf("root directory not embedded: %v", root.Stat.Extents)
	}
	f.Add(base[loc+216 : loc+216+root.Stat.Size])
	for _, b := range corpusImages(f) {
		if cv, err := openBytes(b); err == nil {
			if r, err := cv.Root(); err == nil && len(r.Stat.Extents) == 1 {
				e := r.Stat.Extents[0]
				f.Add(b[e.Offset : e.Offset+e.Length])
			}
		}
	}
	lbn := binary.LittleEndian.Uint32(base[loc+12:])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > bs-216 {
			data = data[:bs-216]
		}
		img := bytes.Clone(base)
		fe := img[loc : loc+bs]
		clear(fe[216:])
		copy(fe[216:], data)
		// Repair each FID's tag in turn so the parser sees the fields.
		ds := fe[216 : 216+len(data)]
		for pos := 0; pos+38 <= len(ds); {
			if binary.LittleEndian.Uint16(ds[pos:]) != tagFID {
				break
			}
			l := min((38+int(ds[pos+19])+int(binary.LittleEndian.Uint16(ds[pos+36:]))+3)&^3, len(ds)-pos)
			binary.LittleEndian.PutUint16(ds[pos+10:], uint16(l-tagSize))
			binary.LittleEndian.PutUint32(ds[pos+12:], lbn)
			retag(ds, pos)
			pos += l
		}
		binary.LittleEndian.PutUint64(fe[56:], uint64(len(data)))
		binary.LittleEndian.PutUint32(fe[212:], uint32(len(data)))
		binary.LittleEndian.PutUint16(fe[10:], uint16(216+len(data)-tagSize))
		retag(img, int(loc))
		v, err := openBytes(img)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		walkBudget(v, 500)
	})
}
