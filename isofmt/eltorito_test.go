package isofmt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/internal/core"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// saRun runs a command in dir and returns its stdout; failure fails the test.
func saRun(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// saCorpusImages lists every image of the third-party corpus.
func saCorpusImages(t testing.TB) []string {
	t.Helper()
	var files []string
	root := fuzzCorpus
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".iso") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatalf("no corpus images under %s (they are part of the repository)", root)
	}
	return files
}

// btCatalogLBA finds the boot record among the volume descriptors of img.
func btCatalogLBA(img []byte) (uint32, bool) {
	for s := 16; s < 16+64 && (s+1)*2048 <= len(img); s++ {
		sec := img[s*2048 : (s+1)*2048]
		if lba, ok := ParseBootRecord(sec); ok {
			return lba, true
		}
		if sec[0] == 255 || string(sec[1:6]) != "CD001" {
			break
		}
	}
	return 0, false
}

// btReportEntry is one "El Torito boot img" line of xorriso -report_el_torito plain.
type btReportEntry struct {
	platform, emul, path string
	bootable             bool
	loadSeg              uint64
	count, lba, blocks   int64
}

// btXorrisoReport runs xorriso's own El Torito report as the oracle.
func btXorrisoReport(t *testing.T, iso string) (catLBA int64, entries []btReportEntry) {
	t.Helper()
	out := saRun(t, filepath.Dir(iso), "xorriso", "-indev", iso, "-report_el_torito", "plain")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		atoi := func(s string) int64 {
			n, err := strconv.ParseInt(s, 0, 64)
			if err != nil {
				t.Fatalf("xorriso report %q: %v", sc.Text(), err)
			}
			return n
		}
		switch strings.TrimSpace(key) {
		case "El Torito catalog":
			catLBA = atoi(f[0])
		case "El Torito boot img":
			entries = append(entries, btReportEntry{platform: f[1], bootable: f[2] == "y", emul: f[3],
				loadSeg: uint64(atoi(f[4])), count: atoi(f[6]), lba: atoi(f[7])})
		case "El Torito img path":
			entries[atoi(f[0])-1].path = f[1]
		case "El Torito img blks":
			entries[atoi(f[0])-1].blocks = atoi(f[1])
		}
	}
	return catLBA, entries
}

// btPlatforms and btEmulations translate xorriso's report words to ours.
var (
	btPlatforms  = map[string]string{"BIOS": "bios", "UEFI": "uefi", "PPC": "ppc", "Mac": "mac"}
	btEmulations = map[string]string{"none": "none", "fd1.2": "1.2M floppy", "fd1.4": "1.44M floppy", "fd2.8": "2.88M floppy", "hd": "hard disk"}
)

