package httpsrc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// tree describes every entry of an image: mode, size, link target and a
// content hash.
func tree(t *testing.T, img *isofmt.Image) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(img, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d", fi.Mode(), fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := img.ReadLink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			f, err := img.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			desc += fmt.Sprintf(" %x", h.Sum(nil))
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openRemote(t *testing.T, url string, opts Options) (*Source, *isofmt.Image) {
	t.Helper()
	src, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { src.Close() })
	img, err := isofmt.Open(src, src.Size(), nil)
	if err != nil {
		t.Fatalf("isofmt.Open over HTTP: %v", err)
	}
	return src, img
}

func TestListingAndContent(t *testing.T) {
	image := smallImage(t)
	local, err := isofmt.OpenFile(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	want := tree(t, local)
	if len(want) < 10 {
		t.Fatalf("fixture has only %d entries", len(want))
	}
	_, url := serve(t, image)
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"defaults", Options{}},
		// A tiny memory cache forces evictions and refetches.
		{"tiny-cache", Options{MemCache: 4 * BlockSize, MinChunk: BlockSize, MaxChunk: BlockSize}},
		{"one-connection", Options{Concurrency: 1}},
		{"disk-cache", Options{CacheDir: t.TempDir(), CacheSize: 3 * segBlocks * BlockSize}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, img := openRemote(t, url, tc.opts)
			if img.Tree() != local.Tree() {
				t.Errorf("tree %s over HTTP, %s locally", img.Tree(), local.Tree())
			}
			got := tree(t, img)
			keys := func(m map[string]string) []string {
				var k []string
				for p := range m {
					k = append(k, p)
				}
				sort.Strings(k)
				return k
			}
			if fmt.Sprint(keys(got)) != fmt.Sprint(keys(want)) {
				t.Fatalf("listing differs:\nremote %v\nlocal  %v", keys(got), keys(want))
			}
			for p, w := range want {
				if got[p] != w {
					t.Errorf("%s: remote %q, local %q", p, got[p], w)
				}
			}
			// The raw source agrees byte for byte too.
			raw, _ := os.ReadFile(image)
			buf := make([]byte, len(raw))
			if n, err := src.ReadAt(buf, 0); n != len(raw) || (err != nil && err != io.EOF) || !bytes.Equal(buf, raw) {
				t.Errorf("raw ReadAt: n=%d err=%v equal=%v", n, err, bytes.Equal(buf[:n], raw[:n]))
			}
			if n, err := src.ReadAt(buf[:10], int64(len(raw))-5); n != 5 || err != io.EOF {
				t.Errorf("ReadAt across the end: n=%d err=%v, want 5, EOF", n, err)
			}
		})
	}
}

