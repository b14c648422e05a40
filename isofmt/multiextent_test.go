package isofmt_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestMultiExtentAcrossSectors: the records of one multi-extent file may
// straddle a directory sector boundary (the parser reads one sector at a
// time into one buffer). The file keeps the name and Rock Ridge
// attributes of its first record and all of its extents. Before the fix,
// the first record's name and system use area were read from the next
// sector's bytes: the file got a garbage name and was split in two.
func TestMultiExtentAcrossSectors(t *testing.T) {
	for filler := 40; filler <= 52; filler++ { // move the boundary through the records
		b := isotest.NewBuilder(2048)
		root, data := b.Alloc(4), b.Alloc(4) // the directory takes up to 4 sectors
		content := make([]byte, 4*2048)
		for i := range content {
			content[i] = byte(i / 2048)
		}
		b.Write(data, content)
		var recs []isotest.Record
		for i := range filler {
			recs = append(recs, isotest.Record{Name: fmt.Sprintf("F%03d.;1", i), LBA: data, Size: 1, SystemUse: isotest.PX(0o100444, 1, 0, 0)})
		}
		su := append(isotest.PX(0o100640, 1, 7, 8), isotest.NM("multi-extent.bin")...)
		for i := range 4 {
			r := isotest.Record{Name: "MULTI.BIN;1", LBA: data + uint32(i), Size: 2048, Flags: 0x80}
			if i == 0 {
				r.SystemUse = su
			}
			if i == 3 {
				r.Flags = 0
			}
			recs = append(recs, r)
		}
		size := b.WriteDir(root, root, 0, recs, isotest.SP())
		raw := b.Image(root, size, 0)
		img, err := isofmt.Open(bytes.NewReader(raw), int64(len(raw)), nil)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := img.Stat("multi-extent.bin")
		if err != nil {
			t.Fatalf("filler %d: %v (warnings %q)", filler, err, img.Warnings())
		}
		if fi.Mode().Perm() != 0o640 || fi.Size() != 4*2048 {
			t.Errorf("filler %d: mode %v size %d, want 0640 and 8192", filler, fi.Mode(), fi.Size())
		}
		if got, err := fs.ReadFile(img, "multi-extent.bin"); err != nil || !bytes.Equal(got, content) {
			t.Errorf("filler %d: content wrong: %v", filler, err)
		}
		if entries, _ := fs.ReadDir(img, "."); len(entries) != filler+1 {
			t.Errorf("filler %d: %d entries, want %d (file split?)", filler, len(entries), filler+1)
		}
	}
}
