package usbboot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// fakePE builds the headers of a PE image for machine m: DOS header with
// e_lfanew, PE signature, COFF header, optional header with subsystem.
func fakePE(m uint16, plus bool, subsystem uint16) []byte {
	b := make([]byte, 0x80+24+240)
	b[0], b[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	h := b[0x80:]
	copy(h, "PE\x00\x00")
	binary.LittleEndian.PutUint16(h[4:], m)
	binary.LittleEndian.PutUint16(h[20:], 240)
	magic := uint16(0x10b)
	if plus {
		magic = 0x20b
	}
	binary.LittleEndian.PutUint16(h[24:], magic)
	binary.LittleEndian.PutUint16(h[24+68:], subsystem)
	return b
}

func TestReadPEHeader(t *testing.T) {
	for _, tc := range []struct {
		m    uint16
		plus bool
		arch string
	}{{MachineAMD64, true, "x64"}, {MachineI386, false, "ia32"}, {MachineARM64, true, "arm64"}, {MachineARMThumb2, false, "arm"},
		{MachineRISCV64, true, "riscv64"}, {MachineLoongArch64, true, "loongarch64"}, {MachineIA64, true, "ia64"}, {0x1234, true, "0x1234"}} {
		h, err := ReadPEHeader(bytes.NewReader(fakePE(tc.m, tc.plus, 10)))
		if err != nil || h.Arch != tc.arch || !h.EFIApplication || h.PE32Plus != tc.plus {
			t.Errorf("machine %#x: %+v, %v", tc.m, h, err)
		}
	}
	if h, err := ReadPEHeader(bytes.NewReader(fakePE(MachineAMD64, true, 3))); err != nil || h.EFIApplication {
		t.Errorf("console subsystem: %+v, %v", h, err)
	}
}

// TestReadPEHeaderHostile: what is not a PE image is one clear error.
func TestReadPEHeaderHostile(t *testing.T) {
	good := fakePE(MachineAMD64, true, 10)
	mod := func(f func(b []byte)) []byte { b := append([]byte(nil), good...); f(b); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "DOS header"},
		{"no MZ", mod(func(b []byte) { b[0] = 'X' }), "no MZ"},
		{"offset huge", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[0x3c:], 0xfffffff0) }), "PE header offset"},
		{"offset inside", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[0x3c:], 2) }), "PE header offset"},
		{"offset past end", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[0x3c:], 60000) }), "PE header at byte 60000"},
		{"no PE signature", mod(func(b []byte) { b[0x80] = 'N' }), "no PE signature"},
		{"truncated", good[:0x80+10], "PE header at byte 128"},
	} {
		_, err := ReadPEHeader(bytes.NewReader(tc.b))
		if !errors.Is(err, ErrNotPE) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.msg)
		}
	}
	// An optional header too short for a subsystem still gives the machine.
	short := mod(func(b []byte) { binary.LittleEndian.PutUint16(b[0x80+20:], 16) })
	if h, err := ReadPEHeader(bytes.NewReader(short)); err != nil || h.Arch != "x64" || h.EFIApplication {
		t.Errorf("short optional header: %+v, %v", h, err)
	}
}

// TestRealEFIBinary: grub's x86_64 EFI binary reads as x64.
func TestRealEFIBinary(t *testing.T) {
	p := isotest.GrubMarkerEFI(t, t.TempDir(), "MARK")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := ReadPEHeader(f)
	if err != nil || h.Arch != "x64" || !h.EFIApplication || !h.PE32Plus {
		t.Fatalf("%+v, %v", h, err)
	}
}

