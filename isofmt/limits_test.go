package isofmt_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestLimits has one case per safety limit of the ISO 9660 side (the UDF
// ones are in isofmt/udf's TestHostile and TestDepthLimit; CE hops,
// depth and directory size in TestHostileImages). Each builds an image
// just past the limit and checks that the limit holds, the error or
// warning names it, the walk ends in bounded time, and the memory used
// stays far below what the image claims.
func TestLimits(t *testing.T) {
	cases := []struct {
		name  string
		short bool // cheap enough for -short
		build func() []byte
		check func(t *testing.T, img *isofmt.Image)
		alloc int64 // bytes the whole case may allocate
		// noWalk skips reading every file afterwards (a million of them
		// would only measure Open and Read).
		noWalk bool
	}{
		{name: "volume descriptors", short: true, alloc: 8 << 20, build: func() []byte {
			// 200 partition descriptors after the primary, no terminator.
			b := isotest.NewBuilder(2048)
			b.Alloc(200)
			root := b.Alloc(1)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "F.TXT;1", LBA: root, Size: 10}}, nil)
			img := b.Image(root, 2048, 0)
			for s := 17; s < 17+200; s++ {
				d := img[s*2048 : (s+1)*2048]
				clear(d)
				d[0] = 3
				copy(d[1:6], "CD001")
				d[6] = 1
			}
			return img
		}, check: func(t *testing.T, img *isofmt.Image) {
			if n := len(img.Info().Descriptors); n > isofmt.MaxDescriptors {
				t.Errorf("%d descriptors read, limit %d", n, isofmt.MaxDescriptors)
			}
			if _, err := img.Stat("F.TXT"); err != nil {
				t.Errorf("the tree must still open: %v", err)
			}
		}},
		{name: "entries per directory", noWalk: true, alloc: 1 << 30, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, data := b.Alloc(1), b.Alloc(1)
			recs := make([]isotest.Record, isofmt.MaxDirEntries+5)
			for i := range recs {
				recs[i] = isotest.Record{Name: fmt.Sprintf("F%07d.;1", i), LBA: data, Size: 1}
			}
			size := b.WriteDir(root, root, 0, recs, nil)
			return b.Image(root, size, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			root, _ := img.Root()
			nodes, err := img.ReadDirNode(root)
			if !errors.Is(err, isofmt.ErrLimit) || !strings.Contains(err.Error(), "entries") {
				t.Errorf("directory of %d entries: %v, want ErrLimit naming entries", isofmt.MaxDirEntries+5, err)
			}
			if len(nodes) != isofmt.MaxDirEntries {
				t.Errorf("%d entries listed before the limit, want %d", len(nodes), isofmt.MaxDirEntries)
			}
		}},
		{name: "extents per file", short: true, alloc: 256 << 20, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root, data := b.Alloc(1), b.Alloc(1)
			b.Write(data, bytes.Repeat([]byte{'x'}, 2048))
			recs := make([]isotest.Record, isofmt.MaxExtentsPerFile+3)
			for i := range recs {
				recs[i] = isotest.Record{Name: "BIG.;1", LBA: data, Size: 2048, Flags: 0x80}
			}
			recs[len(recs)-1].Flags = 0
			size := b.WriteDir(root, root, 0, recs, nil)
			return b.Image(root, size, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			fi, err := img.Stat("BIG")
			if err != nil {
				t.Fatal(err)
			}
			if n := len(fi.Sys().(*isofmt.Stat).Extents); n != isofmt.MaxExtentsPerFile {
				t.Errorf("%d extents, want the cap %d", n, isofmt.MaxExtentsPerFile)
			}
			wantWarning(t, img, "more than 65536 extents")
		}},
		{name: "name length", short: true, alloc: 8 << 20, build: func() []byte {
			// Five NM pieces of 240 bytes (1200 > 1024) in a continuation area.
			b := isotest.NewBuilder(2048)
			root, ce := b.Alloc(1), b.Alloc(1)
			var area []byte
			for i := range 5 {
				flags := byte(1) // CONTINUE
				if i == 4 {
					flags = 0
				}
				area = append(area, append([]byte{'N', 'M', 5 + 240, 1, flags}, bytes.Repeat([]byte{'a' + byte(i)}, 240)...)...)
			}
			b.Write(ce, area)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "LONG.TXT;1", LBA: root, Size: 0, SystemUse: isotest.CE(ce, 0, uint32(len(area)))}}, isotest.SP())
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if _, err := img.Stat("LONG.TXT"); err != nil {
				t.Errorf("over-long Rock Ridge name must fall back to the ISO 9660 name: %v", err)
			}
			wantWarning(t, img, "name longer than 1024 bytes")
		}},
		{name: "symlink target length", short: true, alloc: 8 << 20, build: func() []byte {
			// 3 chained continuation areas of SL entries: 24 × 240 bytes.
			b := isotest.NewBuilder(2048)
			root := b.Alloc(1)
			areas := []uint32{b.Alloc(1), b.Alloc(1), b.Alloc(1)}
			for a, lba := range areas {
				var area []byte
				for range 8 {
					comp := append([]byte{0, 240}, bytes.Repeat([]byte{'s'}, 240)...)
					area = append(area, append([]byte{'S', 'L', byte(5 + len(comp)), 1, 1}, comp...)...)
				}
				if a+1 < len(areas) {
					area = append(area, isotest.CE(areas[a+1], 0, 8*247+28)...)
				}
				b.Write(lba, area)
			}
			su := append(isotest.PX(0o120777, 1, 0, 0), isotest.CE(areas[0], 0, 8*247+28)...)
			b.WriteDir(root, root, 2048, []isotest.Record{{Name: "LINK.;1", LBA: root, Size: 0, SystemUse: su}}, isotest.SP())
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if target, err := img.ReadLink("LINK"); !errors.Is(err, isofmt.ErrLimit) {
				t.Errorf("readlink of a %d-byte target: %d bytes, %v; want ErrLimit, never a cut target", 24*241, len(target), err)
			}
			if _, err := img.Stat("LINK/x"); !errors.Is(err, isofmt.ErrLimit) {
				t.Errorf("following the over-long link: %v, want ErrLimit", err)
			}
			wantWarning(t, img, "symlink target longer than 4096 bytes")
		}},
		{name: "symlink hops", short: true, alloc: 8 << 20, build: func() []byte {
			b := isotest.NewBuilder(2048)
			root := b.Alloc(1)
			link := func(to string) []byte {
				return append(isotest.PX(0o120777, 1, 0, 0), append([]byte{'S', 'L', byte(5 + 2 + len(to)), 1, 0, 0, byte(len(to))}, to...)...)
			}
			b.WriteDir(root, root, 2048, []isotest.Record{
				{Name: "A.;1", LBA: root, SystemUse: link("B")},
				{Name: "B.;1", LBA: root, SystemUse: link("A")},
			}, isotest.SP())
			return b.Image(root, 2048, 0)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if _, err := img.Stat("A"); !errors.Is(err, isofmt.ErrLimit) || !strings.Contains(err.Error(), "symbolic links") {
				t.Errorf("stat through a symlink loop: %v, want ErrLimit", err)
			}
		}},
		{name: "zisofs block size in the ZF entry", short: true, alloc: 8 << 20, build: func() []byte {
			return zisofsImage(18, 18, 100000, 64)
		}, check: func(t *testing.T, img *isofmt.Image) {
			// As Linux does: an unsupported block size shows the stored
			// (compressed) bytes, with a warning.
			fi, err := img.Stat("Z")
			if err != nil || fi.Sys().(*isofmt.Stat).Zisofs != nil || fi.Size() != 64 {
				t.Errorf("Z: %v %v; want a plain 64-byte file", fi, err)
			}
			wantWarning(t, img, "zisofs block size 2^18")
		}},
		{name: "zisofs block size in the file header", short: true, alloc: 8 << 20, build: func() []byte {
			return zisofsImage(15, 18, 100000, 64)
		}, check: func(t *testing.T, img *isofmt.Image) {
			if _, err := fs.ReadFile(img, "Z"); !errors.Is(err, isofmt.ErrUnsupported) || !strings.Contains(err.Error(), "2^18") {
				t.Errorf("zisofs header with 256 KiB blocks: %v, want ErrUnsupported naming 2^18", err)
			}
		}},
		{name: "claimed sizes allocate nothing", short: true, alloc: 16 << 20, build: func() []byte {
			// A 4 GiB file and a zisofs file claiming 4 GiB uncompressed,
			// both in a 100 KB image.
			return zisofsImage(15, 15, 0xFFFFFFFF, 64)
		}, check: func(t *testing.T, img *isofmt.Image) {
			fi, err := img.Stat("HUGE")
			if err != nil || fi.Size() != 0xFFFFFFFF {
				t.Fatalf("HUGE: %v %v", fi, err)
			}
			f, _ := img.Open("HUGE")
			if _, err := io.Copy(io.Discard, f.(io.Reader)); !errors.Is(err, isofmt.ErrTruncated) {
				t.Errorf("reading a 4 GiB file from a small image: %v, want ErrTruncated", err)
			}
			f.Close()
			if _, err := fs.ReadFile(img, "Z"); !errors.Is(err, isofmt.ErrCorrupt) {
				t.Errorf("zisofs claiming 4 GiB: %v, want ErrCorrupt (pointer table past the data)", err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && !c.short {
				t.Skip("builds a large directory; skipped in -short")
			}
			data := c.build()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			img, err := isofmt.Open(bytes.NewReader(data), int64(len(data)), &isofmt.Options{CacheSize: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, img)
			if !c.noWalk {
				walkAll(img)
			}
			runtime.ReadMemStats(&after)
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %v", d)
			}
			if got := int64(after.TotalAlloc - before.TotalAlloc); got > c.alloc {
				t.Errorf("allocated %d MiB, bound %d MiB", got>>20, c.alloc>>20)
			} else {
				t.Logf("allocated %.1f MiB (bound %d MiB), image %d KiB", float64(got)/(1<<20), c.alloc>>20, len(data)>>10)
			}
		})
	}
}

