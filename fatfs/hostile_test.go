package fatfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
)

// setFAT32 sets FAT32 entry c in both FATs of img.
func setFAT32(img []byte, c uint32, v uint32) {
	g, err := ParseBootSector(img, int64(len(img)))
	if err != nil {
		panic(err)
	}
	for i := range g.NumFATs {
		off := g.FATOffset + int64(i)*g.FATSectors*int64(g.BytesPerSector) + int64(c)*4
		binary.LittleEndian.PutUint32(img[off:], v)
	}
}

// entryOf finds the short entry of a live file in the sample.
func entryOf(t testing.TB, img []byte, name string) Entry {
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	must(t, err)
	fi, err := fs.Stat(f, name)
	must(t, err)
	return *fi.Sys().(*Entry)
}

// TestHostile: damaged and hostile volumes give one clear error wrapping
// the right sentinel, in bounded time, never a panic or an endless walk.
func TestHostile(t *testing.T) {
	base := sampleImage(t, "fat32")
	sub := entryOf(t, base, "sub")
	hello := entryOf(t, base, "hello.txt")
	three := entryOf(t, base, "sub/three-k.bin")
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), base...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		img  []byte
		size int64 // 0: len(img)
		// op is what must fail: open, walk (read every file), label.
		op   string
		want error
		msg  string
	}{
		{"empty", nil, 0, "open", ErrNotFAT, "EOF"},
		{"no signature", mod(func(b []byte) { b[510] = 0 }), 0, "open", ErrNotFAT, "55 AA"},
		{"no jump", mod(func(b []byte) { b[0] = 0 }), 0, "open", ErrNotFAT, "jump"},
		{"sector size", mod(func(b []byte) { binary.LittleEndian.PutUint16(b[11:], 1000) }), 0, "open", ErrNotFAT, "1000 bytes per sector"},
		{"cluster size", mod(func(b []byte) { b[13] = 3 }), 0, "open", ErrNotFAT, "3 sectors per cluster"},
		{"no FATs", mod(func(b []byte) { b[16] = 0 }), 0, "open", ErrNotFAT, "0 FATs"},
		{"FAT too small", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[36:], 3) }), 0, "open", ErrCorrupt, "cannot describe"},
		{"root cluster outside", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[44:], 1<<27) }), 0, "open", ErrCorrupt, "root directory cluster"},
		{"data beyond total", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[32:], 100) }), 0, "open", ErrCorrupt, "data area starts"},
		{"truncated before the data area", base[:100000], 0, "open", ErrCorrupt, "beyond the"},
		{"active FAT beyond count", mod(func(b []byte) { binary.LittleEndian.PutUint16(b[40:], 0x85) }), 0, "open", ErrCorrupt, "active FAT 5"},
		{"file chain loops", mod(func(b []byte) {
			// three-k.bin spans 6 clusters: make the 3rd point back to the 1st.
			setFAT32(b, three.FirstCluster+2, three.FirstCluster)
		}), 0, "walk", ErrLoop, "uses cluster"},
		{"file chain into a free cluster", mod(func(b []byte) { setFAT32(b, three.FirstCluster+1, 0x0FFFFFF0-1000) }), 0, "walk", ErrCorrupt, "outside"},
		{"file chain reaches free", mod(func(b []byte) { setFAT32(b, three.FirstCluster+1, 0) }), 0, "walk", ErrCorrupt, "reaches a free cluster"},
		{"file chain bad cluster", mod(func(b []byte) { setFAT32(b, three.FirstCluster, 0x0FFFFFF7) }), 0, "walk", ErrCorrupt, "bad cluster"},
		{"file chain too short", mod(func(b []byte) { setFAT32(b, three.FirstCluster+1, 0x0FFFFFFF) }), 0, "walk", ErrCorrupt, "ends after 2 of the 6 clusters"},
		{"size without a cluster", mod(func(b []byte) {
			binary.LittleEndian.PutUint16(b[hello.Offset+26:], 0)
			binary.LittleEndian.PutUint16(b[hello.Offset+20:], 0)
		}), 0, "walk", ErrCorrupt, "no first cluster"},
		{"huge size", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[hello.Offset+28:], 0xFFFFFFFF) }), 0, "walk", ErrCorrupt, "ends after 1 of"},
		{"directory is its own parent", mod(func(b []byte) {
			// sub's entry names the root's cluster: a cycle.
			binary.LittleEndian.PutUint16(b[sub.Offset+26:], 2)
		}), 0, "walk", ErrLoop, "also one of its parent"},
		{"root chain loops", mod(func(b []byte) { setFAT32(b, 2, 2) }), 0, "label", ErrLoop, "uses cluster 2 twice"},
		{"directory cluster outside", mod(func(b []byte) { binary.LittleEndian.PutUint16(b[sub.Offset+20:], 0x7fff) }), 0, "walk", ErrCorrupt, "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			size := tc.size
			if size == 0 {
				size = int64(len(tc.img))
			}
			op := "open"
			f, err := Open(bytes.NewReader(tc.img), size)
			if err == nil {
				op = "label"
				_, err = f.Label()
			}
			if err == nil {
				op = "walk"
				err = fs.WalkDir(f, ".", func(p string, d fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					if !d.IsDir() {
						fh, err := f.Open(p)
						if err != nil {
							return err
						}
						_, err = io.Copy(io.Discard, fh.(io.Reader))
						return err
					}
					return nil
				})
			}
			if err == nil || op != tc.op || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("at %s: %v; want at %s: %v containing %q", op, err, tc.op, tc.want, tc.msg)
			}
		})
	}
}

// TestLongNameFallback: a damaged long name falls back to the short name
// instead of hiding the file (Linux's policy for optional extensions).
func TestLongNameFallback(t *testing.T) {
	img := append([]byte(nil), sampleImage(t, "fat32")...)
	e := entryOf(t, img, "A long file name.txt")
	img[e.Offset-32+13]++ // the checksum of the long-name entry before it
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	must(t, err)
	got, err := fs.ReadFile(f, "ALONGF~1.TXT")
	if err != nil || string(got) != "a long name\n" {
		t.Fatalf("%q, %v", got, err)
	}
	if _, err := fs.Stat(f, "A long file name.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the damaged long name still resolves: %v", err)
	}
}
