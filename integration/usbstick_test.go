//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/writer/filecopy"
)

// Bootable USB drives in file-copy mode, proven with real components:
// OVMF firmware in QEMU boots a drive that has no ISO 9660 at all, and a
// Windows-like image with an install.wim over 4 GiB becomes a drive whose
// split set wimlib verifies.

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// runLong runs the isofsd binary with a long time limit (multi-GiB
// writes) and returns its combined output and exit code.
func runLong(t testing.TB, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, isofsdBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("isofsd %v: %v\n%s", args, err, out.String())
	}
	return out.String(), 0
}

// noISO9660 fails t if any 2048-byte sector of the drive starts a volume
// descriptor ("CD001" after the type byte), or isofmt opens it.
func noISO9660(t testing.TB, drive string) {
	t.Helper()
	f, err := os.Open(drive)
	must(t, err)
	defer f.Close()
	fi, _ := f.Stat()
	if _, err := isofmt.Open(f, fi.Size(), nil); !errors.Is(err, isofmt.ErrNotISO) {
		t.Errorf("%s opens as an ISO image: %v", drive, err)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	sec := make([]byte, 2048)
	for n := int64(0); ; n++ {
		if _, err := io.ReadFull(r, sec); err != nil {
			break
		}
		if string(sec[1:6]) == "CD001" || string(sec[1:6]) == "BEA01" || string(sec[1:6]) == "NSR02" {
			t.Fatalf("%s: a volume descriptor (%q) at sector %d", drive, sec[1:6], n)
		}
	}
}

// bootInQEMU boots drive as a USB disk under OVMF and waits for marker on
// the serial console. It returns the console output.
func bootInQEMU(t testing.TB, drive, marker string) string {
	t.Helper()
	isotest.RequireTool(t, "qemu-system-x86_64")
	for _, f := range []string{ovmfCode, ovmfVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("OVMF firmware missing (%s): apt-get install ovmf", f)
		}
	}
	vars := filepath.Join(t.TempDir(), "vars.fd")
	b, err := os.ReadFile(ovmfVars)
	must(t, err)
	must(t, os.WriteFile(vars, b, 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35", "-m", "512", "-nographic", "-display", "none",
		"-no-reboot", "-drive", "if=pflash,format=raw,readonly=on,file="+ovmfCode, "-drive", "if=pflash,format=raw,file="+vars,
		"-drive", "if=none,id=stick,format=raw,file="+drive, "-device", "qemu-xhci", "-device", "usb-storage,drive=stick",
		"-serial", "stdio", "-monitor", "none")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = cmd.Stdout
	must(t, cmd.Start())
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var console bytes.Buffer
	found := make(chan bool, 1)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := stdout.Read(buf)
			console.Write(buf[:n])
			if strings.Contains(console.String(), marker) {
				found <- true
				return
			}
			if err != nil {
				found <- false
				return
			}
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("QEMU ended without the marker %q; console:\n%s", marker, lastLines(console.String(), 40))
		}
	case <-ctx.Done():
		t.Fatalf("no marker %q on the serial console within the time limit; console:\n%s", marker, lastLines(console.String(), 40))
	}
	return console.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r", ""), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestFileCopyDriveBootsUEFI builds a non-hybrid UEFI ISO (a grub loader
// that prints a marker, as the El Torito EFI image and as
// EFI/BOOT/BOOTX64.EFI), writes it with `isofsd write` (auto picks
// file-copy mode) to a drive image, checks that the drive has no ISO
// 9660 at all — a GPT, one FAT32 partition, EFI/BOOT/BOOTX64.EFI — and
// boots it as a USB disk in QEMU with OVMF. (OVMF would also boot El
// Torito from a raw copy; the drive's lack of any ISO 9660 is what shows
// that file-copy mode made it.) The MBR variant boots too.
func TestFileCopyDriveBootsUEFI(t *testing.T) {
	dir := t.TempDir()
	const marker = "ISOFSD-FILECOPY-BOOTED"
	loader := isotest.GrubMarkerEFI(t, dir, marker)
	efi := filepath.Join(dir, "efi.img")
	isotest.BuildEFIImage(t, efi, loader, "BOOTX64.EFI")
	lb, err := os.ReadFile(loader)
	must(t, err)
	tree := filepath.Join(dir, "tree")
	isotest.WriteFiles(t, tree, map[string][]byte{"EFI/BOOT/BOOTX64.EFI": lb, "README.txt": []byte("non-hybrid UEFI image\n")})
	iso := isotest.BuildUEFIISO(t, filepath.Join(dir, "uefi.iso"), isotest.UEFIISO{Tree: tree, EFIImage: efi, Label: "UEFI_MARKER"})

	out, code := run(t, "info", iso)
	if code != 0 || !strings.Contains(out, "USB:                   needs file-copy mode") || !strings.Contains(out, "Boot architectures:    x64") {
		t.Fatalf("info: exit %d\n%s", code, out)
	}
	for _, scheme := range []string{"gpt", "mbr"} {
		t.Run(scheme, func(t *testing.T) {
			drive := filepath.Join(t.TempDir(), "stick.img")
			out, code := run(t, "write", "--yes", "--to-file", "--partition-table", scheme, iso, drive)
			if code != 0 || !strings.Contains(out, "mode:   files — file copy to a FAT32 partition") || !strings.Contains(out, "written and verified") {
				t.Fatalf("write: exit %d\n%s", code, out)
			}
			noISO9660(t, drive)
			f, err := os.Open(drive)
			must(t, err)
			defer f.Close()
			fi, _ := f.Stat()
			sa, err := isofmt.ReadSystemArea(f, fi.Size())
			if err != nil || sa == nil || (scheme == "gpt") != (sa.GPT != nil) || sa.MBR == nil {
				t.Fatalf("partition table: %+v, %v", sa, err)
			}
			start, size, err := filecopy.FindFAT(f, fi.Size())
			must(t, err)
			v, err := fatfs.Open(io.NewSectionReader(f, start, size), size)
			must(t, err)
			if v.Type != 32 || start != filecopy.PartitionStart {
				t.Fatalf("FAT%d at byte %d", v.Type, start)
			}
			got, err := fs.ReadFile(v, "EFI/BOOT/BOOTX64.EFI")
			if err != nil || sha256.Sum256(got) != sha256.Sum256(lb) {
				t.Fatalf("EFI/BOOT/BOOTX64.EFI on the drive: %d bytes, %v", len(got), err)
			}
			start0 := time.Now()
			bootInQEMU(t, drive, marker)
			t.Logf("booted in %v", time.Since(start0).Round(time.Second))
		})
	}
}

