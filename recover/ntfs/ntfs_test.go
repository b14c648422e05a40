package ntfs

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

// seedVolume opens the committed NTFS image (mkntfs + ntfs-3g, see
// recover/testdata/undelete/mk.sh).
func seedVolume(t testing.TB) ([]byte, *Volume) {
	img := fsmetatest.Image(t, "ntfs.img")
	v, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return img, v
}

// TestSeedImage: the deleted files of a real NTFS come back with their
// names, sizes and runs, and their clusters are free (the fragmented
// case is TestUndeleteNTFS in package recover, which mounts).
func TestSeedImage(t *testing.T) {
	img, v := seedVolume(t)
	files, err := v.Deleted(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]*fsmeta.File{}
	for _, f := range files {
		by[f.Name] = f
	}
	frag := by["fragmented.iso"]
	if frag == nil || frag.Size != 40000 || !frag.Complete || !v.AllFree(frag) || frag.Path != "/fragmented.iso" {
		t.Fatalf("fragmented.iso: %+v", frag)
	}
	t.Logf("fragmented.iso: %+v", frag.Extents)
	for _, e := range frag.Extents {
		if e.Zero {
			t.Fatalf("fragmented.iso has a hole: %+v", e)
		}
		for i := e.Physical; i < e.Physical+e.Length; i++ {
			if img[i] != 'a' {
				t.Fatalf("fragmented.iso: byte %d of the volume is %q, not the file's", i, img[i])
			}
		}
	}
	if s := by["second.iso"]; s == nil || s.Size != 3000 || !s.Complete {
		t.Errorf("second.iso: %+v", s)
	}
}

// metadataOnly keeps the boot sector, the $MFT and $Bitmap of img and
// zeroes the rest, so that fuzzing mutates metadata.
func metadataOnly(t testing.TB, img []byte, v *Volume) []byte {
	out := make([]byte, len(img))
	copy(out[:512], img)
	keep := func(ex []fsmeta.Extent) {
		for _, e := range ex {
			if !e.Zero {
				copy(out[e.Physical:e.Physical+e.Length], img[e.Physical:e.Physical+e.Length])
			}
		}
	}
	keep(v.mft)
	rec, err := v.Record(recordBitmap)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := v.dataOf(rec); err == nil {
		keep(f.Extents)
	}
	return out
}

// fuzzSize is the size of the volume a fuzz input is read as.
const fuzzSize = 2 << 20

