package fatfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// walkAll walks v and returns each directory by path ("/" for the root)
// and every entry by its path; it fails on an entry seen twice (the walk
// must read no cluster twice).
func walkAll(t testing.TB, v *FS, o WalkOptions) (dirs map[string]*Directory, ents map[string]Entry) {
	t.Helper()
	dirs, ents = map[string]*Directory{}, map[string]Entry{}
	at := map[int64]string{}
	err := v.Walk(o, func(d *Directory) error {
		key := "/" + d.Path
		dirs[key] = d
		for _, e := range d.Entries {
			p := joinPath(d.Path, e.Name)
			if q, ok := at[e.Offset]; ok {
				return fmt.Errorf("entry at byte %d read twice: %s and %s", e.Offset, q, p)
			}
			at[e.Offset] = p
			ents[p] = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs, ents
}

// TestWalkSamples: Walk reaches every directory of the samples, live and
// deleted entries alike, and stops when fn says so.
func TestWalkSamples(t *testing.T) {
	for _, n := range []string{"fat12", "fat16", "fat32"} {
		t.Run(n, func(t *testing.T) {
			img := sampleImage(t, n)
			v, err := Open(bytes.NewReader(img), int64(len(img)))
			must(t, err)
			dirs, ents := walkAll(t, v, WalkOptions{Deleted: true})
			if len(dirs) != 2 || dirs["/"] == nil || dirs["/sub"] == nil || dirs["/sub"].Entry.Name != "sub" {
				t.Fatalf("directories: %v", dirs)
			}
			for _, p := range []string{"hello.txt", "A long file name.txt", "sub/three-k.bin", "deleted long name.txt", "?ONE.TXT"} {
				if _, ok := ents[p]; !ok {
					t.Errorf("%s not reached", p)
				}
			}
			if !ents["deleted long name.txt"].Deleted || ents["hello.txt"].Deleted {
				t.Errorf("deleted flags wrong: %+v", ents)
			}
			_, live := walkAll(t, v, WalkOptions{})
			if _, ok := live["?ONE.TXT"]; ok || len(live) != 4 {
				t.Errorf("without Deleted: %d entries", len(live))
			}
			stop := errors.New("stop")
			if err := v.Walk(WalkOptions{}, func(*Directory) error { return stop }); err != stop {
				t.Errorf("fn's error: %v", err)
			}
		})
	}
}

// TestWalkDeletedDirectories: directories removed with mdeltree (their
// chains freed, their entries marked deleted) are walked from their first
// cluster; one of several clusters is followed through NextDeleted, and
// without it only its first cluster is read.
func TestWalkDeletedDirectories(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdeltree")
	dir := t.TempDir()
	img := filepath.Join(dir, "v.img")
	must(t, exec.Command("truncate", "-s", "40M", img).Run())
	must(t, exec.Command("mkfs.fat", "-F", "32", "-s", "1", img).Run())
	src := filepath.Join(dir, "gone")
	must(t, os.MkdirAll(filepath.Join(src, "deeper"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a long name inside.txt"), []byte("inside\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "deeper", "deepest file.bin"), bytes.Repeat([]byte{7}, 3000), 0o644))
	// Empty files take no data clusters, so the directory's own clusters
	// (512 bytes: 16 entries each) follow one another.
	big := filepath.Join(dir, "big")
	must(t, os.MkdirAll(big, 0o755))
	for i := range 40 {
		must(t, os.WriteFile(filepath.Join(big, fmt.Sprintf("empty file number %02d", i)), nil, 0o644))
	}
	mtools(t, "mcopy", "-s", "-i", img, src, big, "::/")
	mtools(t, "mdeltree", "-i", img, "::/gone", "::/big")
	b, err := os.ReadFile(img)
	must(t, err)
	v, err := Open(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	bm, err := v.Allocation()
	must(t, err)
	nextFree := func(c uint32) (uint32, bool) {
		for c++; c-2 < v.Clusters; c++ {
			if !bm.Allocated(c) {
				return c, true
			}
		}
		return 0, false
	}
	dirs, ents := walkAll(t, v, WalkOptions{Deleted: true, NextDeleted: nextFree})
	for _, p := range []string{"?one/a long name inside.txt", "?one/?eeper/deepest file.bin"} {
		if e, ok := ents[p]; !ok || !e.Deleted {
			var names []string
			for n := range ents {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Fatalf("%s not found among %q", p, names)
		}
	}
	e := ents["?one/?eeper/deepest file.bin"]
	if e.Size != 3000 || !bytes.Equal(b[v.ClusterOffset(e.FirstCluster):][:3000], bytes.Repeat([]byte{7}, 3000)) {
		t.Errorf("deleted file in a deleted directory: %+v", e)
	}
	count := func(ents map[string]Entry) int {
		n := 0
		for p, e := range ents {
			if strings.HasPrefix(p, "?ig/empty file number ") && e.Deleted {
				n++
			}
		}
		return n
	}
	if n := count(ents); n != 40 {
		t.Errorf("%d of the 40 entries of the multi-cluster deleted directory", n)
	}
	if d := dirs["/?ig"]; d == nil || d.Err != nil || !d.Entry.Deleted {
		t.Errorf("deleted directory: %+v", d)
	}
	_, first := walkAll(t, v, WalkOptions{Deleted: true})
	if n := count(first); n == 0 || n >= 40 {
		t.Errorf("first cluster only: %d entries", n)
	}
}

// TestWalkHostile: directories that share clusters, loop, or name
// clusters that now hold other things are reported, never read twice,
// and a NextDeleted that goes round in circles ends.
func TestWalkHostile(t *testing.T) {
	base := sampleImage(t, "fat32")
	sub := entryOf(t, base, "sub")
	hello := entryOf(t, base, "hello.txt")
	v0, err := Open(bytes.NewReader(base), int64(len(base)))
	must(t, err)
	root, err := v0.ReadDirEntries(".", true)
	must(t, err)
	var gone Entry // the deleted "deleted long name.txt"
	for _, e := range root {
		if e.Deleted && e.HasLongName {
			gone = e
		}
	}
	asDir := func(b []byte, e Entry, cluster uint32) {
		b[e.Offset+11] = byte(AttrDirectory)
		binary.LittleEndian.PutUint16(b[e.Offset+26:], uint16(cluster))
		binary.LittleEndian.PutUint16(b[e.Offset+20:], uint16(cluster>>16))
	}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		next func(c uint32) (uint32, bool)
		path string // the directory that must carry the error
		want error
		msg  string
	}{
		{"two directories share a cluster", func(b []byte) { asDir(b, hello, sub.FirstCluster) }, nil, "/sub", ErrLoop, "already holds"},
		{"directory chain loops", func(b []byte) { setFAT32(b, sub.FirstCluster, sub.FirstCluster) }, nil, "/sub", ErrLoop, "already holds"},
		{"deleted directory on a cluster in use", func(b []byte) { asDir(b, gone, hello.FirstCluster) }, nil, "/deleted long name.txt", ErrCorrupt, "in use again"},
		{"deleted directory on file data", func(b []byte) { asDir(b, gone, gone.FirstCluster) }, nil, "/deleted long name.txt", ErrCorrupt, "no directory entries"},
		{"deleted directory on a live directory", func(b []byte) { asDir(b, gone, sub.FirstCluster) }, nil, "/deleted long name.txt", ErrLoop, "another directory's"},
		{"deleted directory outside the volume", func(b []byte) { asDir(b, gone, 1<<27) }, nil, "/deleted long name.txt", ErrCorrupt, "outside"},
		{"NextDeleted goes round in circles", func(b []byte) {
			// An empty, deleted directory cluster with no end marker: a
			// cluster of deleted entries.
			asDir(b, gone, gone.FirstCluster)
			at := v0.ClusterOffset(gone.FirstCluster)
			for i := int64(0); i < v0.ClusterSize; i += 32 {
				copy(b[at+i:], "\xe5OO     TXT")
				b[at+i+11] = 0
			}
		}, func(c uint32) (uint32, bool) { return c, true }, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), base...)
			tc.edit(b)
			v, err := Open(bytes.NewReader(b), int64(len(b)))
			must(t, err)
			dirs, _ := walkAll(t, v, WalkOptions{Deleted: true, NextDeleted: tc.next})
			if tc.path == "" {
				for p, d := range dirs {
					if d.Err != nil {
						t.Errorf("%s: %v", p, d.Err)
					}
				}
				return
			}
			d := dirs[tc.path]
			if d == nil || !errors.Is(d.Err, tc.want) || !strings.Contains(d.Err.Error(), tc.msg) {
				t.Fatalf("%s: %+v; want %v containing %q", tc.path, d, tc.want, tc.msg)
			}
		})
	}
}

// TestFreeRuns: the free runs of a bitmap, across word boundaries and up
// to a partial last word, and the cap.
func TestFreeRuns(t *testing.T) {
	bm := newBitmap(200)
	for _, c := range []uint32{2, 3, 10, 65, 66, 130, 201} { // 201: the last cluster
		bm.set(c)
	}
	runs, complete := bm.FreeRuns(100)
	want := []Run{{4, 6}, {11, 54}, {67, 63}, {131, 70}}
	if !complete || fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Errorf("runs %v (complete %v), want %v", runs, complete, want)
	}
	var n int64
	for _, r := range runs {
		n += int64(r.Count)
	}
	if n != bm.Free() {
		t.Errorf("runs hold %d clusters, %d free", n, bm.Free())
	}
	if runs, complete := bm.FreeRuns(2); complete || len(runs) != 2 {
		t.Errorf("capped at 2: %v, %v", runs, complete)
	}
	if runs, complete := newBitmap(0).FreeRuns(10); !complete || len(runs) != 0 {
		t.Errorf("empty bitmap: %v", runs)
	}
}
