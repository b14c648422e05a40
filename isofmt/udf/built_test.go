package udf

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// sevenZipSubset drops what 7-Zip 26 cannot read: symbolic links and
// not-allocated extents make it reject the whole image (so would device
// files, which it does not know either), and it does not
// follow allocation extent descriptor chains ("Unsupported Method"), so
// many-extent files keep few enough extents to fit in their file entry.
func sevenZipSubset(es []udfbuild.Entry) []udfbuild.Entry {
	var out []udfbuild.Entry
	for _, e := range es {
		if e.Symlink != "" || e.Chunks != nil || e.Special != 0 {
			continue
		}
		if e.ExtentBlocks > 0 {
			e.ExtentBlocks = max(e.ExtentBlocks, len(e.Data)/512/8+1)
		}
		out = append(out, e)
	}
	return out
}

// sevenZipTwin returns options 7-Zip can read that lay the same tree out
// the conventional way: no metadata partition, map-index references, a
// block size it accepts.
func sevenZipTwin(o udfbuild.Options) udfbuild.Options {
	o.Metadata = false
	o.RefAsNumber = false
	o.ExtAD = false
	if o.BlockSize != 512 {
		o.BlockSize = 2048
	}
	if o.Revision > 0x0201 {
		o.Revision = 0x0201
	}
	return o
}