func wantWarning(t *testing.T, img *isofmt.Image, sub string) {
	t.Helper()
	for _, w := range img.Warnings() {
		if strings.Contains(w, sub) {
			return
		}
	}
	t.Errorf("no warning containing %q: %q", sub, img.Warnings())
}

// zisofsImage builds a Rock Ridge image with a zisofs file Z (block size
// 2^zfShift in its ZF entry and 2^hdrShift in its header, claiming size
// bytes uncompressed, stored bytes of data), and a plain file HUGE
// claiming 4 GiB.
func zisofsImage(zfShift, hdrShift byte, size uint32, stored int) []byte {
	b := isotest.NewBuilder(2048)
	root, data, huge := b.Alloc(1), b.Alloc(1), b.Alloc(1)
	hdr := make([]byte, stored)
	copy(hdr, []byte{0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07})
	hdr[8], hdr[9], hdr[10], hdr[11] = byte(size), byte(size>>8), byte(size>>16), byte(size>>24)
	hdr[12], hdr[13] = 4, hdrShift
	b.Write(data, hdr)
	zf := []byte{'Z', 'F', 16, 1, 'p', 'z', 4, zfShift, 0, 0, 0, 0, 0, 0, 0, 0}
	zf[8], zf[9], zf[10], zf[11] = byte(size), byte(size>>8), byte(size>>16), byte(size>>24)
	zf[12], zf[13], zf[14], zf[15] = byte(size>>24), byte(size>>16), byte(size>>8), byte(size)
	px := isotest.PX(0o100444, 1, 0, 0)
	b.WriteDir(root, root, 2048, []isotest.Record{
		{Name: "HUGE.;1", LBA: huge, Size: 0xFFFFFFFF, SystemUse: px},
		{Name: "Z.;1", LBA: data, Size: uint32(stored), SystemUse: append(append([]byte{}, px...), zf...)},
	}, isotest.SP())
	return b.Image(root, 2048, 0)
}
