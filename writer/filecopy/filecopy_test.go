package filecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, 5))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// testWIM captures a WIM of a few hundred KiB with wimlib.
func testWIM(t testing.TB, dir string) string {
	t.Helper()
	isotest.RequireTool(t, "wimlib-imagex")
	src := filepath.Join(dir, "wim-src")
	files := map[string][]byte{}
	for i := range 40 {
		files[fmt.Sprintf("Windows/System32/f%02d.dll", i)] = randBytes(uint64(i), 5000+i*300)
	}
	isotest.WriteFiles(t, src, files)
	p := filepath.Join(dir, "install.wim")
	isotest.Run(t, "wimlib-imagex", "capture", src, p, "Windows 11 Pro", "--compress=LZX")
	isotest.Run(t, "wimlib-imagex", "append", src, p, "Windows 11 Home", "--compress=LZX")
	return p
}

// windowsISO builds a small Windows-like image: UDF bridge, bootmgr,
// sources/install.wim, a UEFI loader in the tree and in efisys.bin.
func windowsISO(t testing.TB, dir string) (iso string, tree string) {
	t.Helper()
	loader := isotest.GrubMarkerEFI(t, dir, "MARK")
	efiImg := filepath.Join(dir, "efisys.bin")
	isotest.BuildEFIImage(t, efiImg, loader, "BOOTX64.EFI")
	lb, _ := os.ReadFile(loader)
	wb, err := os.ReadFile(testWIM(t, dir))
	must(t, err)
	tree = filepath.Join(dir, "win")
	isotest.WriteFiles(t, tree, map[string][]byte{
		"bootmgr": randBytes(1, 40000), "bootmgr.efi": randBytes(2, 9000), "setup.exe": randBytes(3, 7000),
		"autorun.inf": []byte("[AutoRun.Amd64]\r\nopen=setup.exe\r\n"), "efi/boot/bootx64.efi": lb,
		"sources/install.wim": wb, "sources/boot.wim": randBytes(4, 300000), "sources/lang.ini": []byte("[x]\r\n"),
		"support/logging/empty.txt": nil, "Grüße/日本語.txt": []byte("unicode names\n"),
	})
	old := time.Date(2019, 12, 7, 9, 48, 40, 0, time.UTC)
	filepath.Walk(tree, func(p string, fi os.FileInfo, err error) error { os.Chtimes(p, old, old); return nil })
	iso = isotest.BuildWindowsLikeISO(t, filepath.Join(dir, "win.iso"), isotest.WindowsLike{Tree: tree, EFIImage: efiImg})
	return iso, tree
}

func openImage(t testing.TB, p string) *isofmt.Image {
	t.Helper()
	img, err := isofmt.OpenFile(p, nil)
	must(t, err)
	t.Cleanup(func() { img.Close() })
	return img
}

// writeDrive writes a disk layout to a new file of the disk's size: the
// prologue, the stream and the patches, as package writer does.
func writeDrive(t testing.TB, path string, d *Disk) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	must(t, f.Truncate(d.Size))
	for _, pt := range d.Prologue(d.Size, false) {
		_, err := f.WriteAt(pt.Data, pt.Off)
		must(t, err)
	}
	n, err := io.CopyBuffer(f, d.Stream(), make([]byte, 4<<20))
	must(t, err)
	if n != d.StreamSize {
		t.Fatalf("stream gave %d bytes, planned %d", n, d.StreamSize)
	}
	pts, err := d.Patches(d.Size)
	must(t, err)
	for _, pt := range pts {
		_, err := f.WriteAt(pt.Data, pt.Off)
		must(t, err)
	}
}