func openISO(t testing.TB, p string) *isofmt.Image {
	t.Helper()
	img, err := isofmt.OpenFile(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// TestInspect: each kind of image gets its verdict, architectures and
// editions, from images built by xorriso and genisoimage.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	x64 := isotest.GrubMarkerEFI(t, dir, "MARK")
	ia32 := filepath.Join(dir, "BOOTIA32.EFI")
	aa64 := filepath.Join(dir, "BOOTAA64.EFI")
	if err := os.WriteFile(ia32, fakePE(MachineI386, false, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aa64, fakePE(MachineARM64, true, 10), 0o644); err != nil {
		t.Fatal(err)
	}
	efiImg := filepath.Join(dir, "efi.img")
	isotest.BuildEFIImage(t, efiImg, x64, "BOOTX64.EFI")
	loader, _ := os.ReadFile(x64)
	ia32b, _ := os.ReadFile(ia32)
	aa64b, _ := os.ReadFile(aa64)
	wimb, err := os.ReadFile("../wim/testdata/two-images-lzx.wim")
	if err != nil {
		t.Fatal(err)
	}

	tree := func(name string, files map[string][]byte) string {
		d := filepath.Join(dir, name)
		isotest.WriteFiles(t, d, files)
		return d
	}
	plainUEFI := isotest.BuildUEFIISO(t, filepath.Join(dir, "uefi.iso"), isotest.UEFIISO{
		Tree: tree("uefi", map[string][]byte{"EFI/BOOT/BOOTX64.EFI": loader, "EFI/BOOT/BOOTIA32.EFI": ia32b, "readme.txt": []byte("hi")}), EFIImage: efiImg})
	onlyBootImage := isotest.BuildUEFIISO(t, filepath.Join(dir, "bootimg.iso"), isotest.UEFIISO{
		Tree: tree("bootimg", map[string][]byte{"readme.txt": []byte("hi")}), EFIImage: efiImg})
	hybrid := isotest.BuildUEFIISO(t, filepath.Join(dir, "hybrid.iso"), isotest.UEFIISO{
		Tree: tree("hybrid", map[string][]byte{"EFI/BOOT/BOOTX64.EFI": loader}), EFIImage: efiImg, Hybrid: true})
	windows := isotest.BuildWindowsLikeISO(t, filepath.Join(dir, "win.iso"), isotest.WindowsLike{
		Tree: tree("win", map[string][]byte{"bootmgr": []byte("bootmgr"), "bootmgr.efi": loader[:4096], "setup.exe": []byte("MZ"),
			"efi/boot/bootx64.efi": loader, "efi/boot/bootaa64.efi": aa64b, "sources/install.wim": wimb, "sources/boot.wim": wimb}),
		EFIImage: efiImg})
	dataOnly := filepath.Join(dir, "data.iso")
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", dataOnly, tree("data", map[string][]byte{"a.txt": []byte("a")}))

	for _, tc := range []struct {
		name    string
		iso     string
		verdict Verdict
		archs   string
		tree    bool
	}{
		{"non-hybrid UEFI", plainUEFI, NeedsFileCopy, "ia32,x64", true},
		{"EFI only in the El Torito image", onlyBootImage, NeedsFileCopy, "x64", false},
		{"hybrid", hybrid, RawCopyBoots, "x64", true},
		{"Windows-like", windows, NeedsFileCopy, "arm64,x64", true},
		{"data only", dataOnly, NotBootable, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Inspect(openISO(t, tc.iso))
			if r.Verdict != tc.verdict || strings.Join(r.Archs, ",") != tc.archs || r.TreeHasEFIBoot != tc.tree || r.Reason == "" {
				t.Fatalf("report %+v", r)
			}
			if tc.name == "Windows-like" {
				w := r.Windows
				if w == nil || w.Err != "" || len(w.Editions) != 2 || w.Editions[0].Edition() != "Professional" || w.Editions[1].Arch != "arm64" ||
					!strings.EqualFold(w.WIM, "sources/install.wim") {
					t.Fatalf("windows %+v", w)
				}
				var inBoot bool
				for _, e := range r.EFI {
					inBoot = inBoot || e.InBootImage && e.Arch == "x64"
				}
				if !inBoot {
					t.Errorf("loader in efisys.bin not found: %+v", r.EFI)
				}
			} else if r.Windows != nil {
				t.Errorf("windows %+v", r.Windows)
			}
		})
	}
}
