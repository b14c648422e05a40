package burn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// testImage builds an ISO with xorriso holding a few files, with an
// isomd5sum checksum implanted when md5 is set, and returns its bytes and
// path.
func testImage(t *testing.T, md5 bool) ([]byte, string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5", "checkisomd5")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("burn me carefully "), 40_000) // 720 KB
	for name, b := range map[string][]byte{"big.bin": data, "docs/readme.txt": []byte("hello\n"), "docs/second.bin": data[:300_000]} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "test.iso")
	isotest.Run(t, "xorriso", "-outdev", img, "-map", src, "/", "-commit")
	if md5 {
		isotest.Run(t, "implantisomd5", img)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b, img
}

// fileOffset is where the first byte of the file at p lies in the image.
func fileOffset(t *testing.T, img *isofmt.Image, p string) int64 {
	t.Helper()
	fi, err := img.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*isofmt.Stat)
	if !ok || len(st.Extents) == 0 {
		t.Fatalf("%s: no extents", p)
	}
	return st.Extents[0].Offset
}

// checkisomd5 runs the real checkisomd5 over b and says whether it passes.
func checkisomd5(t *testing.T, b []byte) bool {
	t.Helper()
	f := filepath.Join(t.TempDir(), "disc")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err := exec.Command("checkisomd5", f).Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return err == nil
}

// faultyDisc fails reads that touch the sectors in bad with EIO, the way a
// drive reports an unreadable sector, and counts reads.
type faultyDisc struct {
	r     io.ReaderAt
	bad   map[int64]bool // sector numbers
	reads int
}

func (f *faultyDisc) ReadAt(p []byte, off int64) (int, error) {
	f.reads++
	for s := off / SectorSize; s*SectorSize < off+int64(len(p)); s++ {
		if f.bad[s] {
			return int(s*SectorSize - off), syscall.EIO
		}
	}
	return f.r.ReadAt(p, off)
}