func mtools(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null", "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestWindowsDrive: a Windows-like image becomes a GPT (and an MBR) drive
// with one FAT32 partition that independent tools accept — sgdisk/sfdisk
// read the table, fsck.fat finds nothing to fix, mtools lists and reads
// every file identical with its long name and time — whose install.wim is
// split into install.swm, install2.swm… that wimlib verifies as a set,
// and which our own Verify passes (and fails once a byte is changed).
func TestWindowsDrive(t *testing.T) {
	isotest.RequireTool(t, "sgdisk", "sfdisk", "fsck.fat", "mcopy", "mdir", "wimlib-imagex")
	dir := t.TempDir()
	iso, tree := windowsISO(t, dir)
	img := openImage(t, iso)
	if img.Tree() != isofmt.TreeUDF {
		t.Fatalf("richest tree %s", img.Tree())
	}
	p, err := New(img, Options{PartSize: 64 << 10, SplitAbove: 100 << 10})
	must(t, err)
	if len(p.Splits) != 1 || len(p.Splits[0].Parts) < 3 || p.Label != "CCCOMA_X64F" {
		t.Fatalf("plan: splits %+v, label %q, notes %q", p.Splits, p.Label, p.Notes)
	}
	for _, scheme := range []string{GPT, MBR} {
		t.Run(scheme, func(t *testing.T) {
			size, err := p.MinDiskSize(512)
			must(t, err)
			d, err := p.Layout(size+3<<20+512*7, scheme, 512) // a size that is no multiple of 1 MiB
			must(t, err)
			drive := filepath.Join(t.TempDir(), "drive.img")
			writeDrive(t, drive, d)

			switch scheme {
			case GPT:
				if out := isotest.Run(t, "sgdisk", "-v", drive); !strings.Contains(out, "No problems found") {
					t.Errorf("sgdisk -v:\n%s", out)
				}
			case MBR:
				out := isotest.Run(t, "sfdisk", "-d", drive)
				if !strings.Contains(out, "label: dos") || !strings.Contains(out, "start=        2048") || !strings.Contains(out, "type=c, bootable") {
					t.Errorf("sfdisk -d:\n%s", out)
				}
			}
			sa, err := isofmt.ReadSystemArea(openFile(t, drive), d.Size)
			must(t, err)
			found := false
			for _, pt := range sa.Partitions {
				found = found || pt.Start == PartitionStart && pt.Size == d.PartSize && pt.Scheme == scheme
			}
			if !found {
				t.Fatalf("no %s partition at byte %d of %d bytes: %+v", scheme, PartitionStart, d.PartSize, sa.Partitions)
			}
			// fsck.fat on the partition alone.
			part := filepath.Join(t.TempDir(), "part.img")
			isotest.Run(t, "dd", "if="+drive, "of="+part, "bs=1M", "skip=1", fmt.Sprintf("count=%d", d.PartSize>>20), "conv=sparse", "status=none")
			if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil || strings.Contains(strings.ToLower(string(out)), "warn") {
				t.Errorf("fsck.fat -n: %v\n%s", err, out)
			}
			vol := fmt.Sprintf("%s@@%d", drive, PartitionStart)
			if lb := mtools(t, "mlabel", "-s", "-i", vol, "::"); !strings.Contains(lb, "CCCOMA_X64F") {
				t.Errorf("mlabel: %s", lb)
			}
			listing := mtools(t, "mdir", "-/", "-b", "-i", vol, "::")
			for _, want := range []string{"::/sources/install.swm", "::/sources/install2.swm", "::/sources/install3.swm", "::/Grüße/日本語.txt", "::/efi/boot/bootx64.efi"} {
				if !strings.Contains(listing, want+"\n") {
					t.Errorf("mdir does not list %s:\n%s", want, listing)
				}
			}
			if strings.Contains(listing, "install.wim") {
				t.Error("install.wim is on the drive whole")
			}
			out := filepath.Join(t.TempDir(), "out")
			must(t, os.MkdirAll(out, 0o755))
			mtools(t, "mcopy", "-s", "-m", "-n", "-i", vol, "::/", out)
			got := isotest.SnapshotDir(t, out)
			// The oracle is the image's UDF tree (it has genisoimage's
			// boot.catalog besides the source files).
			want := isotest.SnapshotFS(t, img, nil)
			if _, ok := want["bootmgr"]; !ok || len(want) < len(isotest.SnapshotDir(t, tree)) {
				t.Fatalf("image tree %v", want)
			}
			delete(want, "sources/install.wim")
			for k := range got {
				if strings.HasPrefix(k, "sources/install") && strings.HasSuffix(k, ".swm") {
					delete(got, k)
				}
			}
			isotest.Compare(t, want, got, isotest.CompareOptions{IgnorePerm: true, IgnoreDirMTime: true, MTimeStep: 2})
			swms, _ := filepath.Glob(filepath.Join(out, "sources", "install*.swm"))
			if len(swms) != len(p.Splits[0].Parts) {
				t.Fatalf("%d parts copied out, %d planned", len(swms), len(p.Splits[0].Parts))
			}
			isotest.Run(t, "wimlib-imagex", "verify", filepath.Join(out, "sources", "install.swm"), "--ref="+filepath.Join(out, "sources", "install*.swm"))

			// Our verification: passes, then names a damaged file.
			r, err := p.Verify(context.Background(), openFile(t, drive), d.Size, VerifyOptions{Own: true})
			if err != nil || r.Files != len(p.Files) || r.Label != "CCCOMA_X64F" {
				t.Fatalf("Verify: %+v, %v", r, err)
			}
			r, err = p.Verify(context.Background(), openFile(t, drive), d.Size, VerifyOptions{})
			if err != nil || len(r.Splits) != 1 || len(r.Extra) != 0 {
				t.Fatalf("Verify as a foreign drive: %+v, %v", r, err)
			}
			damage(t, drive, d, "setup.exe")
			if _, err := p.Verify(context.Background(), openFile(t, drive), d.Size, VerifyOptions{Own: true}); !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "/setup.exe: SHA-256") {
				t.Errorf("Verify after damage: %v", err)
			}
		})
	}
}

