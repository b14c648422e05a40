//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// winISO builds small Windows-like media with a real (small) WIM, which
// the hidden testing flags split into several parts.
func winISO(t *testing.T, dir string) string {
	t.Helper()
	loader := isotest.GrubMarkerEFI(t, dir, "MARK")
	efi := filepath.Join(dir, "efisys.bin")
	isotest.BuildEFIImage(t, efi, loader, "BOOTX64.EFI")
	lb, _ := os.ReadFile(loader)
	wb, err := os.ReadFile("../../wim/testdata/two-images-lzx.wim")
	if err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "win")
	isotest.WriteFiles(t, tree, map[string][]byte{"bootmgr": []byte("bootmgr"), "setup.exe": []byte("MZ setup"),
		"efi/boot/bootx64.efi": lb, "sources/install.wim": wb, "sources/lang.ini": []byte("[x]\r\n")})
	return isotest.BuildWindowsLikeISO(t, filepath.Join(dir, "win.iso"), isotest.WindowsLike{Tree: tree, EFIImage: efi})
}

var splitFlags = []string{"--split-wim-above", "4K", "--wim-part-size", "4K"}

// TestWriteModes: the decision and its reason are printed before the
// confirmation; bad flag values are usage errors; a stream of Windows
// media is refused (file copy needs random access) unless --mode raw,
// which warns that the drive will not boot; the old refusal is gone.
func TestWriteModes(t *testing.T) {
	dir := t.TempDir()
	iso := winISO(t, dir)
	out := filepath.Join(dir, "stick.img")

	for _, args := range [][]string{{"--mode", "bogus"}, {"--partition-table", "apm"}, {"--wim-part-size", "1"}} {
		if o, code := runCLI(t, "", append(append([]string{"write", "--to-file", "--yes"}, args...), iso, out)...); code != exitUsage {
			t.Errorf("%v: exit %d\n%s", args, code, o)
		}
	}
	// Asked, answered "no": the decision was shown first, nothing written.
	// (An existing file is a target only with --to-file: issue 16.8.)
	os.WriteFile(out, []byte("keep"), 0o644)
	o, code := runCLI(t, "no\n", append(append([]string{"write", "--to-file"}, splitFlags...), iso, out)...)
	if code != exitUsage || !strings.Contains(o, "mode:   files — file copy to a FAT32 partition: Windows installation media") ||
		!strings.Contains(o, "USB:    needs file-copy mode") || !strings.Contains(o, `labelled "CCCOMA_X64F"`) ||
		!strings.Contains(o, "split:  /sources/install.wim (4.5 KiB) into install.swm") || !strings.Contains(o, "not confirmed") {
		t.Fatalf("exit %d\n%s", code, o)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep" {
		t.Fatal("written although not confirmed")
	}
	o, code = runCLI(t, "yes\n", append(append([]string{"write", "--to-file", "--partition-table", "mbr"}, splitFlags...), iso, out)...)
	if code != exitOK || !strings.Contains(o, "files compared with the image") {
		t.Fatalf("exit %d\n%s", code, o)
	}
	if o, code := runCLI(t, "", "verify", out, "--against", iso); code != exitOK || !strings.Contains(o, "split:    /sources/install.wim is split into") {
		t.Errorf("verify --against: exit %d\n%s", code, o)
	}

	// A stream (stdin) of Windows media cannot be file-copied.
	f, err := os.Open(iso)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, _, err = runRootStdin(t, f, "write", "--yes", "--to-file", "-", filepath.Join(dir, "s2.img"))
	if exitCode(err) != exitUsage || !strings.Contains(o+err.Error(), "decompress it to a file first") {
		t.Errorf("stdin: %v\n%s", err, o)
	}
	// --mode raw writes it as it is, with the warning.
	o, code = runCLI(t, "", "write", "--yes", "--to-file", "--mode", "raw", iso, filepath.Join(dir, "raw.img"))
	if code != exitOK || !strings.Contains(o, "WARNING: a raw copy of this image will not boot from a USB drive") {
		t.Errorf("--mode raw: exit %d\n%s", code, o)
	}
}

// runRootStdin runs the command line with f as stdin.
func runRootStdin(t *testing.T, f *os.File, args ...string) (string, string, error) {
	t.Helper()
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	root := newRootCmd(a)
	var o, e strings.Builder
	root.SetOut(&o)
	root.SetErr(&e)
	root.SetIn(f)
	root.SetArgs(args)
	err := root.Execute()
	return o.String(), e.String(), err
}

