package isofmt_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestZisofs reads zisofs-compressed files written by xorriso at every
// block size and compares them with the source files.
func TestZisofs(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	src := filepath.Join(t.TempDir(), "src")
	rng := rand.New(rand.NewPCG(7, 7))
	files := map[string][]byte{}
	text := make([]byte, 700000)
	for i := range text {
		text[i] = "abcdefgh \n"[rng.IntN(10)]
	}
	files["text.txt"] = text
	files["zeros.bin"] = make([]byte, 300000)
	files["tiny.txt"] = []byte("hello")
	files["sub/block-edge.txt"] = text[:131072]
	files["sub/empty"] = nil
	for name, b := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755)
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, bs := range []string{"32k", "64k", "128k"} {
		t.Run(bs, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "z.iso")
			isotest.Run(t, "xorriso", "-outdev", out, "-map", src, "/", "-zisofs", "level=6:block_size="+bs, "-set_filter_r", "--zisofs", "/", "--")
			img, err := isofmt.OpenFile(out, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			compressed := 0
			for name, want := range files {
				fi, err := fs.Stat(img, name)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Sys().(*isofmt.Stat).Zisofs != nil {
					compressed++
				}
				got, err := fs.ReadFile(img, name)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: content differs (got %d bytes, want %d)", name, len(got), len(want))
				}
				// Random access across block boundaries.
				if len(want) > 70000 {
					f, _ := img.Open(name)
					buf := make([]byte, 5000)
					for _, off := range []int64{0, 32760, 65530, int64(len(want)) - 5000} {
						if _, err := f.(io.ReaderAt).ReadAt(buf, off); err != nil {
							t.Fatalf("%s at %d: %v", name, off, err)
						}
						if !bytes.Equal(buf, want[off:off+5000]) {
							t.Errorf("%s: ReadAt(%d) differs", name, off)
						}
					}
				}
			}
			if compressed < 3 {
				t.Fatalf("only %d files were stored compressed: the test image is not exercising zisofs", compressed)
			}
		})
	}
}

// TestMultiExtentOver4GiB reads a 4.5 GB sparse file that xorriso stores
// in several extents (ISO level 3).
func TestMultiExtentOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 4.5 GB image; skipped with -short")
	}
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	const size = 4_500_000_000
	f, err := os.Create(filepath.Join(src, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	marks := map[int64][]byte{0: []byte("start"), 1 << 32: []byte("past-4GiB"), 4294965000: []byte("straddles the first extent boundary at 4 GiB - 2 KiB"), size - 3: []byte("end")}
	for off, b := range marks {
		f.WriteAt(b, off)
	}
	f.Truncate(size)
	f.Close()
	isoPath := filepath.Join(dir, "big.iso")
	isotest.Run(t, "xorriso", "-outdev", isoPath, "-compliance", "iso_9660_level=3", "-map", src, "/")
	img, err := isofmt.OpenFile(isoPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, tree := range img.Trees() {
		view, _ := img.WithTree(tree)
		name := "big.bin"
		if tree == isofmt.TreeISO9660 {
			name = "BIG.BIN"
		}
		fi, err := fs.Stat(view, name)
		if err != nil {
			t.Fatalf("%s: %v", tree, err)
		}
		st := fi.Sys().(*isofmt.Stat)
		if fi.Size() != size || len(st.Extents) < 2 {
			t.Fatalf("%s: size %d in %d extents, want %d in several", tree, fi.Size(), len(st.Extents), size)
		}
		r, _ := view.Open(name)
		for off, want := range marks {
			got := make([]byte, len(want))
			if _, err := r.(io.ReaderAt).ReadAt(got, off); err != nil {
				t.Fatalf("%s: read at %d: %v", tree, off, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: at %d got %q want %q", tree, off, got, want)
			}
		}
	}
}

// TestFSConformance runs testing/fstest over generated and corpus images.
func TestFSConformance(t *testing.T) {
	paths := map[string]string{"feature-xorriso": buildImage(t, masterings[0]), "feature-genisoimage": buildImage(t, masterings[2])}
	for _, c := range []string{"libcdio/copying-rr.iso", "libcdio/joliet.iso", "libcdio/deep-directory.iso", "libarchive/test_read_format_iso_zisofs.iso",
		"libcdio/multi_extent_8k.iso", "libarchive/test_read_format_iso_joliet_long.iso"} {
		paths[c] = filepath.Join(corpusDir, c)
	}
	for name, p := range paths {
		t.Run(name, func(t *testing.T) {
			img, err := isofmt.OpenFile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			for _, tree := range img.Trees() {
				view, _ := img.WithTree(tree)
				// fstest follows symlinks; dangling or outside-pointing ones
				// (the feature tree has them on purpose) cannot be opened.
				var expected []string
				fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
					if err == nil && p != "." && d.Type()&fs.ModeSymlink == 0 && !strings.HasPrefix(p, "many/") {
						expected = append(expected, p)
					}
					return nil
				})
				if err := fstest.TestFS(noBrokenLinks{view}, expected...); err != nil {
					t.Errorf("%s tree: %v", tree, err)
				}
			}
		})
	}
}

// noBrokenLinks hides symlinks whose targets do not resolve, which fstest
// would otherwise (rightly) report as unopenable entries.
type noBrokenLinks struct{ img *isofmt.Image }

func (n noBrokenLinks) Open(name string) (fs.File, error) {
	f, err := n.img.Open(name)
	if err != nil {
		return nil, err
	}
	if d, ok := f.(fs.ReadDirFile); ok {
		return &filteredDir{ReadDirFile: d, img: n.img, dir: name}, nil
	}
	return f, nil
}

type filteredDir struct {
	fs.ReadDirFile
	img *isofmt.Image
	dir string
}

func (d *filteredDir) ReadDir(n int) ([]fs.DirEntry, error) {
	for {
		es, err := d.ReadDirFile.ReadDir(n)
		var out []fs.DirEntry
		for _, e := range es {
			if e.Type()&fs.ModeSymlink != 0 {
				if _, serr := d.img.Stat(filepath.Join(d.dir, e.Name())); serr != nil {
					continue
				}
			}
			out = append(out, e)
		}
		if len(out) > 0 || err != nil || n <= 0 {
			return out, err
		}
	}
}

// TestHTTPFileServer serves an image with net/http and fetches a file,
// including a range request.
func TestHTTPFileServer(t *testing.T) {
	img, err := isofmt.OpenFile(buildImage(t, masterings[0]), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	srv := httptest.NewServer(http.FileServer(http.FS(img)))
	defer srv.Close()
	want, err := fs.ReadFile(img, "sizes/file-300000.bin")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(srv.URL + "/sizes/file-300000.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("GET: status %d, %d bytes", resp.StatusCode, len(got))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/sizes/file-300000.bin", nil)
	req.Header.Set("Range", "bytes=100000-100099")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, want[100000:100100]) {
		t.Fatalf("range GET: status %d, content differs", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/names/")
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(listing), "F%C3%A9%D0%B6%CE%98vrier.txt") {
		t.Fatalf("directory listing lacks the non-ASCII name:\n%s", listing)
	}
}
