package fatfs

import (
	"crypto/sha256"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// walkTree maps slash paths to nodes.
func walkTree(n *Node, prefix string, out map[string]*Node) {
	for _, c := range n.Children {
		p := c.Name
		if prefix != "" {
			p = prefix + "/" + c.Name
		}
		out[p] = c
		if c.Dir {
			walkTree(c, p, out)
		}
	}
}

// buildImage lays out tree on a volume of size bytes and writes it to a
// new image file.
func buildImage(t testing.TB, tree *Node, size int64, o Options) (string, *Layout) {
	t.Helper()
	o.Size = size
	l, err := Plan(tree, o)
	must(t, err)
	img := filepath.Join(t.TempDir(), "fat32.img")
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(size))
	materialize(t, f, 0, l)
	must(t, f.Close())
	return img, l
}

// TestBuildAgainstFsckAndMtools lays out a FAT32 volume, writes it in
// region order, and lets independent tools judge it: fsck.fat -n finds
// nothing to fix, mtools lists and reads back every file identical with
// its long name, the label and the modification times; our reader agrees
// (and passes fstest.TestFS).
func TestBuildAgainstFsckAndMtools(t *testing.T) {
	isotest.RequireTool(t, "fsck.fat", "mdir", "mcopy", "mlabel")
	for _, tc := range []struct {
		name string
		size int64
		o    Options
	}{
		{"512-byte sectors", 300 << 20, Options{Label: "CCCOMA_X64F", Serial: 0x1234abcd}},
		{"4 KiB clusters, unaligned size", 1<<30 + 4096*3 + 512, Options{Label: "WIN 10", Serial: 7}},
		{"4096-byte sectors", 512 << 20, Options{SectorSize: 4096, Label: "BIG SECTORS"}},
		{"no label", 64 << 20, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := testTree()
			tc.o.Time = time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC)
			img, l := buildImage(t, tree, tc.size, tc.o)
			out, err := exec.Command("fsck.fat", "-n", "-v", img).CombinedOutput()
			if err != nil || strings.Contains(string(out), "differ") || strings.Contains(strings.ToLower(string(out)), "warning") {
				t.Fatalf("fsck.fat -n: %v\n%s", err, out)
			}
			if l.DataOffset%(1<<20) != 0 {
				t.Errorf("data area at byte %d, not 1 MiB aligned", l.DataOffset)
			}
			nodes := map[string]*Node{}
			walkTree(tree, "", nodes)

			// mtools: label, listing, contents and times.
			if got := mtools(t, "mlabel", "-i", img, "-s", "::"); tc.o.Label != "" && !strings.Contains(got, "Volume label is "+tc.o.Label) ||
				tc.o.Label == "" && !strings.Contains(got, "has no label") {
				t.Errorf("mlabel -s: %q, want label %q", got, tc.o.Label)
			}
			listing := mtools(t, "mdir", "-/", "-b", "-i", img, "::")
			for p, n := range nodes {
				if !strings.Contains(listing, "::/"+p+"\n") && !strings.Contains(listing, "::/"+p+"/\n") {
					t.Errorf("mdir does not list %s", p)
				}
				_ = n
			}
			outDir := filepath.Join(t.TempDir(), "out")
			must(t, os.MkdirAll(outDir, 0o755))
			mtools(t, "mcopy", "-s", "-m", "-n", "-i", img, "::/", outDir)
			for p, n := range nodes {
				fi, err := os.Stat(filepath.Join(outDir, p))
				if err != nil {
					t.Errorf("mcopy: %v", err)
					continue
				}
				if n.Dir {
					continue
				}
				got, err := os.ReadFile(filepath.Join(outDir, p))
				must(t, err)
				if sha256.Sum256(got) != sha256.Sum256(n.Data.([]byte)) {
					t.Errorf("%s: mcopy reads other bytes (%d, want %d)", p, len(got), len(n.Data.([]byte)))
				}
				if want := TruncateTime(n.Modified); !fi.ModTime().Equal(want) {
					t.Errorf("%s: mtime %v through mtools, want %v", p, fi.ModTime().UTC(), want)
				}
			}

			// Our reader.
			f, err := os.Open(img)
			must(t, err)
			defer f.Close()
			fsys, err := Open(f, tc.size)
			must(t, err)
			if lb, err := fsys.Label(); err != nil || lb != tc.o.Label {
				t.Errorf("Label: %q, %v; want %q", lb, err, tc.o.Label)
			}
			var paths []string
			for p, n := range nodes {
				fi, err := fs.Stat(fsys, p)
				if err != nil {
					t.Errorf("Stat: %v", err)
					continue
				}
				e := fi.Sys().(*Entry)
				if !e.Modified.Equal(TruncateTime(n.Modified)) || !e.Created.Equal(TruncateTime(n.Created).Add(time.Duration(n.Created.Second()%2)*time.Second)) {
					t.Errorf("%s: times %v / %v, want %v / %v", p, e.Modified, e.Created, n.Modified, n.Created)
				}
				if n.Dir {
					continue
				}
				if strings.HasPrefix(p, "sources/many/") && len(paths) < 12 {
					paths = append(paths, strings.TrimPrefix(p, "sources/many/"))
				}
				got, err := fs.ReadFile(fsys, p)
				if err != nil || sha256.Sum256(got) != sha256.Sum256(n.Data.([]byte)) {
					t.Errorf("%s: read back %d bytes, %v", p, len(got), err)
				}
			}
			// fstest reads every file byte by byte: a directory of small ones.
			sub, err := fs.Sub(fsys, "sources/many")
			must(t, err)
			must(t, fstest.TestFS(sub, paths...))
			bm, err := fsys.Allocation()
			must(t, err)
			if bm.Free() != int64(l.FreeClusters) {
				t.Errorf("free clusters: FAT says %d, FSInfo %d", bm.Free(), l.FreeClusters)
			}
		})
	}
}