// digHoles makes the zero blocks of path holes again (fallocate
// --dig-holes), so that multi-GiB test files cost little disk and cache.
func digHoles(t testing.TB, path string) {
	t.Helper()
	if out, err := exec.Command("fallocate", "--dig-holes", path).CombinedOutput(); err != nil {
		t.Logf("fallocate --dig-holes %s: %v %s (continuing without)", path, err, out)
	}
}

// bigSparse writes a file of size bytes that is zeros but for a distinct
// header and a few distinct blocks (so wimlib stores it as its own blob).
func bigSparse(t testing.TB, path string, size int64, seed byte) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(size))
	for _, off := range []int64{0, size / 3, size - 4096} {
		b := bytes.Repeat([]byte{seed, byte(off), byte(off >> 8), byte(off >> 16)}, 1024)
		_, err := f.WriteAt(b, off)
		must(t, err)
	}
}

// TestWindowsLikeDriveLargeWIM is the Windows case end to end: a real
// install.wim over 4 GiB made by wimlib (uncompressed capture of distinct
// large files, kept sparse), in media mastered like Windows installers
// (genisoimage -udf -allow-limited-size: the ISO 9660 tree cannot record
// the file, UDF does), written by `isofsd write` in file-copy mode. mtools
// then lists install.swm, install2.swm and no install.wim and reads every
// other file identical; the split set on the drive verifies with wimlib;
// `isofsd verify --against` agrees; and the drive boots in QEMU/OVMF.
func TestWindowsLikeDriveLargeWIM(t *testing.T) {
	isotest.RequireTool(t, "wimlib-imagex")
	isotest.RequireTool(t, "genisoimage")
	isotest.RequireTool(t, "mcopy")
	isotest.RequireTool(t, "fallocate")
	begin := time.Now()
	dir := t.TempDir()
	step := func(what string, since time.Time) {
		t.Logf("%-34s %v", what, time.Since(since).Round(100*time.Millisecond))
	}

	// The WIM: four distinct files of 1.05 GiB, uncompressed: > 4 GiB.
	src := filepath.Join(dir, "wim-src")
	for i := range 4 {
		must(t, os.MkdirAll(filepath.Join(src, "Windows", "Big"), 0o755))
		bigSparse(t, filepath.Join(src, "Windows", "Big", fmt.Sprintf("payload%d.bin", i)), 1<<30+50<<20, byte(i+1))
	}
	isotest.WriteFiles(t, src, map[string][]byte{"Windows/System32/config.sys": []byte("rem\r\n"), "Program Files/readme.txt": []byte("hi\n")})
	tree := filepath.Join(dir, "media")
	must(t, os.MkdirAll(filepath.Join(tree, "sources"), 0o755))
	wimPath := filepath.Join(tree, "sources", "install.wim")
	t0 := time.Now()
	isotest.Run(t, "wimlib-imagex", "capture", src, wimPath, "Windows 11 Pro", "--compress=none")
	isotest.Run(t, "wimlib-imagex", "info", wimPath, "1", "--image-property", "WINDOWS/ARCH=9", "--image-property", "WINDOWS/EDITIONID=Professional")
	digHoles(t, wimPath)
	step("wimlib capture (uncompressed)", t0)
	wfi, err := os.Stat(wimPath)
	must(t, err)
	if wfi.Size() <= 4<<30 {
		t.Fatalf("install.wim is %d bytes, not over 4 GiB", wfi.Size())
	}

	const marker = "ISOFSD-WINDOWS-LIKE-BOOTED"
	loader := isotest.GrubMarkerEFI(t, dir, marker)
	lb, err := os.ReadFile(loader)
	must(t, err)
	efi := filepath.Join(dir, "efisys.bin")
	isotest.BuildEFIImage(t, efi, loader, "BOOTX64.EFI")
	small := map[string][]byte{"bootmgr": bytes.Repeat([]byte("bootmgr"), 50000), "bootmgr.efi": lb[:100000], "setup.exe": bytes.Repeat([]byte("MZ"), 40000),
		"autorun.inf": []byte("[AutoRun.Amd64]\r\nopen=setup.exe\r\n"), "efi/boot/bootx64.efi": lb, "sources/boot.wim": bytes.Repeat([]byte("boot"), 300000),
		"sources/lang.ini": []byte("[Available UI Languages]\r\nen-US = 3\r\n"), "support/logging/logging.dll": bytes.Repeat([]byte{7}, 5000)}
	isotest.WriteFiles(t, tree, small)
	t0 = time.Now()
	iso := isotest.BuildWindowsLikeISO(t, filepath.Join(dir, "win.iso"), isotest.WindowsLike{Tree: tree, EFIImage: efi})
	digHoles(t, iso)
	step("genisoimage -udf", t0)

	out, code := run(t, "info", iso)
	if code != 0 || !strings.Contains(out, "USB:                   needs file-copy mode") || !strings.Contains(out, `"Windows 11 Pro"  edition "Professional", x64`) {
		t.Fatalf("info: exit %d\n%s", code, out)
	}

	drive := filepath.Join(dir, "stick.img")
	t0 = time.Now()
	out, code = runLong(t, "write", "--yes", "--to-file", iso, drive)
	step("isofsd write (file-copy mode)", t0)
	if code != 0 || !strings.Contains(out, "split:  /sources/install.wim") || !strings.Contains(out, "into install.swm, install2.swm") ||
		!strings.Contains(out, "written and verified") {
		t.Fatalf("write: exit %d\n%s", code, out)
	}
	t.Logf("write output:\n%s", lastLines(out, 12))

	// mtools: the listing, and every file but the parts read back identical.
	vol := fmt.Sprintf("%s@@%d", drive, filecopy.PartitionStart)
	mt := func(args ...string) string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", "TZ=UTC")
		o, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, o)
		}
		return string(o)
	}
	listing := mt("mdir", "-/", "-b", "-i", vol, "::")
	for _, want := range []string{"::/sources/install.swm", "::/sources/install2.swm", "::/efi/boot/bootx64.efi", "::/bootmgr"} {
		if !strings.Contains(listing, want+"\n") {
			t.Errorf("mdir does not list %s:\n%s", want, listing)
		}
	}
	if strings.Contains(listing, "install.wim") || strings.Contains(listing, "install3.swm") {
		t.Errorf("unexpected listing:\n%s", listing)
	}
	for name, content := range small {
		got := mt("mtype", "-i", vol, "::/"+name)
		if sha256.Sum256([]byte(got)) != sha256.Sum256(content) {
			t.Errorf("mtype ::/%s: %d bytes differ from the image's %d", name, len(got), len(content))
		}
	}

	// The split set, copied out by mtools (an independent FAT reader),
	// verified by wimlib.
	t0 = time.Now()
	partDir := filepath.Join(dir, "parts")
	must(t, os.MkdirAll(partDir, 0o755))
	mt("mcopy", "-i", vol, "::/sources/install.swm", "::/sources/install2.swm", partDir)
	for _, p := range []string{"install.swm", "install2.swm"} {
		digHoles(t, filepath.Join(partDir, p))
	}
	step("mcopy of the parts", t0)
	t0 = time.Now()
	vout := isotest.Run(t, "wimlib-imagex", "verify", filepath.Join(partDir, "install.swm"), "--ref="+filepath.Join(partDir, "install*.swm"))
	if !strings.Contains(vout, "successfully verified") {
		t.Errorf("wimlib-imagex verify:\n%s", vout)
	}
	if info := isotest.Run(t, "wimlib-imagex", "info", filepath.Join(partDir, "install.swm")); !strings.Contains(info, "Part Number:    1/2") {
		t.Errorf("wimlib-imagex info:\n%s", info)
	}
	step("wimlib verify of the split set", t0)

	t0 = time.Now()
	out, code = runLong(t, "verify", drive, "--against", iso)
	step("isofsd verify --against", t0)
	if code != 0 || !strings.Contains(out, "split into 2 parts") {
		t.Errorf("verify --against: exit %d\n%s", code, out)
	}

	t0 = time.Now()
	bootInQEMU(t, drive, marker)
	step("QEMU/OVMF boot", t0)
	step("total", begin)
}