// TestConcurrentReaders reads every file of the image from many goroutines
// at once, at odd offsets, and compares with the local image.
func TestConcurrentReaders(t *testing.T) {
	image := smallImage(t)
	raw, err := os.ReadFile(image)
	if err != nil {
		t.Fatal(err)
	}
	_, url := serve(t, image)
	src, err := Open(context.Background(), url, Options{MemCache: 16 * BlockSize, MinChunk: BlockSize, MaxChunk: 4 * BlockSize})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			buf := make([]byte, 3000+g*4099)
			for off := int64(g * 777); off < int64(len(raw)); off += int64(len(buf)) * 3 {
				n, err := src.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					errs <- fmt.Errorf("ReadAt(%d): %v", off, err)
					return
				}
				if !bytes.Equal(buf[:n], raw[off:off+int64(n)]) {
					errs <- fmt.Errorf("ReadAt(%d): content differs", off)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRoundTripsAndBytes checks the targets on a 600 MB image:
// opening costs at most 3 requests, reading a 1 MB file at most 2 MB.
func TestRoundTripsAndBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 600 MB image")
	}
	image := bigImage(t, "big600.iso", 600<<20)
	local, err := isofmt.OpenFile(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	n, url := serve(t, image)

	src, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, err := isofmt.Open(src, src.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs, sent, _ := n.Since(0)
	t.Logf("open: %d requests, %d bytes sent by nginx: %+v", reqs, sent, n.Log())
	if reqs > 3 {
		t.Errorf("opening took %d requests, want ≤ 3: %+v", reqs, n.Log())
	}

	fi, err := local.Stat("dir/1m.bin")
	if err != nil {
		t.Fatal(err)
	}
	if e := fi.Sys().(*isofmt.Stat).Extents[0]; e.Offset < 4<<20 || e.Offset > src.Size()-4<<20 {
		t.Fatalf("fixture: dir/1m.bin at byte %d is within 4 MiB of an end of the %d-byte image", e.Offset, src.Size())
	}
	mark := len(n.Log())
	want, err := fs.ReadFile(local, "dir/1m.bin")
	if err != nil {
		t.Fatal(err)
	}
	f, err := img.Open("dir/1m.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f) // small, growing reads: the worst case for read-ahead
	f.Close()
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("dir/1m.bin: err %v, equal %v", err, bytes.Equal(got, want))
	}
	reqs, sent, _ = n.Since(mark)
	t.Logf("reading 1 MiB: %d requests, %d bytes sent by nginx; stats %+v", reqs, sent, src.Stats())
	if sent > 2<<20 {
		t.Errorf("reading a 1 MiB file transferred %d bytes, want ≤ 2 MiB", sent)
	}

	// A directory listing far from the start, then sparse samples of the
	// big file, equal the local image.
	if a, b := fmt.Sprint(readDirNames(t, img, "dir/sub")), fmt.Sprint(readDirNames(t, local, "dir/sub")); a != b {
		t.Errorf("dir/sub: remote %s, local %s", a, b)
	}
	rf, _ := img.Open("big.bin")
	lf, _ := local.Open("big.bin")
	defer rf.Close()
	defer lf.Close()
	for _, off := range []int64{0, 97 << 20, 2*97<<20 + 12345, 300<<20 - 70000} {
		a, b := make([]byte, 70000), make([]byte, 70000)
		na, ea := rf.(io.ReaderAt).ReadAt(a, off)
		nb, eb := lf.(io.ReaderAt).ReadAt(b, off)
		if na != nb || !bytes.Equal(a[:na], b[:nb]) || (ea == nil) != (eb == nil) {
			t.Errorf("big.bin at %d: remote %d %v, local %d %v", off, na, ea, nb, eb)
		}
	}
}

func readDirNames(t *testing.T, img *isofmt.Image, dir string) []string {
	t.Helper()
	ents, err := img.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestServerStopped kills nginx in the middle of a sequential read: the
// read fails with an error, and once nginx is back reads succeed again
// with the same Source.
func TestServerStopped(t *testing.T) {
	image := smallImage(t)
	raw, _ := os.ReadFile(image)
	n, url := serve(t, image)
	src, err := Open(context.Background(), url, Options{Timeout: 2 * time.Second, Retries: 1, retryBase: 10 * time.Millisecond,
		MinChunk: BlockSize, MaxChunk: BlockSize})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, err := isofmt.Open(src, src.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fs.ReadFile(mustOpenLocal(t, image), "5m.bin")
	n.Stop()
	if _, err := fs.ReadFile(img, "5m.bin"); err == nil {
		t.Fatal("reading a file with the server down succeeded")
	} else {
		t.Logf("file read, server down: %v", err)
	}
	n.Start()
	if got, err := fs.ReadFile(img, "5m.bin"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("file read after the server came back: %v", err)
	}

	// The same on a fresh raw source.
	src, err = Open(context.Background(), url, Options{Timeout: 2 * time.Second, Retries: 1, retryBase: 10 * time.Millisecond,
		MinChunk: BlockSize, MaxChunk: BlockSize, OpenTail: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]byte, 100<<10)
	if _, err := src.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	n.Stop()
	off := int64(len(raw)) - 3*int64(len(buf))
	if _, err := src.ReadAt(buf, off); err == nil {
		t.Fatal("read with the server down succeeded")
	} else {
		t.Logf("server down: %v", err)
	}
	n.Start()
	got, err := src.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		t.Fatalf("read after the server came back: %v", err)
	}
	if !bytes.Equal(buf[:got], raw[off:off+int64(got)]) {
		t.Fatal("content differs after recovery")
	}
}

// TestServerKilledMidBody cuts a large response in the middle: the source
// retries from the first missing block, so the read still succeeds if the
// server is back in time.
func TestServerKilledMidBody(t *testing.T) {
	image := smallImage(t)
	raw, _ := os.ReadFile(image)
	n, url := serve(t, image)
	src, err := Open(context.Background(), url, Options{Timeout: 5 * time.Second, Retries: 8, retryBase: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(time.Millisecond)
		n.Stop()
		time.Sleep(300 * time.Millisecond)
		n.Start()
	}()
	defer func() { <-restarted }()
	buf := make([]byte, len(raw))
	got, err := src.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		t.Fatalf("read across a server restart: %v (stats %+v)", err, src.Stats())
	}
	if got != len(raw) || !bytes.Equal(buf, raw) {
		t.Fatal("content differs")
	}
	t.Logf("stats %+v", src.Stats())
}

// TestImageReplaced swaps the image on the server for another one: reads
// of parts not yet cached fail with ErrChanged rather than mixing images.
func TestImageReplaced(t *testing.T) {
	image := smallImage(t)
	raw, _ := os.ReadFile(image)
	root := t.TempDir()
	dst := filepath.Join(root, "image.iso")
	if err := os.WriteFile(dst, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	n := nginxtest.Start(t, root)
	for _, tc := range []struct {
		name    string
		replace func([]byte) []byte
	}{
		{"same-size", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)-1] ^= 0xff; return c }},
		{"grown", func(b []byte) []byte { return append(bytes.Clone(b), make([]byte, 4096)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(dst, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(dst, time.Now(), time.Now().Add(-time.Hour))
			src, err := Open(context.Background(), n.URL("image.iso"), Options{Retries: -1, OpenTail: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			buf := make([]byte, 4096)
			if _, err := src.ReadAt(buf, BlockSize*2); err != nil {
				t.Fatal(err)
			}
			tmp := dst + ".new"
			os.WriteFile(tmp, tc.replace(raw), 0o644)
			if err := os.Rename(tmp, dst); err != nil {
				t.Fatal(err)
			}
			_, err = src.ReadAt(buf, int64(len(raw))-4096)
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("read after replacement: %v, want ErrChanged", err)
			}
			t.Logf("%v", err)
			// Cached blocks of the old image are still served: they are
			// the old image's bytes, not a mix.
			if _, err := src.ReadAt(buf, BlockSize*2); err != nil {
				t.Errorf("cached read: %v", err)
			}
		})
	}
}

// TestDiskCache reopens an image with the same cache directory: ranges
// read before come from disk, and the server sends no body bytes at all.
func TestDiskCache(t *testing.T) {
	image := smallImage(t)
	n, url := serve(t, image)
	dir := t.TempDir()
	local, err := isofmt.OpenFile(image, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	want, _ := fs.ReadFile(local, "5m.bin")

	read := func() Stats {
		src, err := Open(context.Background(), url, Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		img, err := isofmt.Open(src, src.Size(), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(img, "5m.bin")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("5m.bin: %v, equal %v", err, bytes.Equal(got, want))
		}
		st := src.Stats()
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := read()
	mark := len(n.Log())
	second := read()
	reqs, _, body := n.Since(mark)
	t.Logf("first %+v\nsecond %+v; nginx: %d requests, %d body bytes", first, second, reqs, body)
	// Read-ahead past the file's end depends on timing (the first Close
	// cancels what is in flight), so the claim is about the ranges read
	// before: the descriptors, the directories and the file itself.
	fi, err := local.Stat("5m.bin")
	if err != nil {
		t.Fatal(err)
	}
	ext := fi.Sys().(*isofmt.Stat).Extents
	if l := n.Log()[mark]; l.Status != 304 || l.BodyBytes != 0 {
		t.Errorf("reopening: first response %+v, want 304 Not Modified with no body", l)
	}
	for _, l := range n.Log()[mark:] {
		var a, z int64
		if l.BodyBytes == 0 {
			continue
		}
		if _, err := fmt.Sscanf(l.Range, "bytes=%d-%d", &a, &z); err != nil {
			t.Fatalf("range %q", l.Range)
		}
		if a < BlockSize {
			t.Errorf("the image start was fetched again: %q", l.Range)
		}
		for _, e := range ext {
			if a < e.Offset+e.Length && z >= e.Offset {
				t.Errorf("range %q of the file was fetched again", l.Range)
			}
		}
	}
	if second.DiskHits == 0 {
		t.Error("no disk cache hits")
	}

	// A corrupted segment is detected by its checksum and refetched.
	segs, _ := filepath.Glob(filepath.Join(dir, "*", "seg-*"))
	if len(segs) == 0 {
		t.Fatal("no segment files")
	}
	for _, s := range segs {
		f, _ := os.OpenFile(s, os.O_RDWR, 0)
		f.WriteAt(bytes.Repeat([]byte{0x55}, 1000), 0)
		f.Close()
	}
	third := read()
	if third.Bytes == 0 {
		t.Error("corrupted cache blocks were served instead of refetched")
	}
}

// TestDiskCacheBound keeps CacheDir within CacheSize.
func TestDiskCacheBound(t *testing.T) {
	image := smallImage(t)
	raw, _ := os.ReadFile(image)
	_, url := serve(t, image)
	dir := t.TempDir()
	limit := int64(segBlocks * BlockSize) // one segment
	src, err := Open(context.Background(), url, Options{CacheDir: dir, CacheSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(raw))
	if _, err := src.ReadAt(buf, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	// Segment files are sparse: count the disk blocks they occupy.
	var used int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(filepath.Base(p), "seg-") {
			fi, _ := d.Info()
			used += allocated(fi)
		}
		return nil
	})
	t.Logf("segments occupy %d bytes, bound %d", used, limit)
	if len(raw) <= int(limit) {
		t.Fatalf("fixture (%d bytes) too small for the bound test", len(raw))
	}
	if used > limit {
		t.Errorf("cache holds %d bytes of segments, bound %d", used, limit)
	}
}

// TestDiskCachePrune: entries of other URLs are removed, least recently
// used first, when CacheDir would exceed its bound.
func TestDiskCachePrune(t *testing.T) {
	image := smallImage(t)
	raw, _ := os.ReadFile(image)
	root := t.TempDir()
	for _, name := range []string{"a.iso", "b.iso"} {
		if err := os.Link(image, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	n := nginxtest.Start(t, root)
	dir := t.TempDir()
	limit := int64(len(raw)) + BlockSize
	readAll := func(name string) {
		src, err := Open(context.Background(), n.URL(name), Options{CacheDir: dir, CacheSize: limit})
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(raw))
		if _, err := src.ReadAt(buf, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
	}
	readAll("a.iso")
	entries, _ := filepath.Glob(filepath.Join(dir, "*", "meta.json"))
	if len(entries) != 1 {
		t.Fatalf("%d cache entries after one image", len(entries))
	}
	first := filepath.Dir(entries[0])
	readAll("b.iso")
	entries, _ = filepath.Glob(filepath.Join(dir, "*", "meta.json"))
	if len(entries) != 1 || filepath.Dir(entries[0]) == first {
		t.Errorf("entries %v: want only b.iso's (a.iso's %s pruned)", entries, first)
	}
}
