//go:build linux

package writer

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileTargetSparse: zeros in the image stay holes in a file target,
// and the file still reads back as the image.
func TestFileTargetSparse(t *testing.T) {
	dir := t.TempDir()
	_, data := randomImage(t, dir, 24<<20+777, 5)
	clear(data[4<<20 : 20<<20]) // 16 MiB of zeros in the middle
	img := filepath.Join(dir, "holey.img")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.img")
	rep := writeAll(t, img, []string{out}, Options{ToFile: true})
	if r := rep.Results[0]; r.Err != nil || !r.Verified {
		t.Fatalf("%v", r.Err)
	}
	sameBytes(t, out, readBack(t, out, len(data)), data)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if used := fi.Sys().(*syscall.Stat_t).Blocks * 512; used > int64(len(data))-12<<20 {
		t.Errorf("%s uses %d bytes on disk for %d bytes of which 16 MiB are zeros: not sparse", out, used, len(data))
	}
}