// btRandomFile writes n random-looking (deterministic) bytes.
func btRandomFile(t testing.TB, path string, n int, seed byte) {
	t.Helper()
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// btFATImage makes a FAT image of kib KiB with an EFI loader in it.
func btFATImage(t *testing.T, dir, name string, kib int) {
	t.Helper()
	saRun(t, dir, "mkfs.vfat", "-C", name, strconv.Itoa(kib))
	btRandomFile(t, filepath.Join(dir, "loader.efi"), 5000, 7)
	saRun(t, dir, "mmd", "-i", name, "::/EFI", "::/EFI/BOOT")
	saRun(t, dir, "mcopy", "-i", name, "loader.efi", "::/EFI/BOOT/BOOTX64.EFI")
}

// btFixture builds a tree with boot images and returns the work dir.
func btFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	btRandomFile(t, filepath.Join(root, "sub", "file.bin"), 70000, 1)
	btRandomFile(t, filepath.Join(root, "boot.img"), 2048, 2)
	btRandomFile(t, filepath.Join(root, "floppy.img"), floppy144Size, 3)
	btFATImage(t, root, "efi.img", 2880)
	// A 36 MiB FAT image does not fit the 16-bit sector count.
	btFATImage(t, dir, "big.img", 36*1024)
	// A hard disk image with one partition ending at the image end.
	hd := filepath.Join(root, "hd.img")
	btRandomFile(t, hd, 1<<20, 4)
	cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", hd)
	cmd.Stdin = strings.NewReader("label: dos\nstart=1, size=2047, type=83\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	return dir
}

func TestElToritoXorriso(t *testing.T) {
	isotest.RequireTool(t, "xorriso", "mkfs.vfat", "mmd", "mcopy", "sfdisk")
	dir := btFixture(t)
	root := filepath.Join(dir, "root")
	tests := []struct {
		name string
		args []string
		// extra files copied into the tree before building
		extra []string
		// wantSource lists the expected SizeSource per entry.
		wantSource []string
		// appended names the file behind an entry with no path in the tree.
		appended string
	}{
		{name: "bios-noemul", args: []string{"-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4"},
			wantSource: []string{"sector count"}},
		{name: "bios-uefi-floppy", args: []string{"-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4",
			"-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", "-eltorito-alt-boot", "-b", "floppy.img"},
			wantSource: []string{"sector count", "sector count", "floppy emulation"}},
		{name: "harddisk", args: []string{"-b", "hd.img", "-hard-disk-boot"},
			wantSource: []string{"mbr in boot image"}},
		{name: "uefi-count-overflow", args: []string{"-e", "big.img", "-no-emul-boot"}, extra: []string{"big.img"},
			wantSource: []string{"fat boot sector"}},
		{name: "appended-partition", args: []string{"-append_partition", "2", "0xef", "../efi-app.img",
			"-e", "--interval:appended_partition_2:all::", "-no-emul-boot"},
			wantSource: []string{"sector count"}, appended: "efi-app.img"},
		{name: "partition-offset-gpt", args: []string{"-append_partition", "2", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "../efi-app.img",
			"-appended_part_as_gpt", "-e", "--interval:appended_partition_2:all::", "-no-emul-boot", "-partition_offset", "16",
			"-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4"},
			wantSource: []string{"sector count", "sector count"}, appended: "efi-app.img"},
	}
	btFATImage(t, dir, "efi-app.img", 1440)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.extra {
				if err := os.Link(filepath.Join(dir, e), filepath.Join(root, e)); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(filepath.Join(root, e))
			}
			iso := filepath.Join(dir, tc.name+".iso")
			defer os.Remove(iso)
			saRun(t, root, "xorriso", append(append([]string{"-as", "mkisofs", "-R", "-o", iso}, tc.args...), ".")...)
			img, err := os.ReadFile(iso)
			if err != nil {
				t.Fatal(err)
			}
			wantCat, want := btXorrisoReport(t, iso)
			lba, ok := btCatalogLBA(img)
			if !ok {
				t.Fatal("no boot record descriptor found")
			}
			if int64(lba) != wantCat {
				t.Errorf("catalog LBA %d, xorriso says %d", lba, wantCat)
			}
			cat, err := ReadBootCatalog(bytes.NewReader(img), int64(len(img)), lba)
			if err != nil {
				t.Fatal(err)
			}
			if len(cat.Warnings) != 0 {
				t.Errorf("warnings on a clean image: %q", cat.Warnings)
			}
			if len(cat.Entries) != len(want) {
				t.Fatalf("%d entries, xorriso reports %d: %+v", len(cat.Entries), len(want), cat.Entries)
			}
			for i, e := range cat.Entries {
				w := want[i]
				if e.Platform != btPlatforms[w.platform] || e.Bootable != w.bootable || e.Emulation != btEmulations[w.emul] ||
					uint64(e.LoadSegment) != w.loadSeg || int64(e.SectorCount) != w.count || int64(e.LBA) != w.lba {
					t.Errorf("entry %d = %+v, xorriso reports %+v", i+1, e, w)
				}
				if e.SizeSource != tc.wantSource[i] {
					t.Errorf("entry %d size source %q, want %q", i+1, e.SizeSource, tc.wantSource[i])
				}
				if e.Index != i+1 || e.Offset != int64(e.LBA)*2048 || !strings.HasPrefix(e.Name, "boot-"+strconv.Itoa(i+1)+"-") {
					t.Errorf("entry %d index/offset/name: %+v", i+1, e)
				}
				src := filepath.Join(root, strings.TrimPrefix(w.path, "/"))
				if w.path == "" {
					src = filepath.Join(dir, tc.appended)
				}
				orig, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if w.blocks > 0 && w.blocks*2048 != e.Size {
					t.Errorf("entry %d size %d, xorriso reports %d blocks", i+1, e.Size, w.blocks)
				}
				if e.Size != int64(len(orig)) || !bytes.Equal(img[e.Offset:e.Offset+e.Size], orig) {
					t.Errorf("entry %d: %d bytes at %d (%s) differ from %s (%d bytes)", i+1, e.Size, e.Offset, e.SizeSource, src, len(orig))
				}
			}
		})
	}
}