func writeImage(t *testing.T, o udfbuild.Options, es []udfbuild.Entry) string {
	t.Helper()
	img, err := udfbuild.Build(o, es)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "built.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// verifyWithSevenZip checks that 7-Zip sees exactly the builder's input in
// img, so the builder itself is trusted only once an independent reader
// agrees with it.
func verifyWithSevenZip(t *testing.T, img string, es []udfbuild.Entry) {
	t.Helper()
	list := sevenZipList(t, img)
	want := udfbuild.Paths(es)
	var got []string
	for p := range list {
		got = append(got, p)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("7zz lists\n%v\nbuilder wrote\n%v", got, want)
	}
	hashes := sevenZipHashes(t, img)
	byPath := map[string]udfbuild.Entry{}
	for _, e := range es {
		byPath[e.Path] = e
	}
	for _, e := range es {
		if e.Dir {
			continue
		}
		data := e.Data
		if e.Link != "" {
			data = byPath[e.Link].Data
		}
		if hashes[e.Path] != hashBytes(data) {
			t.Fatalf("7zz extracts different content for %q", e.Path)
		}
	}
}

// readNode reads n bytes at off of a file through its extents.
func readNode(t *testing.T, r io.ReaderAt, nd *core.Node, off int64, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	var pos int64
	for _, e := range nd.Stat.Extents {
		if int64(len(out)) == int64(n) {
			break
		}
		end := pos + e.Length
		if off+int64(len(out)) < end && off+int64(len(out)) >= pos {
			at := off + int64(len(out)) - pos
			c := min(e.Length-at, int64(n-len(out)))
			if e.Sparse {
				out = append(out, make([]byte, c)...)
			} else {
				b := make([]byte, c)
				if _, err := r.ReadAt(b, e.Offset+at); err != nil {
					t.Fatal(err)
				}
				out = append(out, b...)
			}
		}
		pos = end
	}
	return out
}

// checkAgainstSpec compares our view of a built image with the builder's input.
func checkAgainstSpec(t *testing.T, v *Volume, r io.ReaderAt, es []udfbuild.Entry, efe bool, tz int) {
	t.Helper()
	ours := walk(t, v)
	var got []string
	for p := range ours {
		got = append(got, p)
	}
	sort.Strings(got)
	if want := udfbuild.Paths(es); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("we list\n%v\nbuilder wrote\n%v", got, want)
	}
	byPath := map[string]udfbuild.Entry{}
	names := map[string]int{} // ICB target → names
	for _, e := range es {
		byPath[e.Path] = e
		target := e.Path
		if e.Link != "" {
			target = e.Link
		}
		names[target]++
	}
	inodes := map[uint64]string{}
	bs := int64(v.Info().BlockSize)
	for p, n := range ours {
		checkStat(t, p, n)
		target := p
		if e, ok := byPath[p]; ok && e.Link != "" {
			target = e.Link
		}
		if other, ok := inodes[n.Stat.Inode]; ok && other != target {
			t.Errorf("%s and %s share inode %d", p, other, n.Stat.Inode)
		}
		inodes[n.Stat.Inode] = target
		if n.IsDir() {
			subdirs := 0
			for q, m := range ours {
				if m.IsDir() && filepath.Dir(q) == p {
					subdirs++
				}
			}
			if n.Stat.Nlink != uint32(2+subdirs) {
				t.Errorf("%s: nlink %d, want %d", p, n.Stat.Nlink, 2+subdirs)
			}
		}
	}
	for _, e := range es {
		n := ours[e.Path]
		st := n.Stat
		src := e
		if e.Link != "" {
			src = byPath[e.Link]
			if st.Inode != ours[e.Link].Stat.Inode {
				t.Errorf("%s: hard link inode %d, target's %d", e.Path, st.Inode, ours[e.Link].Stat.Inode)
			}
		}
		// udfbuild derives access, attribute and creation times from the
		// modification time so each field is told apart. It records them
		// as wall clock in zone tz, so equal instants also prove the zone
		// was applied.
		if !st.ModTime.Time().Equal(src.MTime) || !st.AccessTime.Time().Equal(src.MTime.Add(time.Hour)) || !st.ChangeTime.Time().Equal(src.MTime.Add(2*time.Hour)) {
			t.Errorf("%s: mtime %v atime %v ctime %v, want %v +1h +2h (recorded in zone %+d min)", e.Path, st.ModTime, st.AccessTime, st.ChangeTime, src.MTime, tz)
		}
		if efe && !st.BirthTime.Time().Equal(src.MTime.Add(-time.Hour)) || !efe && !st.BirthTime.IsZero() {
			t.Errorf("%s: birth time %v (extended file entries %v)", e.Path, st.BirthTime, efe)
		}
		if st.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != src.Perm || st.UID != src.UID || st.GID != src.GID || !st.HasOwner {
			t.Errorf("%s: mode %v uid %d gid %d, want %v %d %d", e.Path, st.Mode, st.UID, st.GID, src.Perm, src.UID, src.GID)
		}
		if st.Hidden != e.Hidden {
			t.Errorf("%s: hidden %v", e.Path, st.Hidden)
		}
		switch {
		case src.Dir:
			if !n.IsDir() {
				t.Errorf("%s: not a directory", e.Path)
			}
		case src.Symlink != "":
			if st.Mode.Type() != fs.ModeSymlink || st.Target != src.Symlink {
				t.Errorf("%s: mode %v target %q, want symlink to %q", e.Path, st.Mode, st.Target, src.Symlink)
			}
		case src.Special != 0:
			want := map[uint8]fs.FileMode{6: fs.ModeDevice, 7: fs.ModeDevice | fs.ModeCharDevice, 9: fs.ModeNamedPipe, 10: fs.ModeSocket}[src.Special]
			if st.Mode.Type() != want || st.DevMajor() != src.Major || st.DevMinor() != src.Minor || st.Size != 0 {
				t.Errorf("%s: mode %v dev %d:%d size %d, want %v %d:%d", e.Path, st.Mode, st.DevMajor(), st.DevMinor(), st.Size, want, src.Major, src.Minor)
			}
		case src.Chunks != nil:
			if st.Size != src.Size {
				t.Errorf("%s: size %d, want %d", e.Path, st.Size, src.Size)
			}
			sparse := 0
			for _, x := range st.Extents {
				if x.Sparse {
					sparse++
				}
			}
			if sparse == 0 {
				t.Errorf("%s: no sparse extents in %v", e.Path, st.Extents)
			}
			var at int64
			for _, c := range src.Chunks {
				if at < c.Off && !bytes.Equal(readNode(t, r, n, at, int(min(c.Off-at, 4096))), make([]byte, min(c.Off-at, 4096))) {
					t.Errorf("%s: hole at %d not zero", e.Path, at)
				}
				if got := readNode(t, r, n, c.Off, len(c.Data)); !bytes.Equal(got, c.Data) {
					t.Errorf("%s: data at %d = %q, want %q", e.Path, c.Off, got, c.Data)
				}
				at = c.Off + int64(len(c.Data))
			}
		default:
			if st.Mode.Type() != 0 || st.Size != int64(len(src.Data)) {
				t.Errorf("%s: mode %v size %d, want regular file of %d", e.Path, st.Mode, st.Size, len(src.Data))
			}
			if hashNode(t, r, n) != hashBytes(src.Data) {
				t.Errorf("%s: content differs", e.Path)
			}
			if names[e.Path] > 1 && st.Nlink != uint32(names[e.Path]) {
				t.Errorf("%s: nlink %d, want %d", e.Path, st.Nlink, names[e.Path])
			}
		}
		if src.Embed {
			if len(st.Extents) != 1 || st.Extents[0].Offset <= st.Location || st.Extents[0].Offset+st.Extents[0].Length > st.Location+bs {
				t.Errorf("%s: embedded data extents %v, entry at %d", e.Path, st.Extents, st.Location)
			}
		}
		if src.ExtentBlocks > 0 {
			want := (int64(len(src.Data)) + int64(src.ExtentBlocks)*bs - 1) / (int64(src.ExtentBlocks) * bs)
			if int64(len(st.Extents)) != want {
				t.Errorf("%s: %d extents, want %d", e.Path, len(st.Extents), want)
			}
		}
	}
}

