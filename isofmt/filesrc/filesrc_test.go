package filesrc

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isofsd/isofsd/internal/diskio"
)

// fakeImage is size bytes whose descriptor area (and everything else)
// depends on seed, so two seeds make two different "images" for the
// guard, which looks only at sectors 16–47.
func fakeImage(seed byte, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = seed + byte(i/4096)
	}
	return b
}

func writeImage(t *testing.T, path string, b []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadStraddlingRestore: a read that takes another image's bytes
// while the original is being written back (the check after the read
// then finds the original) reads again instead of passing the other
// image's bytes off as the original's. (Moved here from isofmt with the
// guard; it swaps the stat function, which only this package can.)
func TestReadStraddlingRestore(t *testing.T) {
	a, b := fakeImage('a', 256<<10), fakeImage('A', 256<<10)
	path := filepath.Join(t.TempDir(), "live.iso")
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	writeImage(t, path, a, past)
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const off = 100 << 10

	// Another image is written over the original, unnoticed so far; the
	// original comes back between the read and the check after it.
	writeImage(t, path, b, time.Time{})
	stats := 0
	g.stat = func() (fileState, error) {
		stats++
		if stats == 1 {
			writeImage(t, path, a, future)
		}
		st, err := os.Stat(path)
		if err != nil {
			return fileState{}, err
		}
		return fileState{regular: true, size: st.Size(), mtime: st.ModTime()}, nil
	}
	buf := make([]byte, 8192)
	n, err := g.ReadAt(buf, off)
	if err != nil || n != len(buf) {
		t.Fatalf("ReadAt: %d bytes, %v", n, err)
	}
	if !bytes.Equal(buf, a[off:off+len(buf)]) {
		t.Fatalf("ReadAt returned the other image's bytes (%q...) as the original's", buf[:4])
	}
	if stats < 2 {
		t.Fatalf("the file was stat'ed %d times: the read was not checked again", stats)
	}
}

// TestRegion: the zero-copy range is offered only inside the image as it
// is now and only while it is the opened image, and bytes taken after a
// Region are the checked image's only while its size and modification
// time stay (Intact). (The splice checks that lived in fs.Handle.Span.)
func TestRegion(t *testing.T) {
	a, b := fakeImage('a', 256<<10), fakeImage('A', 256<<10)
	path := filepath.Join(t.TempDir(), "live.iso")
	writeImage(t, path, a, time.Now().Add(-time.Hour))
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Size() != int64(len(a)) {
		t.Fatalf("Size %d, want %d", g.Size(), len(a))
	}
	for _, tc := range []struct {
		off  int64
		n    int
		ok   bool
		desc string
	}{
		{0, 4096, true, "start"},
		{int64(len(a)) - 4096, 4096, true, "up to the end"},
		{int64(len(a)) - 4096, 8192, false, "past the end"},
		{-1, 10, false, "negative"},
		{0, 0, false, "empty"},
	} {
		r, ok := g.Region(tc.off, tc.n)
		if ok != tc.ok || (ok && (r.FD == 0 || r.Offset != tc.off || r.N != tc.n)) {
			t.Errorf("%s: Region(%d, %d) = %+v %v, want ok %v", tc.desc, tc.off, tc.n, r, ok, tc.ok)
		}
	}

	r, ok := g.Region(0, 4096)
	if !ok || !g.Intact(r) {
		t.Fatalf("Region %v, Intact %v on an untouched image", ok, g.Intact(r))
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if g.Intact(r) {
		t.Error("Intact after the image's modification time moved")
	}
	// Touched only: still the image.
	if r, ok = g.Region(0, 4096); !ok {
		t.Fatal("no Region of an image only touched")
	}
	// The image shrinks: no zero-copy read past its new end.
	if err := os.Truncate(path, 128<<10); err != nil {
		t.Fatal(err)
	}
	if g.Intact(r) {
		t.Error("Intact after the image was truncated")
	}
	if _, ok := g.Region(120<<10, 16<<10); ok {
		t.Error("Region offered a range beyond the truncated image")
	}
	// Another image written over it: no Region, and ReadAt says why.
	writeImage(t, path, b, time.Time{})
	if _, ok := g.Region(0, 4096); ok {
		t.Error("Region offered bytes of a rewritten image")
	}
	if _, err := g.ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrChanged) {
		t.Errorf("ReadAt of a rewritten image: %v, want ErrChanged", err)
	}
	if err := g.Check(); !errors.Is(err, ErrChanged) {
		t.Errorf("Check of a rewritten image: %v, want ErrChanged", err)
	}
	// The original back: served again.
	writeImage(t, path, a, time.Now().Add(2*time.Hour))
	if r, ok := g.Region(0, 4096); !ok || !g.Intact(r) {
		t.Errorf("restored image: Region %v", ok)
	}
	buf := make([]byte, 4096)
	if n, err := g.ReadAt(buf, 8192); err != nil || n != len(buf) || !bytes.Equal(buf, a[8192:8192+4096]) {
		t.Errorf("restored image: ReadAt %d, %v", n, err)
	}
}

// TestOpenErrors: a missing file fails with the os error, which callers
// branch on.
func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "nope.iso")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A directory is not an image (lseek reports nonsense sizes on some
	// file systems).
	if _, err := Open(t.TempDir()); !errors.Is(err, diskio.ErrNotInput) {
		t.Errorf("directory: %v, want %v", err, diskio.ErrNotInput)
	}
}