func FuzzVolume(f *testing.F) {
	img, v := seedVolume(f)
	f.Add(fsmetatest.Sparse(metadataOnly(f, img, v)))
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

func FuzzRecord(f *testing.F) {
	img, v := seedVolume(f)
	for n := int64(0); n < v.Records(); n++ {
		if off, ok := v.recordOffset(n); ok && bytes.Equal(img[off:off+4], []byte("FILE")) {
			f.Add(append([]byte(nil), img[off:off+v.RecordSize]...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > MaxRecordSize {
			return
		}
		rec, err := ParseRecord(append([]byte(nil), b...))
		if err != nil && rec == nil {
			return
		}
		for _, a := range rec.Attrs {
			switch {
			case a.NonResident:
				DecodeRuns(a.Runs, a.LowVCN, 1<<20, 1024)
			case a.Type == AttrAttributeList:
				ParseAttrList(a.Value)
			case a.Type == AttrFileName:
				ParseFileName(a.Value)
			}
		}
	})
}

// record builds a 1 KiB FILE record with the given attributes (each
// already laid out) and a valid update sequence array.
func record(flags uint16, attrs ...[]byte) []byte {
	b := make([]byte, 1024)
	copy(b, "FILE")
	binary.LittleEndian.PutUint16(b[4:], 48) // USA offset
	binary.LittleEndian.PutUint16(b[6:], 3)  // USN + 2 strides
	binary.LittleEndian.PutUint16(b[20:], 56)
	binary.LittleEndian.PutUint16(b[22:], flags)
	off := 56
	for _, a := range attrs {
		copy(b[off:], a)
		off += len(a)
	}
	binary.LittleEndian.PutUint32(b[off:], attrEnd)
	binary.LittleEndian.PutUint32(b[24:], uint32(off+8))
	binary.LittleEndian.PutUint32(b[28:], 1024)
	usn := []byte{0x11, 0x22}
	copy(b[48:], usn)
	for i := 0; i < 2; i++ {
		end := (i+1)*512 - 2
		copy(b[50+2*i:], b[end:end+2])
		copy(b[end:], usn)
	}
	return b
}

// nonResident lays out a non-resident attribute with a runlist.
func nonResident(typ uint32, runs []byte, size int64) []byte {
	n := (64 + len(runs) + 7) &^ 7
	a := make([]byte, n)
	binary.LittleEndian.PutUint32(a[0:], typ)
	binary.LittleEndian.PutUint32(a[4:], uint32(n))
	a[8] = 1
	binary.LittleEndian.PutUint16(a[32:], 64)
	binary.LittleEndian.PutUint64(a[24:], uint64(size/512))
	binary.LittleEndian.PutUint64(a[40:], uint64(size))
	binary.LittleEndian.PutUint64(a[48:], uint64(size))
	binary.LittleEndian.PutUint64(a[56:], uint64(size))
	copy(a[64:], runs)
	return a
}

// TestHostile: corrupt records, runlists and attribute lists fail with a
// clear error or are cut at a limit — no panic, no hang, no huge allocation.
func TestHostile(t *testing.T) {
	torn := record(flagInUse)
	torn[511] ^= 0xFF
	cases := []struct {
		name string
		rec  []byte
		want error
	}{
		{"torn write (fixup mismatch)", torn, ErrCorrupt},
		{"not a FILE record", make([]byte, 1024), ErrNotRecord},
		{"attribute longer than the record", record(flagInUse, func() []byte {
			a := nonResident(AttrData, []byte{0x11, 1, 1, 0}, 512)
			binary.LittleEndian.PutUint32(a[4:], 4096)
			return a
		}()), ErrCorrupt},
		{"zero-length attribute (would loop)", record(flagInUse, func() []byte {
			a := make([]byte, 24)
			binary.LittleEndian.PutUint32(a[0:], AttrData)
			return a
		}()), ErrCorrupt},
	}
	for _, c := range cases {
		_, err := ParseRecord(c.rec)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
		}
	}

	runs := []struct {
		name string
		b    []byte
	}{
		{"run past the volume", []byte{0x31, 0x10, 0xFF, 0xFF, 0x7F, 0}},
		{"negative cluster", []byte{0x11, 0x01, 0x80, 0}},
		{"huge length", []byte{0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0}},
		{"no terminator", []byte{0x11, 0x01, 0x01}},
		{"bad header", []byte{0x90, 0}},
	}
	for _, c := range runs {
		if _, err := DecodeRuns(c.b, 0, 4096, 100); !errors.Is(err, ErrCorrupt) {
			t.Errorf("runlist %s: error %v", c.name, err)
		}
	}
	many := bytes.Repeat([]byte{0x11, 0x01, 0x02}, 200)
	if r, err := DecodeRuns(append(many, 0), 0, 4096, 100); !errors.Is(err, ErrCorrupt) || len(r) != 100 {
		t.Errorf("200 runs with a cap of 100: %d runs, %v", len(r), err)
	}

	// An attribute list whose entries name the base record itself and one
	// extension record many times: each is read once.
	img, v := seedVolume(t)
	_ = img
	var list []byte
	for i := 0; i < 1000; i++ {
		e := make([]byte, 32)
		binary.LittleEndian.PutUint32(e[0:], AttrData)
		binary.LittleEndian.PutUint16(e[4:], 32)
		binary.LittleEndian.PutUint64(e[16:], uint64(i%2)) // records 0 and 1
		list = append(list, e...)
	}
	rec := &Record{Number: 0, Attrs: []Attr{{Type: AttrAttributeList, Value: list}}}
	f := &fsmeta.File{}
	parts := v.dataParts(rec, f)
	if len(parts) > 2 {
		t.Errorf("looping attribute list gave %d parts", len(parts))
	}
	if _, err := ParseAttrList(bytes.Repeat([]byte{0}, 64)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("zero-length attribute list entry: %v", err)
	}

	// A boot sector claiming more clusters than the source holds.
	boot := append([]byte(nil), img[:512]...)
	binary.LittleEndian.PutUint64(boot[40:], 1<<40)
	big := append(boot, img[512:]...)
	if _, err := Open(bytes.NewReader(big), int64(len(big))); !errors.Is(err, ErrCorrupt) {
		t.Errorf("boot sector claiming 2^40 sectors on 2 MiB: %v", err)
	}
}

// TestMetadataBlocks: the read-back check knows an MFT record and an
// index block by their magic and a matching update sequence array, at any
// 512-byte boundary of a cluster, and takes no torn or bare magic.
func TestMetadataBlocks(t *testing.T) {
	block := func(magic string, size, at int, torn bool) []byte {
		b := make([]byte, 4096)
		r := b[at : at+size]
		copy(r, magic)
		binary.LittleEndian.PutUint16(r[4:], 48)
		binary.LittleEndian.PutUint16(r[6:], uint16(size/512+1))
		binary.LittleEndian.PutUint16(r[48:], 7)
		for i := 1; i <= size/512; i++ {
			binary.LittleEndian.PutUint16(r[i*512-2:], 7)
		}
		if torn {
			r[size-2] = 8
		}
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"MFT record", block("FILE", 1024, 1024, false), "an NTFS FILE block"},
		{"index block", block("INDX", 4096, 0, false), "an NTFS INDX block"},
		{"torn record", block("FILE", 1024, 0, true), ""},
		{"bare magic", append([]byte("INDX"), make([]byte, 4092)...), ""},
		{"zeros", make([]byte, 4096), ""},
		{"record past the cluster", block("FILE", 1024, 3072, false)[:3584], ""},
	} {
		if got := Metadata(c.b); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