// TestInfoUSB: info's USB line, architectures and editions, text and JSON.
func TestInfoUSB(t *testing.T) {
	iso := winISO(t, t.TempDir())
	o, code := runCLI(t, "", "info", iso)
	for _, want := range []string{"USB:                   needs file-copy mode", "Boot architectures:    x64",
		`Windows editions in "sources/install.wim"`, `1. "Windows 10 Pro"  edition "Professional", x64, build 10.0.19045.2965, languages "en-US"`,
		`2. "Windows 10 Home"  edition "Core", arm64, build 10.0.22621, languages "de-DE"`} {
		if code != exitOK || !strings.Contains(o, want) {
			t.Fatalf("info lacks %q (exit %d):\n%s", want, code, o)
		}
	}
	o, code = runCLI(t, "", "info", "--json", iso)
	var j struct {
		VolumeID string `json:"volume_id"`
		USB      struct {
			Verdict string   `json:"verdict"`
			Archs   []string `json:"archs"`
			Windows struct {
				Editions []struct {
					Name string `json:"name"`
				} `json:"editions"`
			} `json:"windows"`
		} `json:"usb"`
	}
	if err := json.Unmarshal([]byte(o), &j); err != nil || code != exitOK || j.USB.Verdict != "needs file-copy mode" || len(j.USB.Windows.Editions) != 2 || j.VolumeID == "" {
		t.Fatalf("info --json: %v %+v\n%s", err, j, o)
	}
}

// TestVerifyRawDrive: a drive written raw from a hybrid image and then
// changed the way a booted live system changes it — the GPT backup moved
// to the end of the drive, a persistence partition added after the image
// — verifies against the image with both changes named as harmless; a
// changed byte in a file is damage naming the file. With only a published
// sum, exactly the image's length is hashed, not the drive.
func TestVerifyRawDrive(t *testing.T) {
	isotest.RequireTool(t, "sgdisk")
	dir := t.TempDir()
	loader := isotest.GrubMarkerEFI(t, dir, "MARK")
	efi := filepath.Join(dir, "efi.img")
	isotest.BuildEFIImage(t, efi, loader, "BOOTX64.EFI")
	tree := filepath.Join(dir, "tree")
	payload := []byte(strings.Repeat("live system payload\n", 20000))
	isotest.WriteFiles(t, tree, map[string][]byte{"live/filesystem.squashfs": payload, "README": []byte("hi\n")})
	iso := isotest.BuildUEFIISO(t, filepath.Join(dir, "hybrid.iso"), isotest.UEFIISO{Tree: tree, EFIImage: efi, Hybrid: true})
	isoBytes, _ := os.ReadFile(iso)
	sum := sha256.Sum256(isoBytes)
	sums := filepath.Join(dir, "SHA256SUMS")
	os.WriteFile(sums, []byte(hex.EncodeToString(sum[:])+"  hybrid.iso\n"), 0o644)

	drive := filepath.Join(dir, "drive.img")
	o, code := runCLI(t, "", "write", "--yes", "--to-file", iso, drive)
	if code != exitOK || !strings.Contains(o, "mode:   raw — raw copy: the image carries a partition table") {
		t.Fatalf("write: exit %d\n%s", code, o)
	}
	if err := os.Truncate(drive, 64<<20); err != nil { // the rest of a 64 MiB stick
		t.Fatal(err)
	}
	// Published sum on the untouched drive: the image's own length matches.
	o, code = runCLI(t, "", "verify", drive, "--sums", sums)
	if code != exitOK || !strings.Contains(o, "(the image's own length) match") {
		t.Errorf("verify --sums on the drive: exit %d\n%s", code, o)
	}
	o, code = runCLI(t, "", "verify", drive, "--against", iso)
	if code != exitOK || !strings.Contains(o, "identical to the image") {
		t.Errorf("verify --against, untouched: exit %d\n%s", code, o)
	}

	// What a booted system does: GPT backup to the drive's end, a new
	// partition after the image.
	isotest.Run(t, "sgdisk", "-e", drive)
	isotest.Run(t, "sgdisk", "-n", "0:0:+8M", "-t", "0:8300", "-c", "0:persistence", drive)
	o, code = runCLI(t, "", "verify", drive, "--against", iso)
	if code != exitOK || !strings.Contains(o, "harmless: the partition table in the first 32 KiB differs") ||
		!strings.Contains(o, "the drive's table adds gpt partition 4 (Linux filesystem)") || !strings.Contains(o, "its GPT header points to a backup at byte 67108352") ||
		!strings.Contains(o, "beyond:   gpt partition 4 (Linux filesystem)") {
		t.Errorf("verify --against after the live system's changes: exit %d\n%s", code, o)
	}
	o, code = runCLI(t, "", "verify", drive, "--sums", sums)
	if code != exitUsage || !strings.Contains(o, "compare with the image itself (verify --against IMAGE)") {
		t.Errorf("verify --sums after the changes: exit %d\n%s", code, o)
	}

	// Damage in a file is damage, named.
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := img.Stat("live/filesystem.squashfs")
	off := fi.Sys().(*isofmt.Stat).Extents[0].Offset + 1000
	img.Close()
	f, _ := os.OpenFile(drive, os.O_RDWR, 0)
	f.WriteAt([]byte("X"), off)
	f.Close()
	o, code = runCLI(t, "", "verify", drive, "--against", iso)
	if code != exitDamaged || !strings.Contains(o, "live/filesystem.squashfs") {
		t.Errorf("verify --against after damage: exit %d\n%s", code, o)
	}
}
