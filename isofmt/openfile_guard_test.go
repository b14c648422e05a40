package isofmt_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/filesrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// The guard itself is filesrc.File's (its own tests are there); these
// check that images opened by path get it.

// guardImage builds a Rock Ridge image of n files f0..f{n-1}, 256 KiB
// each, filled with seed-dependent bytes.
func guardImage(t *testing.T, n int, seed byte) []byte {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b := bytes.Repeat([]byte{seed + byte(i)}, 256<<10)
		if err := os.WriteFile(filepath.Join(src, "f"+string(rune('0'+i))), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "g.iso")
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-R", "-V", "SEED"+string(rune('A'+seed%26)), "-o", img, src)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImageFileRewritten: an image rewritten in place under an open Image
// fails reads with ErrChanged (it never serves another image's bytes as
// the opened image's files), and serves again once the original bytes
// are back. Touching, truncating past the descriptors, deleting and
// renaming keep it serving.
func TestImageFileRewritten(t *testing.T) {
	a, b := guardImage(t, 8, 'a'), guardImage(t, 8, 'A')
	dir := t.TempDir()
	path := filepath.Join(dir, "live.iso")
	if err := os.WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	// A tiny cache, so every file read below reaches the file.
	img, err := isofmt.OpenFile(path, &isofmt.Options{CacheSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, ok := img.Source().(*filesrc.File); !ok {
		t.Fatalf("OpenFile source is %T, want *filesrc.File", img.Source())
	}
	read := func(name string) ([]byte, error) { return fs.ReadFile(img, name) }
	want := func(i int) []byte { return bytes.Repeat([]byte{'a' + byte(i)}, 256<<10) }
	expectOK := func(step, name string, i int) {
		t.Helper()
		got, err := read(name)
		if err != nil || !bytes.Equal(got, want(i)) {
			t.Errorf("%s: read %s: %v (content ok: %v)", step, name, err, bytes.Equal(got, want(i)))
		}
	}
	expectOK("fresh", "f0", 0)

	// Only the times change: same bytes, still served.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	expectOK("touched", "f1", 1)

	// Another image written over it in place (same inode, as cp does).
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := read("f2"); !errors.Is(err, isofmt.ErrChanged) {
		t.Errorf("after rewrite: read f2 = %d bytes, %v; want ErrChanged", len(got), err)
	}
	if err := img.Source().(*filesrc.File).Check(); !errors.Is(err, isofmt.ErrChanged) {
		t.Errorf("Check after rewrite: %v", err)
	}

	// The original bytes back: served again.
	if err := os.WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	expectOK("restored", "f3", 3)

	// Truncated inside file data: the descriptors are ours, files before
	// the cut read, files after it fail as truncated.
	rep := map[string]int64{}
	root, _ := img.Root()
	nodes, _ := img.ReadDirNode(root)
	for _, n := range nodes {
		rep[n.Name] = n.Stat.Extents[0].Offset
	}
	if err := os.Truncate(path, rep["f6"]+4096); err != nil {
		t.Fatal(err)
	}
	expectOK("truncated", "f4", 4)
	if _, err := read("f7"); !errors.Is(err, isofmt.ErrTruncated) {
		t.Errorf("read past the cut: %v, want ErrTruncated", err)
	}
	if err := os.WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}

	// Renamed, then deleted: the open file keeps its data.
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil { // a new file at the old name
		t.Fatal(err)
	}
	expectOK("renamed", "f5", 5)
	if err := os.Remove(path + ".old"); err != nil {
		t.Fatal(err)
	}
	expectOK("deleted", "f6", 6)
	if _, err := fs.Stat(img, "f7"); err != nil {
		t.Errorf("stat after delete: %v", err)
	}
}
