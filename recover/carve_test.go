//go:build linux

package recover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// carveFixture is an image placed on a test disk.
type carveFixture struct {
	name string
	path string
	sum  string // sha256 of the original
	// contiguous is measured with filefrag after writing it to the disk.
	contiguous bool
	big        bool
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// carveImages builds the images the carve tests hide on disks: xorriso
// isohybrid images with an EFI partition appended beyond the volume (MBR
// only, and with GPT), an image with an implanted MD5, UDF-only images
// (mkudffs, and libcdio's udf102.iso with a file in it), and optionally a
// 300 MB one large enough to be split by the file system.
func carveImages(t *testing.T, withBig bool) []*carveFixture {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "mkfs.vfat", "mkudffs", "implantisomd5")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.MkdirAll(filepath.Join(tree, "EFI"), 0o755)
	os.WriteFile(filepath.Join(tree, "payload.bin"), randomData(5<<20, 20), 0o644)
	os.WriteFile(filepath.Join(tree, "EFI", "boot.txt"), []byte("boot\n"), 0o644)
	md := run(t, "sh", "-c", "cd "+tree+" && md5sum payload.bin EFI/boot.txt")
	os.WriteFile(filepath.Join(tree, "md5sum.txt"), []byte(md), 0o644)
	efi := filepath.Join(dir, "efi.img")
	run(t, "mkfs.vfat", "-C", efi, "4096")

	var fx []*carveFixture
	add := func(name string) string {
		p := filepath.Join(dir, name)
		fx = append(fx, &carveFixture{name: name, path: p})
		return p
	}
	run(t, "xorriso", "-as", "mkisofs", "-R", "-J", "-V", "HYBRID_MBR", "-o", add("hybrid-mbr.iso"), "-append_partition", "2", "0xef", efi, tree)
	run(t, "xorriso", "-as", "mkisofs", "-R", "-J", "-V", "HYBRID_GPT", "-o", add("hybrid-gpt.iso"), "-append_partition", "2", "0xef", efi, "-appended_part_as_gpt", tree)
	plain := add("plain-md5.iso")
	run(t, "xorriso", "-as", "mkisofs", "-R", "-V", "PLAIN_MD5", "-o", plain, tree)
	run(t, "implantisomd5", plain)
	udf := add("udf-only.img")
	if err := os.WriteFile(udf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(udf, 8<<20)
	run(t, "mkudffs", "--media-type=hd", "--blocksize=2048", "--label=UDFONLY", udf)
	b, err := os.ReadFile(isotest.CorpusFile(t, "libcdio/udf102.iso"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(add("udf102.iso"), b, 0o644)
	if withBig {
		bigTree := filepath.Join(dir, "bigtree")
		os.MkdirAll(bigTree, 0o755)
		os.WriteFile(filepath.Join(bigTree, "big.bin"), randomData(300<<20, 21), 0o644)
		big := add("big.iso")
		run(t, "xorriso", "-as", "mkisofs", "-R", "-V", "BIG", "-o", big, bigTree)
		run(t, "implantisomd5", big)
		fx[len(fx)-1].big = true
		os.RemoveAll(bigTree)
	}
	for _, f := range fx {
		f.sum = sha256File(t, f.path)
	}
	return fx
}

var filefragLine = regexp.MustCompile(`^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.\s*(\d+):`)

// contiguousOnDisk asks filefrag whether a file's blocks are one run.
func contiguousOnDisk(t *testing.T, p string) bool {
	out := run(t, "filefrag", "-e", p)
	next := int64(-1)
	for _, line := range strings.Split(out, "\n") {
		m := filefragLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		start, _ := strconv.ParseInt(m[3], 10, 64)
		end, _ := strconv.ParseInt(m[4], 10, 64)
		if next >= 0 && start != next {
			return false
		}
		next = end + 1
	}
	return next >= 0
}

// writeContiguous copies src to dst, preallocating first so ext4 can
// give the file one run when it has the room.
func writeContiguous(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, _ := in.Stat()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	syscall.Fallocate(int(out.Fd()), 0, 0, st.Size()) // a hint; failure only means less contiguity
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		t.Fatal(err)
	}
}

// ext4Disk makes a 1 GiB ext4 file system image, mounts it through a loop
// device, writes the fixtures, records which are contiguous, deletes them
// all and unmounts: the returned disk holds only deleted images.
func ext4Disk(t *testing.T, fx []*carveFixture) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup and mount")
	}
	isotest.RequireTool(t, "mkfs.ext4", "losetup", "mount", "umount", "filefrag")
	dir := t.TempDir()
	disk := filepath.Join(dir, "ext4.img")
	f, err := os.Create(disk)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(1 << 30)
	f.Close()
	run(t, "mkfs.ext4", "-q", "-F", disk)
	loop := strings.TrimSpace(run(t, "losetup", "-f", "--show", disk))
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", loop, mnt).CombinedOutput(); err != nil {
		exec.Command("losetup", "-d", loop).Run()
		t.Skipf("cannot mount ext4 here: %v %s", err, out)
	}
	mounted := true
	defer func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
		exec.Command("losetup", "-d", loop).Run()
	}()
	for _, x := range fx {
		dst := filepath.Join(mnt, x.name)
		writeContiguous(t, x.path, dst)
		x.contiguous = contiguousOnDisk(t, dst)
	}
	run(t, "sync")
	for _, x := range fx {
		os.Remove(filepath.Join(mnt, x.name))
	}
	run(t, "sync")
	run(t, "umount", mnt)
	mounted = false
	return disk
}