// btBuild makes a small BIOS+UEFI image and returns it with its catalog LBA.
func btBuild(t testing.TB) ([]byte, uint32) {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "mkfs.vfat", "mmd", "mcopy")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	os.WriteFile(filepath.Join(root, "boot.img"), bytes.Repeat([]byte{0xB0}, 2048), 0o644)
	saRun(t, root, "mkfs.vfat", "-C", "efi.img", "64")
	saRun(t, root, "xorriso", "-as", "mkisofs", "-o", "../t.iso", "-b", "boot.img", "-no-emul-boot", "-boot-load-size", "4",
		"-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", ".")
	img, err := os.ReadFile(filepath.Join(dir, "t.iso"))
	if err != nil {
		t.Fatal(err)
	}
	lba, ok := btCatalogLBA(img)
	if !ok {
		t.Fatal("no boot record")
	}
	return img, lba
}

// btFixChecksum recomputes the validation entry checksum of the catalog at c.
func btFixChecksum(c []byte) {
	c[28], c[29] = 0, 0
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(c[i:])
	}
	binary.LittleEndian.PutUint16(c[28:], -sum)
}

func TestElToritoDamaged(t *testing.T) {
	clean, lba := btBuild(t)
	catOff := int(lba) * 2048
	tests := []struct {
		name    string
		mutate  func(img []byte) []byte
		lba     uint32
		wantErr error
		warn    string // substring of an expected warning
		check   func(t *testing.T, c *BootCatalog)
	}{
		{name: "clean", mutate: func(b []byte) []byte { return b },
			check: func(t *testing.T, c *BootCatalog) {
				if len(c.Entries) != 2 || c.Entries[1].Platform != "uefi" || c.Entries[1].Section != 1 || c.Entries[0].Section != 0 {
					t.Errorf("entries %+v", c.Entries)
				}
			}},
		{name: "bad key bytes", mutate: func(b []byte) []byte { b[catOff+31] = 0; return b }, wantErr: core.ErrCorrupt},
		{name: "bad header id", mutate: func(b []byte) []byte { b[catOff] = 2; return b }, wantErr: core.ErrCorrupt},
		{name: "bad checksum", mutate: func(b []byte) []byte { b[catOff+4] ^= 0xFF; return b }, warn: "checksum"},
		{name: "catalog beyond end", mutate: func(b []byte) []byte { return b }, lba: 1 << 30, wantErr: core.ErrTruncated},
		{name: "bad default indicator", mutate: func(b []byte) []byte { b[catOff+32] = 0x77; return b }, wantErr: core.ErrCorrupt},
		{name: "uefi count 1 uses FAT size", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[catOff+3*32+6:], 1)
			return b
		}, check: func(t *testing.T, c *BootCatalog) {
			if e := c.Entries[1]; e.SizeSource != "fat boot sector" || e.Size != 64*1024 {
				t.Errorf("uefi entry %+v", e)
			}
		}},
		{name: "section claims 65535 entries", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[catOff+2*32+2:], 0xFFFF)
			// Fill the catalog's maximum span with copies of the entry.
			for o := catOff + 4*32; o < catOff+maxBootCatalogSectors*2048 && o+32 <= len(b); o += 32 {
				copy(b[o:o+32], b[catOff+3*32:catOff+4*32])
			}
			return b
		}, warn: "boot entries"},
		{name: "extension chain runs to the cap", mutate: func(b []byte) []byte {
			b[catOff+3*32+1] |= bootMediaContinue
			for o := catOff + 4*32; o < catOff+maxBootCatalogSectors*2048 && o+32 <= len(b); o += 32 {
				b[o], b[o+1] = bootExtensionEntry, bootExtContinue
			}
			return b
		}, warn: "past 4 sectors"},
		{name: "image ends inside catalog", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[catOff+2*32+2:], 200)
			return b[:catOff+4*32]
		}, warn: "past the end of the image"},
		{name: "boot image beyond end", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[catOff+32+8:], 1<<31)
			return b
		}, warn: "beyond the image end"},
		{name: "boot image clamped", mutate: func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[catOff+32+6:], 0xFFFF)
			return b
		}, warn: "clamped", check: func(t *testing.T, c *BootCatalog) {
			if e := c.Entries[0]; e.Offset+e.Size != int64(len(clean)) || !strings.HasSuffix(e.SizeSource, "clamped to image end") {
				t.Errorf("entry %+v not clamped to %d", e, len(clean))
			}
		}},
		{name: "unknown header byte", mutate: func(b []byte) []byte { b[catOff+2*32] = 0x42; return b }, warn: "unexpected header byte",
			check: func(t *testing.T, c *BootCatalog) {
				if len(c.Entries) != 1 {
					t.Errorf("%d entries", len(c.Entries))
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.mutate(bytes.Clone(clean))
			l := lba
			if tc.lba != 0 {
				l = tc.lba
			}
			cat, err := ReadBootCatalog(bytes.NewReader(img), int64(len(img)), l)
			if tc.wantErr != nil {
				var fe *core.FormatError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &fe) {
					t.Fatalf("error %v, want %v in a FormatError", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			found := tc.warn == ""
			for _, w := range cat.Warnings {
				found = found || strings.Contains(w, tc.warn)
			}
			if !found || (tc.warn == "" && len(cat.Warnings) > 0) {
				t.Errorf("warnings %q, want one containing %q", cat.Warnings, tc.warn)
			}
			if len(cat.Entries) > maxBootEntries {
				t.Errorf("%d entries exceed the cap", len(cat.Entries))
			}
			for _, e := range cat.Entries {
				if e.Offset+e.Size > int64(len(img)) && e.Size > 0 {
					t.Errorf("entry %d extends past the image", e.Index)
				}
			}
			if tc.check != nil {
				tc.check(t, cat)
			}
		})
	}
}

func TestElToritoBootRecord(t *testing.T) {
	img, lba := btBuild(t)
	var found int
	for s := 16; s < 32; s++ {
		sec := img[s*2048 : (s+1)*2048]
		got, ok := ParseBootRecord(sec)
		if ok {
			found++
			if got != lba {
				t.Errorf("sector %d: catalog %d, want %d", s, got, lba)
			}
			bad := bytes.Clone(sec)
			bad[7+5] = 'X'
			if _, ok := ParseBootRecord(bad); ok {
				t.Error("accepted a wrong boot system identifier")
			}
			if _, ok := ParseBootRecord(sec[:0x40]); ok {
				t.Error("accepted a short sector")
			}
		}
	}
	if found != 1 {
		t.Errorf("%d boot records found, want 1", found)
	}
}

// TestElToritoCorpus opens the catalog of every corpus image that has one,
// and of every image at every plausible catalog LBA: no panic, bounded output.
func TestElToritoCorpus(t *testing.T) {
	for _, p := range saCorpusImages(t) {
		img, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if lba, ok := btCatalogLBA(img); ok {
			cat, err := ReadBootCatalog(bytes.NewReader(img), int64(len(img)), lba)
			t.Logf("%s: catalog at %d: %+v %v", p, lba, cat, err)
		}
		for lba := uint32(0); int64(lba)*2048 < int64(len(img)) && lba < 64; lba++ {
			cat, err := ReadBootCatalog(bytes.NewReader(img), int64(len(img)), lba)
			if err == nil && len(cat.Entries) > maxBootEntries {
				t.Errorf("%s lba %d: %d entries", p, lba, len(cat.Entries))
			}
		}
	}
}

// btCompactSeed turns an image into a small fuzz input: the catalog sector
// at LBA 0 followed by the first sector of every boot image, with the
// entries' LBAs rewritten to point at them.
func btCompactSeed(img []byte, lba uint32) []byte {
	off := int(lba) * 2048
	if off+2048 > len(img) {
		return nil
	}
	out := bytes.Clone(img[off : off+2048])
	for o := 32; o+32 <= 2048; o += 32 {
		if out[o] != bootIndicatorBoot {
			continue
		}
		src := int(binary.LittleEndian.Uint32(out[o+8:])) * 2048
		binary.LittleEndian.PutUint32(out[o+8:], uint32(len(out)/2048))
		sec := make([]byte, 2048)
		if src < len(img) {
			copy(sec, img[src:])
		}
		out = append(out, sec...)
	}
	return out
}

func FuzzBootCatalog(f *testing.F) {
	if img, lba := btBuild(f); img != nil {
		f.Add(btCompactSeed(img, lba), uint32(0))
	}
	for _, p := range saCorpusImages(f) {
		img, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if lba, ok := btCatalogLBA(img); ok {
			f.Add(btCompactSeed(img, lba), uint32(0))
		}
		// The descriptors as a catalog candidate; kept small so the
		// fuzzer's input minimisation stays fast.
		if len(img) >= 18*2048 {
			f.Add(bytes.Clone(img[16*2048:18*2048]), uint32(0))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, lba uint32) {
		cat, err := ReadBootCatalog(bytes.NewReader(data), int64(len(data)), lba%64)
		if err != nil {
			return
		}
		if len(cat.Entries) > maxBootEntries {
			t.Fatalf("%d entries", len(cat.Entries))
		}
		for _, e := range cat.Entries {
			if e.Size < 0 || (e.Size > 0 && e.Offset+e.Size > int64(len(data))) {
				t.Fatalf("entry %+v outside %d bytes", e, len(data))
			}
		}
	})
}