func openFile(t testing.TB, p string) *os.File {
	f, err := os.Open(p)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// damage flips a byte in the middle of a planned file on the drive.
func damage(t testing.TB, drive string, d *Disk, fatPath string) {
	t.Helper()
	for _, f := range d.Plan.Files {
		if f.Path == fatPath {
			off := d.PartStart + d.FS.ClusterOffset(f.fat.FirstCluster()) + f.Size/2
			fh, err := os.OpenFile(drive, os.O_RDWR, 0)
			must(t, err)
			defer fh.Close()
			b := []byte{0}
			fh.ReadAt(b, off)
			b[0] ^= 0xff
			_, err = fh.WriteAt(b, off)
			must(t, err)
			return
		}
	}
	t.Fatalf("%s not planned", fatPath)
}

// TestInterruptedDrive: a drive whose write stopped after the prologue and
// part of the stream carries no partition table, no FAT file system and
// no ISO 9660 volume — even when it held a complete drive before.
func TestInterruptedDrive(t *testing.T) {
	dir := t.TempDir()
	iso, _ := windowsISO(t, dir)
	p, err := New(openImage(t, iso), Options{PartSize: 64 << 10, SplitAbove: 100 << 10})
	must(t, err)
	size, err := p.MinDiskSize(512)
	must(t, err)
	d, err := p.Layout(size, GPT, 512)
	must(t, err)
	drive := filepath.Join(dir, "drive.img")
	writeDrive(t, drive, d) // a complete drive first
	// And the raw ISO over its start, as a stick written raw earlier.
	isob, _ := os.ReadFile(iso)
	f, err := os.OpenFile(drive, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(isob[:min(len(isob), 2<<20)], 0)
	must(t, err)
	for _, pt := range d.Prologue(d.Size, true) {
		_, err := f.WriteAt(pt.Data, pt.Off)
		must(t, err)
	}
	half := make([]byte, d.StreamSize/2)
	_, err = io.ReadFull(d.Stream(), half)
	must(t, err)
	_, err = f.WriteAt(half, 0)
	must(t, err)
	f.Close()

	r := openFile(t, drive)
	if sa, err := isofmt.ReadSystemArea(r, d.Size); err == nil && sa != nil && (sa.MBR != nil || sa.GPT != nil) {
		t.Errorf("interrupted drive has a partition table: %+v", sa)
	}
	if _, _, err := FindFAT(r, d.Size); !errors.Is(err, ErrNoFAT) {
		t.Errorf("interrupted drive has a FAT file system: %v", err)
	}
	if _, err := isofmt.Open(r, d.Size, nil); !errors.Is(err, isofmt.ErrNotISO) {
		t.Errorf("interrupted drive has an ISO volume: %v", err)
	}
	if _, err := p.Verify(context.Background(), r, d.Size, VerifyOptions{}); !errors.Is(err, ErrNoFAT) {
		t.Errorf("Verify of the interrupted drive: %v", err)
	}
}

// TestRefusals: files FAT32 cannot hold are named; an install.wim over
// the limit that is no WIM cannot be split. The images hold sparse UDF
// files (udfbuild), so nothing of 4 GiB is written.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	build := func(es ...udfbuild.Entry) string {
		b, err := udfbuild.Build(udfbuild.Options{Revision: 0x0102, VolumeID: "BIG"}, es)
		must(t, err)
		p := filepath.Join(dir, fmt.Sprintf("img%d.iso", len(es)))
		must(t, os.WriteFile(p, b, 0o644))
		return p
	}
	huge := func(p string) udfbuild.Entry {
		return udfbuild.Entry{Path: p, Size: 4<<30 + 4096, Chunks: []udfbuild.Chunk{{Off: 0, Data: []byte("not a WIM")}}, Perm: 0o644}
	}
	_, err := New(openImage(t, build(huge("sources/install.wim"), udfbuild.Entry{Path: "a.txt", Data: []byte("a"), Perm: 0o644})), Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "/sources/install.wim is 4294971392 bytes, over FAT32's limit, and cannot be split: wim: header") {
		t.Errorf("install.wim that is no WIM: %v", err)
	}
	_, err = New(openImage(t, build(huge("big.iso"), huge("sub/other.bin"), udfbuild.Entry{Path: "a.txt", Data: []byte("a"), Perm: 0o644})), Options{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "/big.iso is 4294971392 bytes; /sub/other.bin is 4294971392 bytes: FAT32 holds files of at most 4 GiB") {
		t.Errorf("big files: %v", err)
	}
}

// TestFatName maps names FAT does not allow.
func TestFatName(t *testing.T) {
	for in, want := range map[string]string{"ok.txt": "ok.txt", "a:b?c": "a_b_c", "trailing. ": "trailing", "...": "_", "tab\tx": "tab_x"} {
		if got, _ := fatName(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
	long := strings.Repeat("é", 300)
	if got, changed := fatName(long); len([]rune(got)) != 255 || !changed {
		t.Errorf("long name: %d runes", len([]rune(got)))
	}
}