var builtVariants = []struct {
	name    string
	opt     udfbuild.Options
	maps    []string
	partNum uint16
}{
	{"2.01-fe-short-2048", udfbuild.Options{Revision: 0x0201, BlockSize: 2048}, []string{"physical"}, 0},
	{"2.01-efe-512", udfbuild.Options{Revision: 0x0201, BlockSize: 512, EFE: true}, []string{"physical"}, 0},
	{"2.01-efe-4096", udfbuild.Options{Revision: 0x0201, BlockSize: 4096, EFE: true, TZ: -300}, []string{"physical"}, 0},
	{"1.02-fe-long", udfbuild.Options{Revision: 0x0102, BlockSize: 2048, LongAD: true, TZ: 120}, []string{"physical"}, 0},
	{"2.50-metadata", udfbuild.Options{Revision: 0x0250, BlockSize: 2048, Metadata: true, EFE: true}, []string{"physical", "metadata"}, 0},
	{"2.60-metadata-512", udfbuild.Options{Revision: 0x0260, BlockSize: 512, Metadata: true, EFE: true, TZ: 60}, []string{"physical", "metadata"}, 0},
	{"2.60-metadata-4096", udfbuild.Options{Revision: 0x0260, BlockSize: 4096, Metadata: true}, []string{"physical", "metadata"}, 0},
	{"2.01-partnum-8192", udfbuild.Options{Revision: 0x0201, BlockSize: 2048, PartitionNumber: 8192, EFE: true}, []string{"physical"}, 8192},
	{"2.01-refs-8192", udfbuild.Options{Revision: 0x0201, BlockSize: 2048, PartitionNumber: 8192, RefAsNumber: true, LongAD: true}, []string{"physical"}, 8192},
	{"2.01-ext-ad-512", udfbuild.Options{Revision: 0x0201, BlockSize: 512, ExtAD: true, EFE: true}, []string{"physical"}, 0},
	{"2.50-metadata-refs-8192", udfbuild.Options{Revision: 0x0250, BlockSize: 2048, PartitionNumber: 8192, RefAsNumber: true, Metadata: true, EFE: true}, []string{"physical", "metadata"}, 8192},
}

// TestBuilt reads images from the test builder: UDF 1.02 … 2.60, metadata
// partitions, extended file entries, embedded data, many extents (with
// allocation extent descriptor chains), hard links, symlinks, sparse files
// past 4 GiB, deep and wide directories, Windows-style partition numbers.
// Each layout is first checked with 7-Zip (on the variant it can read).
func TestBuilt(t *testing.T) {
	es := sampleEntries()
	for _, tc := range builtVariants {
		t.Run(tc.name, func(t *testing.T) {
			twin := writeImage(t, sevenZipTwin(tc.opt), sevenZipSubset(es))
			verifyWithSevenZip(t, twin, sevenZipSubset(es))
			tv, tf := openPath(t, twin)
			compareWithSevenZip(t, twin, tv, tf)

			img := writeImage(t, tc.opt, es)
			v, f := openPath(t, img)
			in := v.Info()
			if in.BlockSize != tc.opt.BlockSize || in.Revision != tc.opt.Revision || in.VolumeID != "UDFBUILD" {
				t.Errorf("info %+v", in)
			}
			var maps []string
			for _, m := range in.PartitionMaps {
				maps = append(maps, m.Type)
				if m.PartitionNumber != tc.partNum {
					t.Errorf("map %s: partition number %d", m.Type, m.PartitionNumber)
				}
			}
			if strings.Join(maps, ",") != strings.Join(tc.maps, ",") {
				t.Errorf("maps %v, want %v", maps, tc.maps)
			}
			if len(in.Warnings) != 0 {
				t.Errorf("warnings: %v", in.Warnings)
			}
			checkAgainstSpec(t, v, f, es, tc.opt.EFE, tc.opt.TZ)
		})
	}
}

// TestConcurrentWalk walks one volume from several goroutines (run with
// -race): a Volume is shared by every FUSE request.
func TestConcurrentWalk(t *testing.T) {
	img := writeImage(t, udfbuild.Options{Revision: 0x0250, BlockSize: 2048, Metadata: true, EFE: true}, sampleEntries())
	v, _ := openPath(t, img)
	want := len(walk(t, v))
	done := make(chan int)
	for i := 0; i < 4; i++ {
		go func() {
			n, errs := walkTolerant(v)
			if len(errs) != 0 {
				n = -1
			}
			done <- n
		}()
	}
	for i := 0; i < 4; i++ {
		if n := <-done; n != want {
			t.Errorf("concurrent walk saw %d entries, want %d", n, want)
		}
	}
}
