//go:build linux

package writer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// tree writes files (path → content) under a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestInspectImages builds images with xorriso and genisoimage and checks
// what the inspection reports, the mode auto picks and why, and when the
// write is refused. Windows media were refused before file-copy mode;
// now they get it (a stream of them is refused: file copy needs random
// access).
func TestInspectImages(t *testing.T) {
	isotest.RequireTool(t, "xorriso", "genisoimage")
	win := tree(t, map[string]string{"sources/install.wim": "WIM", "bootmgr": "BOOTMGR", "setup.exe": "MZ"})
	linux := tree(t, map[string]string{"isolinux/isolinux.cfg": "default linux\n", "casper/vmlinuz": "kernel"})
	isolinuxBin := "/usr/lib/ISOLINUX/isolinux.bin"
	isohdpfx := "/usr/lib/ISOLINUX/isohdpfx.bin"
	for _, tc := range []struct {
		name    string
		build   func(out string) *exec.Cmd
		gz      bool
		iso     bool
		hybrid  bool
		windows bool
		mode    Mode
		reason  string
		refused string
	}{
		// oscdimg-like: UDF + Joliet, no partition table.
		{name: "windows udf", build: func(out string) *exec.Cmd {
			return exec.Command("genisoimage", "-quiet", "-J", "-udf", "-o", out, win)
		}, iso: true, windows: true, mode: ModeFiles, reason: "Windows installation media without a partition table"},
		{name: "windows udf, gzip stream", gz: true, build: func(out string) *exec.Cmd {
			return exec.Command("genisoimage", "-quiet", "-J", "-udf", "-o", out, win)
		}, iso: true, windows: true, mode: ModeFiles, refused: "decompress it to a file first"},
		// The same files behind an MBR partition covering the volume boot
		// as a disk: not refused.
		{name: "windows files, hybrid", build: func(out string) *exec.Cmd {
			return exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-partition_offset", "16", "-o", out, win)
		}, iso: true, hybrid: true, mode: ModeRaw, reason: "isohybrid"},
		{name: "isolinux isohybrid", build: func(out string) *exec.Cmd {
			if _, err := os.Stat(isohdpfx); err != nil {
				return nil
			}
			os.MkdirAll(filepath.Join(linux, "isolinux"), 0o755)
			b, _ := os.ReadFile(isolinuxBin)
			os.WriteFile(filepath.Join(linux, "isolinux", "isolinux.bin"), b, 0o644)
			return exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-isohybrid-mbr", isohdpfx,
				"-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4",
				"-boot-info-table", "-o", out, linux)
		}, iso: true, hybrid: true, mode: ModeRaw, reason: "isohybrid"},
		{name: "plain iso", build: func(out string) *exec.Cmd {
			return exec.Command("xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", out, linux)
		}, iso: true, mode: ModeRaw, reason: "does not boot from USB either way"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "image.iso")
			cmd := tc.build(img)
			if cmd == nil {
				t.Skip("isolinux files not installed")
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			src := img
			if tc.gz {
				src = compressWith(t, "gzip", img)
			}
			p, err := Prepare(src, []string{filepath.Join(dir, "out.img")}, Options{ToFile: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			in := p.Image
			if in.ISO != tc.iso || in.IsoHybrid != tc.hybrid || in.WindowsInstall != tc.windows {
				t.Errorf("inspection %+v, want iso %v hybrid %v windows %v", in, tc.iso, tc.hybrid, tc.windows)
			}
			if p.Mode != tc.mode || !strings.Contains(p.ModeReason, tc.reason) {
				t.Errorf("mode %s (%s), want %s (%s)", p.Mode, p.ModeReason, tc.mode, tc.reason)
			}
			refused := errors.Is(p.Err(), ErrRefused)
			if refused != (tc.refused != "") || refused && !strings.Contains(p.Err().Error(), tc.refused) {
				t.Errorf("refused=%v (%v), want %q", refused, p.Err(), tc.refused)
			}
		})
	}
	t.Run("raw disk image", func(t *testing.T) {
		dir := t.TempDir()
		img, _ := randomImage(t, dir, 1<<20, 11)
		in := Inspect(mustSource(t, img))
		if in.ISO || in.WindowsInstall || in.NotISO == "" {
			t.Errorf("random bytes inspected as %+v", in)
		}
	})
}

func mustSource(t *testing.T, path string) *Source {
	t.Helper()
	s, err := OpenSource(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestImplantedMD5 writes an image carrying isomd5sum data to a loop
// device and checks the report against checkisomd5 run on the device.
func TestImplantedMD5(t *testing.T) {
	requireLoop(t)
	isotest.RequireTool(t, "xorriso", "implantisomd5", "checkisomd5")
	dir := t.TempDir()
	root := tree(t, map[string]string{"README": "hello\n"})
	rnd, _ := randomImage(t, dir, 3<<20, 12)
	os.Rename(rnd, filepath.Join(root, "data.bin"))
	img := filepath.Join(dir, "md5.iso")
	run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", img, root)
	run(t, "implantisomd5", img)
	// A copy damaged after the sum was implanted, as by a bad download:
	// it writes and verifies (the drive holds what the file holds), but
	// the implanted MD5 must fail.
	bad := filepath.Join(dir, "bad.iso")
	b, _ := os.ReadFile(img)
	b[len(b)/2] ^= 1
	os.WriteFile(bad, b, 0o644)

	for _, tc := range []struct {
		name, src string
		ok        bool
	}{{"intact", img, true}, {"damaged", bad, false}} {
		t.Run(tc.name, func(t *testing.T) {
			dev, _ := newLoop(t, dir, 8<<20)
			rep := writeAll(t, tc.src, []string{dev}, Options{Policy: Policy{AllowLoop: true}})
			if r := rep.Results[0]; r.Err != nil || !r.Verified {
				t.Fatalf("write: %v", r.Err)
			}
			m := rep.ImplantedMD5
			if m == nil || m.OK != tc.ok || m.Target != dev {
				t.Fatalf("implanted MD5 result %+v, want ok=%v", m, tc.ok)
			}
			// Oracle: checkisomd5 on the device itself.
			err := exec.Command("checkisomd5", dev).Run()
			if (err == nil) != tc.ok {
				t.Errorf("checkisomd5 %s: %v, ours says ok=%v", dev, err, m.OK)
			}
		})
	}
}

// TestExecuteCancel: a cancelled context stops the write and fails the targets.
func TestExecuteCancel(t *testing.T) {
	dir := t.TempDir()
	img, _ := randomImage(t, dir, 8<<20, 13)
	p, err := Prepare(img, []string{filepath.Join(dir, "o.img")}, Options{ToFile: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := p.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; !errors.Is(r.Err, context.Canceled) {
		t.Errorf("err = %v, want canceled", r.Err)
	}
}
