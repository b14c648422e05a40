//go:build linux

package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/isofsd/isofsd/fatfs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/writer/filecopy"
)

// windowsLikeISO builds small Windows-like media: UDF bridge, bootmgr,
// a real (small) install.wim, the grub marker loader in the tree and in
// efisys.bin. With FileCopyOptions{SplitAbove: 1 << 10, WIMPartSize:
// 3500} its install.wim splits into two parts.
func windowsLikeISO(t testing.TB, dir string) string {
	t.Helper()
	loader := isotest.GrubMarkerEFI(t, dir, "MARK")
	efi := filepath.Join(dir, "efisys.bin")
	isotest.BuildEFIImage(t, efi, loader, "BOOTX64.EFI")
	lb, _ := os.ReadFile(loader)
	wb, err := os.ReadFile("../wim/testdata/two-images-lzx.wim")
	if err != nil {
		t.Fatal(err)
	}
	_, rnd := randomImage(t, dir, 3<<20+5, 77)
	tree := filepath.Join(dir, "win")
	isotest.WriteFiles(t, tree, map[string][]byte{"bootmgr": rnd[:40000], "setup.exe": rnd[40000:90000], "efi/boot/bootx64.efi": lb,
		"sources/install.wim": wb, "sources/boot.wim": rnd, "support/readme.txt": []byte("readme\n")})
	return isotest.BuildWindowsLikeISO(t, filepath.Join(dir, "win.iso"), isotest.WindowsLike{Tree: tree, EFIImage: efi})
}

var smallSplit = FileCopyOptions{SplitAbove: 1 << 10, WIMPartSize: 3500}

// checkDrive reads a written drive with independent tools: the
// partition table (sgdisk -v for GPT), fsck.fat -n on the partition, and
// mtools listing the split parts.
func checkDrive(t testing.TB, drive string, d *filecopy.Disk) {
	t.Helper()
	isotest.RequireTool(t, "sgdisk", "fsck.fat", "mdir")
	if out := run(t, "sgdisk", "-v", drive); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v %s:\n%s", drive, out)
	}
	part := filepath.Join(t.TempDir(), "part.img")
	run(t, "dd", "if="+drive, "of="+part, "bs=1M", "skip=1", fmt.Sprintf("count=%d", d.PartSize>>20), "status=none")
	if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n: %v\n%s", err, out)
	}
	cmd := exec.Command("mdir", "-/", "-b", "-i", fmt.Sprintf("%s@@%d", part, 0), "::")
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "::/sources/install.swm\n") || !strings.Contains(string(out), "::/sources/install2.swm\n") ||
		strings.Contains(string(out), "install.wim") || !strings.Contains(string(out), "::/efi/boot/bootx64.efi\n") {
		t.Errorf("mdir: %v\n%s", err, out)
	}
}

// TestFileCopyTargets writes a Windows-like image in file-copy mode (auto
// picks it) to two loop devices of different sizes (O_DIRECT) and a file
// at once: one stream, each drive with its own GPT at its own end, all
// passing sgdisk, fsck.fat and mtools, each verified file by file.
func TestFileCopyTargets(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	iso := windowsLikeISO(t, dir)
	small, smallBack := newLoop(t, dir, 72<<20)
	big, bigBack := newLoop(t, dir, 96<<20+512*3)
	file := filepath.Join(dir, "vm-disk.img")
	p, err := Prepare(iso, []string{small, big, file}, Options{Policy: Policy{AllowLoop: true}, ToFile: true, FileCopy: smallSplit})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	if p.Mode != ModeFiles || p.Disk == nil || p.Disk.Size != 72<<20 {
		t.Fatalf("mode %s (%s), disk %+v", p.Mode, p.ModeReason, p.Disk)
	}
	d := p.Disk
	rep, err := p.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Err != nil || !r.Verified || r.FilesVerified != len(d.Plan.Files) {
			t.Fatalf("%s: %v, verified %v, %d files of %d", r.Target, r.Err, r.Verified, r.FilesVerified, len(d.Plan.Files))
		}
		if r.Target != file && !r.Direct {
			t.Errorf("%s: not O_DIRECT", r.Target)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != d.Size {
		t.Errorf("file target: %v, want %d bytes", fi, d.Size)
	}
	for _, drive := range []string{smallBack, bigBack, file} {
		checkDrive(t, drive, d)
	}
}

// TestFileCopy4KSectors: a drive with 4096-byte logical sectors gets a GPT
// and a FAT32 of 4096-byte sectors (sgdisk reads the device itself).
func TestFileCopy4KSectors(t *testing.T) {
	requireLoop(t)
	isotest.RequireTool(t, "sgdisk")
	dir := t.TempDir()
	iso := windowsLikeISO(t, dir)
	dev, back := newLoop(t, dir, 300<<20, "-b", "4096")
	rep := writeAll(t, iso, []string{dev}, Options{Policy: Policy{AllowLoop: true}, FileCopy: smallSplit})
	if r := rep.Results[0]; r.Err != nil || !r.Verified {
		t.Fatalf("%v", r.Err)
	}
	if out := run(t, "sgdisk", "-v", dev); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v:\n%s", out)
	}
	f, err := os.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := fatfs.Open(io.NewSectionReader(f, filecopy.PartitionStart, 200<<20), 200<<20)
	if err != nil || v.BytesPerSector != 4096 {
		t.Fatalf("FAT volume: %+v, %v", v, err)
	}
}