// TestMinSize: the smallest volume for a tree holds it and passes fsck.
func TestMinSize(t *testing.T) {
	isotest.RequireTool(t, "fsck.fat")
	tree := testTree()
	size, err := MinSize(tree, 512, true)
	must(t, err)
	if size%(1<<20) != 0 || size > 100<<20 {
		t.Fatalf("MinSize %d", size)
	}
	img, _ := buildImage(t, tree, size, Options{Label: "MIN"})
	if out, err := exec.Command("fsck.fat", "-n", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.fat: %v\n%s", err, out)
	}
}

// TestPlanRefuses: what FAT32 cannot hold is refused with a message
// naming it.
func TestPlanRefuses(t *testing.T) {
	f := func(name string, size int64) *Node { return &Node{Name: name, Size: size} }
	root := func(kids ...*Node) *Node { return &Node{Dir: true, Children: kids} }
	for _, tc := range []struct {
		name string
		tree *Node
		o    Options
		msg  string
	}{
		{"too big", root(f("sources", 0), f("install.wim", 5<<30)), Options{Size: 8 << 30}, "/install.wim: 5368709120 bytes, FAT32 files hold at most 4294967295"},
		{"case clash", root(f("Readme", 1), f("README", 1)), Options{Size: 64 << 20}, "differ only in case"},
		{"bad char", root(f("a:b", 1)), Options{Size: 64 << 20}, `character ':' is not allowed`},
		{"trailing dot", root(f("name.", 1)), Options{Size: 64 << 20}, "ends in a dot"},
		{"volume too small", root(f("x", 1)), Options{Size: 16 << 20}, "FAT32 needs at least 65525"},
		{"does not fit", root(f("x", 63<<20)), Options{Size: 64 << 20}, "needs more than the"},
		{"bad label", root(), Options{Size: 64 << 20, Label: "lower"}, "not allowed"},
		{"long name", root(f(strings.Repeat("n", 256), 1)), Options{Size: 64 << 20}, "FAT allows 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(tc.tree, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Plan: %v, want %q", err, tc.msg)
			}
		})
	}
}

func TestShortNames(t *testing.T) {
	kids := []*Node{{Name: "SETUP.EXE"}, {Name: "setup.exe.bak"}, {Name: "Long File Name.txt"}, {Name: "Long File Name 2.txt"},
		{Name: "LONGFI~1.TXT"}, {Name: "x+y.c"}, {Name: ".profile"}, {Name: "ÄÖÜ.txt"}}
	d := &Node{Dir: true, Children: kids}
	must(t, assignShortNames(d))
	want := []string{"SETUP   EXE", "SETUPE~1BAK", "LONGFI~2TXT", "LONGFI~3TXT", "LONGFI~1TXT", "X_Y~1   C  ", "PROFIL~1   ", "___~1   TXT"}
	for i, k := range kids {
		if string(k.short[:]) != want[i] {
			t.Errorf("%q -> %q, want %q", k.Name, k.short[:], want[i])
		}
	}
	if kids[0].lfn || !kids[1].lfn || kids[4].lfn {
		t.Errorf("long-name entries: %v %v %v", kids[0].lfn, kids[1].lfn, kids[4].lfn)
	}
	if len([]rune(cp437High)) != 128 {
		t.Errorf("code page table has %d entries", len([]rune(cp437High)))
	}
}
