package wim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// makeTree writes a tree for capture: a few hundred files of mixed sizes
// (compressible text and random bytes, some larger than a compression
// chunk), nested directories, empty files, duplicate contents (one blob,
// many files) and hard links. variant changes some files, so that images
// captured from variants share most blobs but not all.
func makeTree(t testing.TB, dir string, variant int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(variant)))
	stamp := time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)
	write := func(rel string, b []byte) {
		p := filepath.Join(dir, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
		must(t, os.Chtimes(p, stamp, stamp))
	}
	for i := range 300 {
		var b []byte
		switch i % 4 {
		case 0: // text: compresses well
			b = bytes.Repeat([]byte(fmt.Sprintf("line %d of file %d\n", i, i)), rng.IntN(4000))
		case 1: // random: stored as is inside compressed chunks
			b = make([]byte, rng.IntN(24000))
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		case 2:
			b = nil
		case 3: // the same content in many files: one blob
			b = []byte("shared content\n")
		}
		if i%37 == 0 {
			b = append(b, byte(variant))
		}
		write(fmt.Sprintf("d%02d/sub%d/f%03d.dat", i%17, i%3, i), b)
	}
	big := make([]byte, 120000)
	for j := range big {
		big[j] = byte(rng.Uint32() >> 24 & 0x3f)
	}
	write("big/chunky.bin", big)
	write("Windows/System32/notepad.exe", bytes.Repeat([]byte("MZ"), 9000))
	must(t, os.Link(filepath.Join(dir, "big/chunky.bin"), filepath.Join(dir, "big/hardlink.bin")))
	must(t, os.Link(filepath.Join(dir, "Windows/System32/notepad.exe"), filepath.Join(dir, "notepad-link.exe")))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// captureWIM builds a WIM with wimlib-imagex: one image per variant, each
// captured with UNIX data so that apply restores modes and times.
func captureWIM(t testing.TB, dir, compress string, variants int, extra ...string) string {
	t.Helper()
	isotest.RequireTool(t, "wimlib-imagex")
	wimPath := filepath.Join(dir, "install-"+strings.ToLower(compress)+".wim")
	for v := range variants {
		src := filepath.Join(dir, fmt.Sprintf("src-%d", v))
		if _, err := os.Stat(src); err != nil {
			makeTree(t, src, v)
		}
		cmd := "append"
		if v == 0 {
			cmd = "capture"
		}
		args := append([]string{cmd, src, wimPath, fmt.Sprintf("Edition %d", v+1), "--unix-data", "--compress=" + compress}, extra...)
		isotest.Run(t, "wimlib-imagex", args...)
	}
	return wimPath
}

func openWIM(t testing.TB, path string) *WIM {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	must(t, err)
	w, err := Open(f, fi.Size())
	must(t, err)
	return w
}

// writeParts writes the parts of sp next to each other as install.swm,
// install2.swm… and returns their paths.
func writeParts(t testing.TB, dir string, sp *Split) []string {
	t.Helper()
	var paths []string
	for _, p := range sp.Parts {
		path := filepath.Join(dir, PartName("install.swm", p.Number))
		f, err := os.Create(path)
		must(t, err)
		n, err := io.Copy(f, p.Open())
		must(t, err)
		must(t, f.Close())
		if n != p.Size {
			t.Fatalf("part %d: produced %d bytes, planned %d", p.Number, n, p.Size)
		}
		paths = append(paths, path)
	}
	return paths
}

// TestSplitAgainstWimlib splits real WIMs made by wimlib — several images,
// LZX and XPRESS, hard links, a few hundred files, with and without an
// integrity table — into small parts, and lets wimlib judge the result:
// info reads the set, verify checks every blob against its SHA-1 and
// every image's metadata, and apply of every image from the split set
// gives exactly the tree that was captured.
func TestSplitAgainstWimlib(t *testing.T) {
	isotest.RequireTool(t, "wimlib-imagex")
	dir := t.TempDir()
	for _, tc := range []struct {
		compress string
		extra    []string
	}{
		{"LZX", nil},
		{"XPRESS", []string{"--check"}}, // --check writes an integrity table
	} {
		t.Run(tc.compress, func(t *testing.T) {
			wimPath := captureWIM(t, dir, tc.compress, 3, tc.extra...)
			w := openWIM(t, wimPath)
			if got := w.Header.Compression(); got != tc.compress {
				t.Fatalf("compression %s, want %s", got, tc.compress)
			}
			if tc.extra != nil && w.Header.Integrity.IsZero() {
				t.Fatal("wimlib --check wrote no integrity table")
			}
			imgs, err := w.Images()
			must(t, err)
			if len(imgs) != 3 || imgs[2].Name != "Edition 3" || imgs[0].FileCount < 300 {
				t.Fatalf("images from the XML: %+v", imgs)
			}
			// A resource larger than the part size is refused, naming it.
			if _, err := w.Split(40 << 10); err == nil || !strings.Contains(err.Error(), "cannot be split further") {
				t.Errorf("Split with parts smaller than a resource: %v", err)
			}
			const partSize = 160 << 10 // test-only: many parts from a small WIM
			sp, err := w.Split(partSize)
			must(t, err)
			if len(sp.Parts) < 3 {
				t.Fatalf("only %d parts of at most %d bytes from a %d-byte WIM", len(sp.Parts), partSize, w.Size())
			}
			out := filepath.Join(dir, "split-"+tc.compress)
			must(t, os.MkdirAll(out, 0o755))
			paths := writeParts(t, out, sp)
			for i, p := range paths {
				fi, err := os.Stat(p)
				must(t, err)
				if fi.Size() > partSize {
					t.Errorf("%s: %d bytes, more than the part size %d", p, fi.Size(), partSize)
				}
				pw := openWIM(t, p)
				if pw.Header.GUID != w.Header.GUID || int(pw.Header.PartNumber) != i+1 || int(pw.Header.TotalParts) != len(paths) {
					t.Errorf("%s: GUID %x part %d/%d, want GUID %x part %d/%d", p, pw.Header.GUID, pw.Header.PartNumber, pw.Header.TotalParts, w.Header.GUID, i+1, len(paths))
				}
			}
			ref := "--ref=" + filepath.Join(out, "install*.swm")
			info := isotest.Run(t, "wimlib-imagex", "info", paths[0])
			if !strings.Contains(info, fmt.Sprintf("Part Number:    1/%d", len(paths))) || !strings.Contains(info, "Edition 3") ||
				!strings.Contains(info, "GUID:           0x"+w.Header.GUIDString()) {
				t.Errorf("wimlib-imagex info on part 1:\n%s", info)
			}
			isotest.Run(t, "wimlib-imagex", "verify", paths[0], ref)
			for i := 1; i <= 3; i++ {
				dst := filepath.Join(out, fmt.Sprintf("apply-%d", i))
				isotest.Run(t, "wimlib-imagex", "apply", paths[0], fmt.Sprint(i), dst, ref, "--unix-data")
				want := isotest.SnapshotDir(t, filepath.Join(dir, fmt.Sprintf("src-%d", i-1)))
				isotest.Compare(t, want, isotest.SnapshotDir(t, dst), isotest.CompareOptions{})
			}

			// Our own check agrees, and our checker also accepts
			// wimlib's split of the same WIM (with its new GUID).
			var parts []*WIM
			for _, p := range paths {
				parts = append(parts, openWIM(t, p))
			}
			res, err := CheckSplit(w, parts)
			if err != nil || !res.SameGUID || res.Parts != len(paths) {
				t.Fatalf("CheckSplit: %+v, %v", res, err)
			}
			theirs := filepath.Join(dir, "wimlib-"+tc.compress)
			must(t, os.MkdirAll(theirs, 0o755))
			isotest.Run(t, "wimlib-imagex", "split", wimPath, filepath.Join(theirs, "install.swm"), "0.2")
			tp, _ := filepath.Glob(filepath.Join(theirs, "*.swm"))
			var theirParts []*WIM
			for _, p := range tp {
				theirParts = append(theirParts, openWIM(t, p))
			}
			if res, err := CheckSplit(w, theirParts); err != nil || res.SameGUID {
				t.Errorf("CheckSplit of wimlib's split: %+v, %v", res, err)
			}

			// A flipped byte in a resource of the last part is found.
			last := paths[len(paths)-1]
			lp := openWIM(t, last)
			blobs, err := lp.Blobs()
			must(t, err)
			f, err := os.OpenFile(last, os.O_RDWR, 0)
			must(t, err)
			_, err = f.WriteAt([]byte{0x5a}, blobs[0].Offset+blobs[0].StoredSize/2)
			must(t, err)
			f.Close()
			parts[len(parts)-1] = openWIM(t, last)
			if _, err := CheckSplit(w, parts); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "differs in part") {
				t.Errorf("CheckSplit after damage: %v", err)
			}
			// A missing part is named.
			if _, err := CheckSplit(w, parts[:len(parts)-1]); !errors.Is(err, ErrMismatch) {
				t.Errorf("CheckSplit without the last part: %v", err)
			}
		})
	}
}

// TestSplitOnePart: a WIM that fits in one part becomes a one-part set
// with its boot index kept, which wimlib reads as a plain WIM.
func TestSplitOnePart(t *testing.T) {
	isotest.RequireTool(t, "wimlib-imagex")
	dir := t.TempDir()
	wimPath := captureWIM(t, dir, "LZX", 2)
	isotest.Run(t, "wimlib-imagex", "info", wimPath, "2", "--boot")
	w := openWIM(t, wimPath)
	sp, err := w.Split(DefaultPartSize)
	must(t, err)
	if len(sp.Parts) != 1 || sp.Parts[0].Header.Flags&FlagSpanned != 0 || sp.Parts[0].Header.BootIndex != 2 {
		t.Fatalf("parts %d, header %+v", len(sp.Parts), sp.Parts[0].Header)
	}
	paths := writeParts(t, dir, sp)
	isotest.Run(t, "wimlib-imagex", "verify", paths[0])
	if out := isotest.Run(t, "wimlib-imagex", "info", paths[0]); !strings.Contains(out, "Boot Index:     2") {
		t.Errorf("boot index lost:\n%s", out)
	}
}
