package isofmt

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// Fuzz targets. `go test` runs them over their seeds (the corpus images
// and slices of them); `go test -fuzz FuzzX` explores further. Each asserts
// only what must hold for any input: no panic, no hang, errors not nil
// when data is missing, bounded output.

var fuzzCorpus = isotest.CorpusDir()

// smallCorpus returns the corpus images up to max bytes.
func smallCorpus(t testing.TB, max int64) [][]byte {
	var out [][]byte
	paths, _ := filepath.Glob(filepath.Join(fuzzCorpus, "*", "*.iso"))
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() > max {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// rootSector returns the byte offset of the first sector of the root
// directory named by the primary (or, with joliet, the Joliet) descriptor
// of data, if data holds that whole sector.
func rootSector(data []byte, joliet bool) (int64, bool) {
	img, err := Open(bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return 0, false
	}
	vd := img.vol.pvd
	if joliet {
		vd = img.vol.joliet
	}
	if vd == nil {
		return 0, false
	}
	r := vd.root
	off := (int64(r[2]) | int64(r[3])<<8 | int64(r[4])<<16) * SectorSize
	return off, off+SectorSize <= int64(len(data))
}

// exercise opens an image, walks every tree and reads every file.
func exercise(data []byte) {
	img, err := Open(bytes.NewReader(data), int64(len(data)), &Options{CacheSize: 1 << 20})
	if err != nil {
		return
	}
	img.Info()
	for _, tree := range img.Trees() {
		view, err := img.WithTree(tree)
		if err != nil {
			continue
		}
		entries := 0
		fs.WalkDir(view, ".", func(p string, d fs.DirEntry, err error) error {
			entries++
			if err != nil || entries > 100000 {
				return fs.SkipDir
			}
			if d.Type().IsRegular() {
				if f, err := view.Open(p); err == nil {
					io.Copy(io.Discard, io.LimitReader(f.(io.Reader), 1<<20))
				}
			}
			fs.ReadLink(view, p)
			return nil
		})
		// The one walk extract, ls and recover use must end too.
		if root, err := view.Root(); err == nil {
			seen := 0
			Walk(view, ".", root, WalkOptions{Visit: func(d *WalkDir) ([]*Node, error) {
				if seen += len(d.Entries); seen > 100000 {
					return nil, fs.SkipAll
				}
				return d.Entries, nil
			}})
		}
	}
}

func FuzzOpen(f *testing.F) {
	// Go's fuzzer slows down badly on large inputs, so seeds are cut to
	// 48 KiB: the descriptors and first directories of the corpus images.
	for _, b := range smallCorpus(f, 512<<10) {
		f.Add(b[:min(len(b), 48<<10)])
	}
	f.Fuzz(func(t *testing.T, data []byte) { exercise(data) })
}

// FuzzDirectory puts the fuzz input in place of the root directory of a
// small Rock Ridge image, so the directory record, SUSP and Rock Ridge
// parsers see arbitrary bytes through the real code path.
func FuzzDirectory(f *testing.F) {
	base, err := os.ReadFile(filepath.Join(fuzzCorpus, "libcdio", "copying-rr.iso"))
	if err != nil {
		f.Fatal("corpus image (part of the repository):", err)
	}
	rootOff, ok := rootSector(base, false)
	if !ok {
		f.Fatal("copying-rr.iso: no root directory")
	}
	f.Add(base[rootOff : rootOff+SectorSize])
	for _, b := range smallCorpus(f, 512<<10) {
		// Root directory sectors of other images make good seeds too.
		if off, ok := rootSector(b, false); ok {
			f.Add(b[off : off+SectorSize])
		}
	}
	f.Fuzz(func(t *testing.T, sector []byte) {
		data := bytes.Clone(base)
		copy(data[rootOff:rootOff+SectorSize], sector)
		exercise(data)
	})
}

// FuzzSUSP feeds arbitrary system-use areas (with continuation areas
// pointing into a small image) to the Rock Ridge parser.
func FuzzSUSP(f *testing.F) {
	f.Add([]byte("SP\x07\x01\xbe\xef\x00PX\x24\x01\xa4\x81\x00\x00\x00\x00\x81\xa4\x01\x00\x00\x00\x00\x00\x00\x01"), []byte{})
	f.Add([]byte("NM\x09\x01\x00abcd"), []byte("NM\x08\x01\x00xyz"))
	f.Add([]byte("CE\x1c\x01\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x20\x00\x00\x00\x00\x00\x00\x20"), []byte("SL\x0c\x01\x00\x02\x00\x08\x00\x00\x02ab"))
	f.Add([]byte("TF\x1a\x01\x0e\x7c\x01\x01\x00\x00\x00\x00\x7c\x01\x01\x00\x00\x00\x00\x7c\x01\x01\x00\x00\x00\x00"), []byte{})
	f.Add([]byte("ZF\x10\x01pz\x04\x0f\x00\x10\x00\x00\x00\x00\x10\x00"), []byte{})
	f.Fuzz(func(t *testing.T, su, block []byte) {
		// The image: 4 blocks; block 1 holds the second fuzz input, so CE
		// entries can chain into it (and loop).
		img := make([]byte, 4*SectorSize)
		copy(img[SectorSize:2*SectorSize], block)
		s := &suspReader{src: bytes.NewReader(img), size: int64(len(img)), blockSize: SectorSize}
		rr := s.parse(su, 0, 0)
		if rr.name.Len() > MaxNameLen+255 || rr.target.Len() > MaxLinkLen+255 {
			t.Fatalf("unbounded result: name %d, target %d bytes", rr.name.Len(), rr.target.Len())
		}
	})
}

// FuzzZisofs decodes arbitrary stored bytes as a zisofs file.
func FuzzZisofs(f *testing.F) {
	f.Add(append(append([]byte{}, zisofsMagic...), 0x10, 0, 0, 0, 4, 15, 0, 0, 24, 0, 0, 0, 24, 0, 0, 0), int64(16))
	data, err := os.ReadFile(filepath.Join(fuzzCorpus, "libarchive", "test_read_format_iso_zisofs.iso"))
	if err == nil {
		if i := bytes.Index(data, zisofsMagic); i >= 0 {
			f.Add(data[i:min(i+4096, len(data))], int64(24))
		}
	}
	f.Fuzz(func(t *testing.T, stored []byte, size int64) {
		size &= 0xffffffff
		if len(stored) >= 12 {
			size = int64(stored[8]) | int64(stored[9])<<8 | int64(stored[10])<<16 | int64(stored[11])<<24
		}
		z, err := newZisofsReader(bytes.NewReader(stored), int64(len(stored)), &Zisofs{HeaderSize: 4, BlockShift: 15, RealSize: size}, "fuzz")
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for off := int64(0); off < z.size && off < 512<<10; off += int64(len(buf)) {
			if _, err := z.ReadAt(buf, off); err != nil && err != io.EOF {
				return
			}
		}
	})
}

// FuzzVolumeDescriptor parses arbitrary descriptor sectors.
func FuzzVolumeDescriptor(f *testing.F) {
	for _, b := range smallCorpus(f, 512<<10) {
		if len(b) >= 17*SectorSize {
			f.Add(b[16*SectorSize : 17*SectorSize])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sec := make([]byte, SectorSize)
		copy(sec, b)
		parseVolumeDescriptor(sec, 16, func(string) {})
		jolietLevel(sec[88:120])
		parseDecDateTime(sec[813:830])
	})
}

// FuzzJolietDirectory puts the fuzz input in place of the Joliet root
// directory of a small image and checks that every name the Joliet tree
// hands out is a usable path element, whatever UTF-16 it was decoded from
// (unpaired surrogates, odd lengths, '/', NUL, "." and "..").
func FuzzJolietDirectory(f *testing.F) {
	base, err := os.ReadFile(filepath.Join(fuzzCorpus, "libcdio", "joliet.iso"))
	if err != nil {
		f.Fatal("corpus image (part of the repository):", err)
	}
	rootOff, ok := rootSector(base, true)
	if !ok {
		f.Fatal("joliet.iso has no Joliet tree")
	}
	f.Add(base[rootOff : rootOff+SectorSize])
	if over, err := os.ReadFile(filepath.Join(fuzzCorpus, "libarchive", "test_read_format_iso_joliet_utf16be_overflow.iso")); err == nil {
		if off, ok := rootSector(over, true); ok {
			f.Add(over[off : off+SectorSize])
		}
	}
	f.Fuzz(func(t *testing.T, sector []byte) {
		data := bytes.Clone(base)
		copy(data[rootOff:rootOff+SectorSize], sector)
		img, err := Open(bytes.NewReader(data), int64(len(data)), &Options{CacheSize: 1 << 20})
		if err != nil {
			return
		}
		view, err := img.WithTree(TreeJoliet)
		if err != nil {
			return
		}
		entries, err := fs.ReadDir(view, ".")
		if err != nil {
			return
		}
		for _, e := range entries {
			name := e.Name()
			if name == "" || name == "." || name == ".." || !utf8.ValidString(name) ||
				strings.ContainsAny(name, "/\x00") || len(name) > MaxNameLen {
				t.Fatalf("Joliet tree handed out an unusable name %q", name)
			}
			if e.Type().IsRegular() {
				if f, err := view.Open(name); err == nil {
					io.Copy(io.Discard, io.LimitReader(f.(io.Reader), 1<<20))
					f.Close()
				}
			}
		}
	})
}