// vfatDisk makes a FAT32 disk image with mtools (vfat cannot be mounted
// here), copies the fixtures in and deletes them again.
func vfatDisk(t *testing.T, fx []*carveFixture) string {
	t.Helper()
	isotest.RequireTool(t, "mkfs.vfat", "mcopy", "mdel")
	disk := filepath.Join(t.TempDir(), "fat.img")
	run(t, "mkfs.vfat", "-F", "32", "-C", disk, strconv.Itoa(128<<10)) // KiB
	for _, x := range fx {
		run(t, "mcopy", "-i", disk, x.path, "::/"+x.name)
		x.contiguous = true // a fresh FAT allocates clusters in order
	}
	for _, x := range fx {
		run(t, "mdel", "-i", disk, "::/"+x.name)
	}
	return disk
}

// carveDisk runs Scan and Recover over disk.
func carveDisk(t *testing.T, disk string) []*Recovered {
	t.Helper()
	src, err := OpenSource(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.DisableDirect()
	start := time.Now()
	found, err := Scan(context.Background(), src, src.Size, CarveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("scanned %d MiB in %v (%.2f s/GiB), %d candidates", src.Size>>20, el, el.Seconds()/(float64(src.Size)/(1<<30)), len(found))
	out := filepath.Join(t.TempDir(), "out")
	os.Mkdir(out, 0o755)
	if err := CheckOutputDevice(disk, out); err != nil {
		t.Fatal(err)
	}
	rec, err := Recover(context.Background(), src, src.Size, found, RecoverOptions{OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkCarve compares what carve recovered with the originals: every
// contiguous image must come back byte-exact; no image may be called
// "exact" unless it is; a fragmented one must be recovered exactly or
// reported as not exact.
func checkCarve(t *testing.T, fx []*carveFixture, rec []*Recovered) {
	t.Helper()
	bySum := map[string]*Recovered{}
	for _, r := range rec {
		if r.Path == "" {
			continue
		}
		sum := sha256File(t, r.Path)
		bySum[sum] = r
		matches := false
		for _, x := range fx {
			matches = matches || x.sum == sum
		}
		t.Logf("recovered %s at %d: %s via %s, %d bytes, matches an original: %v; attempts %v", r.Label, r.Offset, r.Status, r.Method, r.Size, matches, r.Attempts)
		if r.Status == StatusExact && !matches {
			t.Errorf("%s at byte %d is called exact but equals no original", r.Label, r.Offset)
		}
	}
	for _, x := range fx {
		r := bySum[x.sum]
		switch {
		case r != nil:
			if r.Status != StatusExact && r.Status != StatusLikely {
				t.Errorf("%s recovered byte-exact but reported %s", x.name, r.Status)
			}
		case x.contiguous:
			t.Errorf("%s was contiguous on disk but was not recovered byte-exact", x.name)
		default:
			// Fragmented and not rebuilt: it must not be reported as fine.
			for _, r := range rec {
				if strings.Contains(x.name, strings.ToLower(r.Label)) && (r.Status == StatusExact || r.Status == StatusLikely) {
					t.Errorf("fragmented %s reported %s although its bytes differ", x.name, r.Status)
				}
			}
			t.Logf("%s was fragmented on disk and not rebuilt (reported honestly)", x.name)
		}
	}
}

func TestCarveExt4(t *testing.T) {
	fx := carveImages(t, true)
	disk := ext4Disk(t, fx)
	for _, x := range fx {
		t.Logf("%s: contiguous on ext4: %v", x.name, x.contiguous)
	}
	checkCarve(t, fx, carveDisk(t, disk))

	// Now wipe the journal, as a busy file system would have overwritten
	// it: the fragmented image can no longer be rebuilt and must be
	// reported as damaged, with the reason.
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	x := findExt4(f, 1<<30)
	if len(x.fss) != 1 || x.fss[0].fs.Journal == nil {
		t.Fatalf("journal not located: %+v", x.fss)
	}
	for _, e := range x.fss[0].fs.Journal {
		f.WriteAt(make([]byte, e.Length), x.fss[0].Start+e.Physical)
	}
	f.Close()
	rec := carveDisk(t, disk)
	checkCarve(t, fx, rec)
	for _, x := range fx {
		if !x.big || x.contiguous {
			continue
		}
		for _, r := range rec {
			if r.Label == "BIG" {
				if r.Status != StatusDamaged || len(r.Attempts) == 0 || len(r.Wrong) == 0 {
					t.Errorf("fragmented image without its journal: status %s, attempts %v, wrong %v", r.Status, r.Attempts, r.Wrong)
				}
				t.Logf("without the journal: %s, wrong bytes %v, attempts %v", r.Status, r.Wrong, r.Attempts)
			}
		}
	}
}

func TestCarveVFAT(t *testing.T) {
	fx := carveImages(t, false)
	disk := vfatDisk(t, fx)
	checkCarve(t, fx, carveDisk(t, disk))
}

// TestCarveNestedAndTruncated: an ISO stored inside an ISO is reported
// both as the outer image and as the file of it the inner one is, and an image cut off by the end of the
// source is reported truncated.
func TestCarveNestedAndTruncated(t *testing.T) {
	fx := carveImages(t, false)
	var inner *carveFixture
	for _, x := range fx {
		if x.name == "plain-md5.iso" {
			inner = x
		}
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "t")
	os.Mkdir(tree, 0o755)
	b, _ := os.ReadFile(inner.path)
	os.WriteFile(filepath.Join(tree, "inner.iso"), b, 0o644)
	outer := filepath.Join(dir, "outer.iso")
	run(t, "xorriso", "-as", "mkisofs", "-R", "-V", "OUTER", "-o", outer, tree)
	ob, _ := os.ReadFile(outer)
	// disk: 1 MiB of noise, the outer image, then the inner image again
	// with its last 1 MiB cut off by the end of the disk.
	disk := filepath.Join(dir, "disk.img")
	var d []byte
	d = append(d, randomData(1<<20, 30)...)
	d = append(d, ob...)
	d = append(d, b[:len(b)-1<<20]...)
	os.WriteFile(disk, d, 0o644)
	rec := carveDisk(t, disk)
	if len(rec) != 3 {
		for _, r := range rec {
			t.Logf("%s at %d: %s", r.Label, r.Offset, r.Status)
		}
		t.Fatalf("recovered %d images, want 3 (outer, the inner one as its file, truncated copy)", len(rec))
	}
	if rec[0].Offset != 1<<20 || rec[0].Label != "OUTER" || rec[0].Status == StatusDamaged || len(rec[0].Contains) != 0 {
		t.Errorf("first: %s at %d, %s, contains %v", rec[0].Label, rec[0].Offset, rec[0].Status, rec[0].Contains)
	}
	if got := sha256File(t, rec[0].Path); got != sha256Hex(ob) {
		t.Errorf("outer image not byte-exact")
	}
	// The image stored in the outer one is reported (never hidden), as
	// the file it is.
	if rec[1].InsideFile != "/inner.iso" || rec[1].NestedIn != rec[0].Offset || rec[1].Status != StatusExact {
		t.Errorf("second: %s at %d inside file %q of %d, %s", rec[1].Label, rec[1].Offset, rec[1].InsideFile, rec[1].NestedIn, rec[1].Status)
	}
	if rec[2].Status != StatusTruncated || rec[2].Available != int64(len(b)-1<<20) {
		t.Errorf("third: %s, %d of %d bytes available", rec[2].Status, rec[2].Available, rec[2].Size)
	}
	if rec[2].Verify == nil || len(damagedPaths(rec[2].Verify, false)) == 0 {
		t.Errorf("truncated copy names no damaged file")
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestCheckOutputDevice refuses an output directory on the source device.
func TestCheckOutputDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup and mount")
	}
	isotest.RequireTool(t, "mkfs.ext4", "losetup", "mount")
	dir := t.TempDir()
	disk := filepath.Join(dir, "d.img")
	f, _ := os.Create(disk)
	f.Truncate(64 << 20)
	f.Close()
	run(t, "mkfs.ext4", "-q", "-F", disk)
	loop := strings.TrimSpace(run(t, "losetup", "-f", "--show", disk))
	defer exec.Command("losetup", "-d", loop).Run()
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", loop, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	for _, tc := range []struct {
		src, out string
		refuse   bool
	}{
		{loop, mnt, true},  // the device itself
		{disk, mnt, true},  // the file the mounted loop device reads
		{loop, dir, false}, // another file system
		{disk, dir, false}, // next to an image file
		{filepath.Join(mnt, "."), dir, false},
	} {
		err := CheckOutputDevice(tc.src, tc.out)
		if (err != nil) != tc.refuse {
			t.Errorf("CheckOutputDevice(%s, %s) = %v, want refuse=%v", tc.src, tc.out, err, tc.refuse)
		}
	}
}

// TestCheckOutputDeviceStacked: an output file system stored in a file on
// a file system of the source (a loop device over a file on a loop device
// over the source) is refused, the source given as its device or as its
// image file: the walk goes from the output's loop device to the device
// holding its backing file, and on to that device's backing file.
func TestCheckOutputDeviceStacked(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup and mount")
	}
	isotest.RequireTool(t, "mkfs.ext4", "losetup", "mount")
	dir := t.TempDir()
	mkfsLoopMount := func(img, mnt string) string {
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(32 << 20)
		f.Close()
		run(t, "mkfs.ext4", "-q", "-F", img)
		loop := strings.TrimSpace(run(t, "losetup", "-f", "--show", img))
		t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
		os.Mkdir(mnt, 0o755)
		if out, err := exec.Command("mount", loop, mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount: %v %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", mnt, err, out)
			}
		})
		return loop
	}
	disk := filepath.Join(dir, "outer.img")
	outer := mkfsLoopMount(disk, filepath.Join(dir, "outer"))
	mkfsLoopMount(filepath.Join(dir, "outer", "inner.img"), filepath.Join(dir, "inner"))
	inner := filepath.Join(dir, "inner")
	for _, tc := range []struct {
		src, out string
		refuse   string
	}{
		{outer, inner, "sits on the source"},
		{disk, inner, "sits on the source"},
		{outer, filepath.Join(dir, "outer"), "is on the source device"},
		{outer, dir, ""},
	} {
		err := CheckOutputDevice(tc.src, tc.out)
		if (err == nil) != (tc.refuse == "") || (err != nil && !strings.Contains(err.Error(), tc.refuse)) {
			t.Errorf("CheckOutputDevice(%s, %s) = %v, want %q", tc.src, tc.out, err, tc.refuse)
		}
	}
}

// BenchmarkScan measures the scan rate over a 1 GiB sparse image holding
// one ISO (page-cached after the first run); compare with PhotoRec.
func BenchmarkScan(b *testing.B) {
	p := filepath.Join(b.TempDir(), "disk")
	f, _ := os.Create(p)
	f.Truncate(1 << 30)
	f.WriteAt(randomData(256<<20, 40), 300<<20)
	f.Close()
	src, err := OpenSource(p)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	src.DisableDirect()
	b.SetBytes(src.Size)
	for i := 0; i < b.N; i++ {
		if _, err := Scan(context.Background(), src, src.Size, CarveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzScan feeds Scan arbitrary disks built around a real descriptor set:
// it must not panic, and whatever it reports must lie inside the source.
func FuzzScan(f *testing.F) {
	seed, err := os.ReadFile(isotest.CorpusFile(f, "libcdio/copying.iso"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed[:min(len(seed), 64<<10)], uint16(0))
	f.Add(seed[:min(len(seed), 64<<10)], uint16(512))
	f.Fuzz(func(t *testing.T, img []byte, shift uint16) {
		pad := int(shift) % 4096
		disk := append(make([]byte, pad), img...)
		found, err := Scan(context.Background(), bytesReaderAt(disk), int64(len(disk)), CarveOptions{ChunkSize: 4096})
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range found {
			if fd.Offset < 0 || fd.Offset%candidateAlign != 0 || fd.Available > int64(len(disk))-fd.Offset || fd.Available < 0 {
				t.Fatalf("bad result %+v for a %d-byte disk", fd, len(disk))
			}
		}
	})
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestCarveVFATFragmented makes FAT write an image around a live file
// (the disk is full but for two 4 MiB holes), deletes the image, and
// checks that carve rebuilds it from the free clusters after its first
// one, byte-exact.
func TestCarveVFATFragmented(t *testing.T) {
	isotest.RequireTool(t, "mkfs.vfat", "mcopy", "mdel", "mdir")
	var img *carveFixture
	for _, x := range carveImages(t, false) {
		if x.name == "plain-md5.iso" {
			img = x
		}
	}
	dir := t.TempDir()
	disk := filepath.Join(dir, "fat.img")
	run(t, "mkfs.vfat", "-F", "32", "-C", disk, strconv.Itoa(64<<10))
	filler := filepath.Join(dir, "filler")
	os.WriteFile(filler, randomData(4<<20, 50), 0o644)
	n := 0
	for ; n < 100; n++ {
		if exec.Command("mcopy", "-i", disk, filler, fmt.Sprintf("::/f%02d", n)).Run() != nil {
			break
		}
	}
	// Fill what is left with a smaller file so only the holes remain.
	small := filepath.Join(dir, "small")
	for k := 0; k < 64; k++ {
		os.WriteFile(small, randomData(64<<10, byte(60+k)), 0o644)
		if exec.Command("mcopy", "-i", disk, small, fmt.Sprintf("::/s%02d", k)).Run() != nil {
			break
		}
	}
	run(t, "mdel", "-i", disk, "::/f02", "::/f04")
	run(t, "mcopy", "-i", disk, img.path, "::/"+img.name)
	run(t, "mdel", "-i", disk, "::/"+img.name)
	rec := carveDisk(t, disk)
	var got *Recovered
	for _, r := range rec {
		if r.Label == "PLAIN_MD5" {
			got = r
		}
	}
	if got == nil {
		t.Fatalf("image not found (%d filler files)", n)
	}
	t.Logf("%s via %s; attempts %v", got.Status, got.Method, got.Attempts)
	if sum := sha256File(t, got.Path); sum != img.sum {
		t.Fatalf("not rebuilt byte-exact: status %s via %s, attempts %v", got.Status, got.Method, got.Attempts)
	}
	if got.Status != StatusExact || !strings.HasPrefix(got.Method, "FAT") {
		t.Errorf("status %s via %s, want exact via FAT", got.Status, got.Method)
	}
}
