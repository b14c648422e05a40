package udf

import (
	"bytes"
	"io/fs"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// pattern returns n bytes of a position-dependent pattern seeded by seed,
// so misplaced blocks show up as content mismatches.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// sampleEntries is the tree every built image carries.
func sampleEntries() []udfbuild.Entry {
	mt := time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)
	var deep []udfbuild.Entry
	p := "deep"
	for i := 0; i < 12; i++ {
		p += "/d" + string(rune('a'+i))
	}
	deep = append(deep, udfbuild.Entry{Path: p + "/leaf.txt", Data: []byte("deep leaf\n"), Perm: 0644, MTime: mt})
	es := []udfbuild.Entry{
		{Path: "README.TXT", Data: []byte("hello udf\n"), Perm: 0644, UID: 1000, GID: 100, MTime: mt},
		{Path: "small-embedded.txt", Data: []byte("embedded data lives in the ICB\n"), Embed: true, Perm: 0600, MTime: mt},
		{Path: "empty", Data: nil, Perm: 0644, MTime: mt},
		{Path: "dir/many-extents.bin", Data: pattern(300*1024+123, 1), ExtentBlocks: 1, Perm: 0644, MTime: mt},
		{Path: "dir/big.bin", Data: pattern(700*1024, 2), Perm: 0755, MTime: mt},
		{Path: "dir/hardlink.bin", Link: "dir/big.bin"},
		{Path: "other/hardlink2.bin", Link: "dir/big.bin"},
		{Path: "dir/link-to-readme", Symlink: "../README.TXT", Perm: 0777, MTime: mt},
		{Path: "dir/abs-link", Symlink: "/dir/big.bin", Perm: 0777, MTime: mt},
		{Path: "FéжΘvrier ☃.txt", Data: []byte("unicode name\n"), Perm: 0644, MTime: mt},
		{Path: "hidden.txt", Data: []byte("hidden\n"), Hidden: true, Perm: 0644, MTime: mt},
		{Path: "sparse.img", Size: 5<<30 + 12345, Chunks: []udfbuild.Chunk{
			{Off: 0, Data: bytes.Repeat([]byte("head"), 1024)},
			{Off: 1 << 20, Data: []byte("one mebibyte in")},
			{Off: 4<<30 + 1<<20, Data: []byte("past four gibibytes")},
		}, Perm: 0644, MTime: mt},
		{Path: "emptydir", Dir: true, Perm: 0755, MTime: mt},
		{Path: "dev/sda1", Special: 6, Major: 8, Minor: 1, Perm: 0660, GID: 6, MTime: mt},
		{Path: "dev/null", Special: 7, Major: 1, Minor: 3, Perm: 0666, MTime: mt},
		{Path: "dev/fifo", Special: 9, Perm: 0644, MTime: mt},
		{Path: "dev/sock", Special: 10, Perm: 0755, MTime: mt},
		{Path: "setuid-sticky", Data: []byte("#!/bin/sh\n"), Perm: 0755 | fs.ModeSetuid | fs.ModeSticky, MTime: mt.Add(1234567 * time.Microsecond)},
		{Path: "setgid-dir", Dir: true, Perm: 0775 | fs.ModeSetgid, MTime: mt},
	}
	for i := 0; i < 40; i++ {
		es = append(es, udfbuild.Entry{Path: "wide/file-with-a-rather-long-name-number-" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Data: []byte{byte(i)}, Perm: 0644, MTime: mt})
	}
	return append(es, deep...)
}