func openImage(t *testing.T, b []byte) *isofmt.Image {
	t.Helper()
	img, err := isofmt.Open(bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func damagedPaths(r *VerifyReport) []string {
	if r.Files == nil {
		return nil
	}
	var out []string
	for _, f := range r.Files.Damaged {
		out = append(out, f.Path)
	}
	return out
}

func TestVerifyIdentical(t *testing.T) {
	b, _ := testImage(t, true)
	img := openImage(t, b)
	// The disc is longer than the image (libburn pads the track): only the
	// image's length is compared.
	disc := append(append([]byte(nil), b...), make([]byte, 300<<10)...)
	var seen int64
	rep, err := Verify(context.Background(), bytes.NewReader(disc), bytes.NewReader(b), int64(len(b)), img,
		VerifyOptions{ChunkSize: 64 << 10, Progress: func(done, total int64) { seen = done }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictOK || !rep.Match || rep.DiscSHA256 != rep.ImageSHA256 || seen != int64(len(b)) {
		t.Fatalf("report %+v, progress %d", rep, seen)
	}
	if rep.MD5 == nil || !rep.MD5.OK || rep.MD5.Computed != rep.MD5.Expected {
		t.Fatalf("implanted MD5: %+v", rep.MD5)
	}
	if !checkisomd5(t, disc) {
		t.Fatal("checkisomd5 fails a disc our check passes")
	}
}

func TestVerifyFlippedByteNamesFile(t *testing.T) {
	b, _ := testImage(t, true)
	img := openImage(t, b)
	at := fileOffset(t, img, "docs/second.bin") + 5000
	disc := append([]byte(nil), b...)
	disc[at] ^= 0x01
	rep, err := Verify(context.Background(), bytes.NewReader(disc), bytes.NewReader(b), int64(len(b)), img, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictDamaged || rep.Match || len(rep.Differ) != 1 || rep.Differ[0].Offset != at/SectorSize*SectorSize {
		t.Fatalf("report %+v", rep)
	}
	if got := damagedPaths(rep); len(got) != 1 || got[0] != "/docs/second.bin" {
		t.Fatalf("damaged files %v", got)
	}
	// Same verdict as checkisomd5.
	if rep.MD5 == nil || rep.MD5.OK || checkisomd5(t, disc) {
		t.Fatalf("implanted MD5 %+v; checkisomd5 must fail too", rep.MD5)
	}
}

func TestVerifyUnreadableSector(t *testing.T) {
	b, _ := testImage(t, true)
	img := openImage(t, b)
	sec := fileOffset(t, img, "big.bin")/SectorSize + 3
	disc := &faultyDisc{r: bytes.NewReader(b), bad: map[int64]bool{sec: true}}
	rep, err := Verify(context.Background(), disc, bytes.NewReader(b), int64(len(b)), img, VerifyOptions{ChunkSize: 32 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictDamaged || rep.DiscSHA256 != "" || len(rep.Unreadable) != 1 ||
		rep.Unreadable[0].Offset != sec*SectorSize || rep.Unreadable[0].Length != SectorSize || len(rep.Differ) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if got := damagedPaths(rep); len(got) != 1 || got[0] != "/big.bin" {
		t.Fatalf("damaged files %v", got)
	}
	if rep.MD5 == nil || rep.MD5.OK || !strings.Contains(rep.MD5.Err, "cannot be read") {
		t.Fatalf("implanted MD5 %+v", rep.MD5)
	}
}

func TestVerifyShortDisc(t *testing.T) {
	b, _ := testImage(t, false)
	img := openImage(t, b)
	cut := int64(len(b)) - 100*SectorSize
	rep, err := Verify(context.Background(), bytes.NewReader(b[:cut]), bytes.NewReader(b), int64(len(b)), img, VerifyOptions{ChunkSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictDamaged || !strings.Contains(rep.GaveUp, "ends at byte") ||
		len(rep.Unreadable) != 1 || rep.Unreadable[0].Offset != cut || rep.Unreadable[0].End() != int64(len(b)) {
		t.Fatalf("report %+v", rep)
	}
	if rep.MD5 != nil {
		t.Fatalf("MD5 verdict for an image without one: %+v", rep.MD5)
	}
}

func TestVerifyGivesUpOnDeadDisc(t *testing.T) {
	b, _ := testImage(t, false)
	bad := map[int64]bool{}
	for s := int64(0); s < int64(len(b))/SectorSize; s++ {
		bad[s] = true
	}
	disc := &faultyDisc{r: bytes.NewReader(b), bad: bad}
	const chunk = 8 * SectorSize
	rep, err := Verify(context.Background(), disc, bytes.NewReader(b), int64(len(b)), nil, VerifyOptions{ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	// One chunk read plus one read per sector, for giveUpChunks chunks.
	if rep.GaveUp == "" || disc.reads != giveUpChunks*(1+chunk/SectorSize) {
		t.Fatalf("gave up %q after %d reads", rep.GaveUp, disc.reads)
	}
	if len(rep.Unreadable) != 1 || rep.Unreadable[0].Length != int64(len(b)) || rep.ImageSHA256 == "" {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyNotAnISO(t *testing.T) {
	b := bytes.Repeat([]byte{0xAB}, 5*SectorSize+100) // not a multiple of the sector size either
	rep, err := Verify(context.Background(), bytes.NewReader(b), bytes.NewReader(b), int64(len(b)), nil, VerifyOptions{})
	if err != nil || rep.Verdict != VerdictOK || rep.Files != nil || rep.MD5 != nil {
		t.Fatalf("%+v %v", rep, err)
	}
	d := append([]byte(nil), b...)
	d[len(d)-1] = 0
	rep, err = Verify(context.Background(), bytes.NewReader(d), bytes.NewReader(b), int64(len(b)), nil, VerifyOptions{})
	if err != nil || rep.Verdict != VerdictDamaged || len(rep.Differ) != 1 || rep.Differ[0].End() != int64(len(b)) {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestVerifyCancelled(t *testing.T) {
	b, _ := testImage(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := Verify(ctx, bytes.NewReader(b), bytes.NewReader(b), int64(len(b)), openImage(t, b),
		VerifyOptions{ChunkSize: 16 << 10, Progress: func(int64, int64) {
			if n++; n == 3 {
				cancel()
			}
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}