// cancelSink cancels the write after a number of stream writes.
type cancelSink struct {
	sink
	left   *atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelSink) WriteAt(p []byte, off int64) (int, error) {
	if c.left.Add(-1) == 0 {
		c.cancel()
	}
	return c.sink.WriteAt(p, off)
}

// TestFileCopyInterrupted: Ctrl-C in the middle of a file-copy write to a
// drive that held a complete stick leaves a drive that is clearly not
// one: no partition table (not even from the old GPT backup at its end),
// no FAT file system, no ISO 9660 volume.
func TestFileCopyInterrupted(t *testing.T) {
	requireLoop(t)
	dir := t.TempDir()
	iso := windowsLikeISO(t, dir)
	dev, back := newLoop(t, dir, 64<<20)
	rep := writeAll(t, iso, []string{dev}, Options{Policy: Policy{AllowLoop: true}, FileCopy: smallSplit})
	if r := rep.Results[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int32
	left.Store(2)
	p, err := Prepare(iso, []string{dev}, Options{Policy: Policy{AllowLoop: true}, FileCopy: smallSplit, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	p.opts.hooks = &testHooks{wrapSink: func(_ string, s sink) sink { return &cancelSink{sink: s, left: &left, cancel: cancel} }}
	rep, err = p.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("interrupted write: %v", r.Err)
	}
	f, err := os.Open(back)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(64 << 20)
	if sa, err := isofmt.ReadSystemArea(f, size); err == nil && sa != nil && (sa.MBR != nil || sa.GPT != nil) {
		t.Errorf("partition table after the interruption: %+v", sa)
	}
	// sgdisk says so when it finds no GPT (neither primary nor backup).
	if out, _ := exec.Command("sgdisk", "-v", back).CombinedOutput(); !strings.Contains(string(out), "Creating new GPT entries") {
		t.Errorf("sgdisk finds a GPT:\n%s", out)
	}
	if _, _, err := filecopy.FindFAT(f, size); !errors.Is(err, filecopy.ErrNoFAT) {
		t.Errorf("FAT after the interruption: %v", err)
	}
	if _, err := isofmt.Open(f, size, nil); !errors.Is(err, isofmt.ErrNotISO) {
		t.Errorf("ISO volume after the interruption: %v", err)
	}
}

// TestFileCopyVerifyFindsDamage: a file changed on the drive after writing
// fails the verification, which names it.
func TestFileCopyVerifyFindsDamage(t *testing.T) {
	dir := t.TempDir()
	iso := windowsLikeISO(t, dir)
	out := filepath.Join(dir, "drive.img")
	p, err := Prepare(iso, []string{out}, Options{ToFile: true, FileCopy: smallSplit})
	if err != nil {
		t.Fatal(err)
	}
	p.opts.hooks = &testHooks{beforeVerify: func(path string) error {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		v, err := fatfs.Open(io.NewSectionReader(f, p.Disk.PartStart, p.Disk.PartSize), p.Disk.PartSize)
		if err != nil {
			return err
		}
		fi, err := v.Stat("sources/boot.wim")
		if err != nil {
			return err
		}
		e := fi.Sys().(*fatfs.Entry)
		_, err = f.WriteAt([]byte("XX"), p.Disk.PartStart+v.ClusterOffset(e.FirstCluster)+12345)
		return err
	}}
	rep, err := p.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Results[0]; !errors.Is(r.Err, ErrVerify) || !strings.Contains(r.Err.Error(), "/sources/boot.wim: SHA-256") {
		t.Fatalf("verify after damage: %v", r.Err)
	}
}

// TestModeRawWarns: --mode raw on an image that needs file copy warns
// that the result will not boot, and writes the image as it is.
func TestModeRawWarns(t *testing.T) {
	dir := t.TempDir()
	iso := windowsLikeISO(t, dir)
	p, err := Prepare(iso, []string{filepath.Join(dir, "raw.img")}, Options{ToFile: true, Mode: ModeRaw})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Mode != ModeRaw || !strings.Contains(p.ModeWarning, "will not boot") || p.Err() != nil {
		t.Fatalf("mode %s, warning %q, err %v", p.Mode, p.ModeWarning, p.Err())
	}
}
