package httpsrc

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// fixtures are images built once per test binary with xorriso.
var fixtures struct {
	dir string

	smallOnce sync.Once
	small     string
	smallErr  error

	bigOnce sync.Once
	big     string
	bigErr  error
}

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "httpsrc-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fixtures.dir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func writeRandom(t testing.TB, path string, n int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

func buildISO(t testing.TB, tree, out string, extra ...string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	args := append([]string{"-as", "mkisofs", "-quiet", "-R", "-J", "-V", "HTTPSRC"}, extra...)
	args = append(args, "-o", out, tree)
	if b, err := exec.Command("xorriso", args...).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, b)
	}
}

// smallImage is a few MB: nested directories, files of awkward sizes, a
// symlink, and 1 MB / 5 MB random files.
func smallImage(t testing.TB) string {
	t.Helper()
	fixtures.smallOnce.Do(func() {
		tree := filepath.Join(fixtures.dir, "small-tree")
		for _, d := range []string{"a/b/c", "empty", "docs"} {
			os.MkdirAll(filepath.Join(tree, d), 0o755)
		}
		for name, size := range map[string]int64{
			"zero.bin": 0, "one.bin": 1, "a/sector.bin": 2048, "a/odd.bin": 2047, "a/b/c/70k.bin": 70000,
			"docs/1m.bin": 1 << 20, "5m.bin": 5 << 20, "docs/300k.bin": 300 << 10,
		} {
			writeRandom(t, filepath.Join(tree, name), size)
		}
		os.Symlink("a/b/c/70k.bin", filepath.Join(tree, "link"))
		fixtures.small = filepath.Join(fixtures.dir, "small.iso")
		buildISO(t, tree, fixtures.small)
		os.RemoveAll(tree)
	})
	if fixtures.small == "" {
		t.Fatal("small image fixture failed to build")
	}
	return fixtures.small
}

// bigImage is sparse-ish: two files of size/2 bytes, mostly zeros with
// random 64 KiB blocks sprinkled in, around a directory with a 1 MB random
// file and small files, so that those sit in the middle of the image, far
// from both ends.
func bigImage(t testing.TB, name string, size int64) string {
	t.Helper()
	out := filepath.Join(fixtures.dir, name)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	tree := filepath.Join(fixtures.dir, name+"-tree")
	os.MkdirAll(filepath.Join(tree, "dir", "sub"), 0o755)
	for _, n := range []string{"big.bin", "zz.bin"} {
		f, err := os.Create(filepath.Join(tree, n))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(size / 2); err != nil {
			t.Fatal(err)
		}
		blk := make([]byte, 64<<10)
		for off := int64(0); off+int64(len(blk)) <= size/2; off += 97 << 20 {
			rand.Read(blk)
			f.WriteAt(blk, off)
		}
		f.Close()
	}
	writeRandom(t, filepath.Join(tree, "dir", "1m.bin"), 1<<20)
	for i := range 50 {
		writeRandom(t, filepath.Join(tree, "dir", "sub", fmt.Sprintf("f%02d.txt", i)), int64(100+i*37))
	}
	buildISO(t, tree, out)
	os.RemoveAll(tree)
	return out
}

// serve puts a link to image under a fresh nginx root and returns the
// server and the image's URL.
func serve(t testing.TB, image string) (*nginxtest.Server, string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Link(image, filepath.Join(root, "image.iso")); err != nil {
		if err := os.Symlink(image, filepath.Join(root, "image.iso")); err != nil {
			t.Fatal(err)
		}
	}
	n := nginxtest.Start(t, root)
	return n, n.URL("image.iso")
}
