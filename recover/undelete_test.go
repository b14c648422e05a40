//go:build linux

package recover

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/recover/fsmeta"
)

// The undelete scenarios build real file systems with the real tools
// (mkntfs + ntfs-3g, mkfs.exfat + exfat-fuse, mkfs.fat + mtools,
// mkfs.ext4 + a loop mount), fragment them by filling the disk with small
// files and deleting every other one, write images into the holes two at
// a time (interleaved, so the second starts inside the first's span),
// delete the images, unmount, and check what Undelete gets back.

// undelImage is an image hidden on a test file system.
type undelImage struct {
	name string
	path string
	sum  string
	data []byte
}

// undeleteImages builds the images: "checked-md5.iso" with an implanted MD5 (its
// bytes can be proven by checksum), "plain-image.iso" without any checksum (only
// the file system's word can prove it) and "udf-only-image.img", a small UDF-only one.
func undeleteImages(t *testing.T) []*undelImage {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5", "mkudffs")
	dir := t.TempDir()
	var out []*undelImage
	mk := func(name, label string, payload int, seed byte, implant bool) {
		tree := filepath.Join(dir, "tree-"+name)
		os.MkdirAll(tree, 0o755)
		os.WriteFile(filepath.Join(tree, "payload.bin"), randomData(payload, seed), 0o644)
		p := filepath.Join(dir, name)
		run(t, "xorriso", "-as", "mkisofs", "-R", "-V", label, "-o", p, tree)
		if implant {
			run(t, "implantisomd5", p)
		}
		out = append(out, &undelImage{name: name, path: p})
	}
	mk("checked-md5.iso", "UNDEL_MD5", 3<<20, 71, true)
	mk("plain-image.iso", "UNDEL_PLAIN", 2<<20, 72, false)
	udf := filepath.Join(dir, "udf-only-image.img")
	os.WriteFile(udf, nil, 0o644)
	os.Truncate(udf, 1<<20)
	run(t, "mkudffs", "--media-type=hd", "--blocksize=2048", "--label=UNDELUDF", udf)
	out = append(out, &undelImage{name: "udf-only-image.img", path: udf})
	for _, x := range out {
		x.data, _ = os.ReadFile(x.path)
		x.sum = sha256Hex(x.data)
	}
	return out
}

// fragmentAndWrite fills mnt with 64 KiB files until it is full, deletes
// every other one, writes each group of images interleaved in 64 KiB
// pieces (each piece synced, so the allocator hands out holes in turn),
// one group after the other, then deletes all the images. It returns the
// number of fillers.
func fragmentAndWrite(t *testing.T, mnt string, groups ...[]*undelImage) int {
	t.Helper()
	return fragmentAndWriteThen(t, mnt, nil, groups...)
}

// fragmentAndWriteThen is fragmentAndWrite calling beforeDelete (if not
// nil) after the images are written and before they are deleted.
func fragmentAndWriteThen(t *testing.T, mnt string, beforeDelete func(), groups ...[]*undelImage) int {
	t.Helper()
	filler := randomData(64<<10, 99)
	n := 0
	for ; n < 10000; n++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("f%04d", n)), filler, 0o644); err != nil {
			os.Remove(filepath.Join(mnt, fmt.Sprintf("f%04d", n)))
			break
		}
	}
	run(t, "sync")
	for i := 0; i < n; i += 2 {
		if err := os.Remove(filepath.Join(mnt, fmt.Sprintf("f%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "sync")
	for _, g := range groups {
		writeInterleaved(t, mnt, g, 64<<10)
		run(t, "sync")
	}
	if beforeDelete != nil {
		beforeDelete()
		run(t, "sync")
	}
	for _, g := range groups {
		for _, x := range g {
			if err := os.Remove(filepath.Join(mnt, x.name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	run(t, "sync")
	return n
}

// writeInterleaved writes the images to dir a piece of each in turn.
func writeInterleaved(t *testing.T, dir string, imgs []*undelImage, piece int) {
	t.Helper()
	fs := make([]*os.File, len(imgs))
	for i, x := range imgs {
		f, err := os.Create(filepath.Join(dir, x.name))
		if err != nil {
			t.Fatal(err)
		}
		fs[i] = f
	}
	for off := 0; ; off += piece {
		more := false
		for i, x := range imgs {
			if off >= len(x.data) {
				continue
			}
			more = true
			if _, err := fs[i].Write(x.data[off:min(off+piece, len(x.data))]); err != nil {
				t.Fatal(err)
			}
			fs[i].Sync()
		}
		if !more {
			break
		}
	}
	for _, f := range fs {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitExit waits for a FUSE daemon to finish writing after unmount.
func waitExit(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", cmd.Path, err)
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s did not exit after unmount", cmd.Path)
	}
}

// fuseMount runs a FUSE file system daemon in the foreground (so the test
// knows when it has flushed everything) and waits for the mount.
func fuseMount(t *testing.T, mnt string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	stderr := &headWriter{max: 8 << 10}
	cmd.Stderr, cmd.Stdout = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), " "+mnt+" ") {
			return cmd
		}
		if i == 200 {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%s did not mount %s: %s", name, mnt, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	max int
	b   []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	if n := w.max - len(w.b); n > 0 {
		w.b = append(w.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (w *headWriter) String() string { return string(w.b) }

// undeleteDisk runs Undelete over disk into a fresh directory.
func undeleteDisk(t *testing.T, disk string, o UndeleteOptions) *UndeleteReport {
	t.Helper()
	src, err := OpenSource(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	src.DisableDirect()
	if o.OutDir == "" {
		o.OutDir = filepath.Join(t.TempDir(), "out")
		os.Mkdir(o.OutDir, 0o755)
	}
	if err := CheckOutputDevice(disk, o.OutDir); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := Undelete(context.Background(), src, src.Size, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("undelete of %d MiB took %v", src.Size>>20, time.Since(start))
	for _, fs := range rep.FileSystems {
		t.Logf("%s at %d: %d deleted, %d images, notes %v, error %q", fs.Kind, fs.Offset, fs.Deleted, fs.Images, fs.Notes, fs.Error)
	}
	return rep
}

// checkUndelete checks the report against the originals: nothing is
// called exact unless it is byte-identical; the images named in wantExact
// come back byte-exact under their original names and are called exact;
// every image is reported.
func checkUndelete(t *testing.T, rep *UndeleteReport, imgs []*undelImage, wantExact ...string) map[string]*Recovered {
	t.Helper()
	byName := map[string]*Recovered{}
	for _, r := range rep.Images {
		same := false
		var sum string
		if r.Path != "" {
			sum = sha256File(t, r.Path)
			for _, x := range imgs {
				same = same || x.sum == sum
			}
		}
		t.Logf("%q label %q at %d: %s via %s; byte-identical to an original: %v; note %s; attempts %v", r.Name, r.Label, r.Offset, r.Status, r.Method, same, r.Note, r.Attempts)
		if r.FSFile != nil && os.Getenv("UNDELETE_DEBUG") != "" {
			t.Logf("extents %v", r.FSFile.Extents)
		}
		if r.Status == StatusExact && !same {
			t.Errorf("%q (%s at byte %d) is called exact but equals no original", r.Name, r.Label, r.Offset)
		}
		if r.Name != "" {
			byName[r.Name] = r
		}
		known := false
		for _, x := range imgs {
			known = known || x.name == r.Name
		}
		if r.FSFile != nil && !known {
			t.Errorf("%q (%s) reported as a deleted image: it is none of the images written (a file whose clusters one of them reused?)", r.Name, r.FSFile.ID)
		}
	}
	for _, x := range imgs {
		if byName[x.name] == nil {
			t.Errorf("%s: not reported under its name", x.name)
		}
	}
	for _, n := range wantExact {
		r := byName[n]
		if r == nil {
			continue
		}
		var want string
		for _, x := range imgs {
			if x.name == n {
				want = x.sum
			}
		}
		if r.Path == "" || sha256File(t, r.Path) != want {
			t.Errorf("%s: not recovered byte-exact (%s: %s)", n, r.Status, r.Note)
		} else if r.Status != StatusExact {
			t.Errorf("%s: byte-exact but reported %s (%s)", n, r.Status, r.Note)
		}
		if filepath.Base(r.Path) != n {
			t.Errorf("%s: written as %s, not under its original name", n, r.Path)
		}
	}
	return byName
}

// embedInDisk copies a file-system image into the first partition of a
// new whole-disk image with a partition table of the given label ("gpt"
// or "dos"), the partition starting at 1 MiB.
func embedInDisk(t *testing.T, fsImage, label string) string {
	t.Helper()
	isotest.RequireTool(t, "sfdisk")
	data, err := os.ReadFile(fsImage)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(t.TempDir(), label+"-disk.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, int64(len(data))+4<<20)
	cmd := exec.Command("sfdisk", "-q", disk)
	cmd.Stdin = strings.NewReader(fmt.Sprintf("label: %s\nstart=2048, size=%d, type=%s\n", label, len(data)/512,
		map[string]string{"gpt": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "dos": "7"}[label]))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 1<<20); err != nil {
		t.Fatal(err)
	}
	return disk
}

// checkWholeDisk: the same file system inside a partitioned whole disk is
// found at its partition and gives the same images back.
func checkWholeDisk(t *testing.T, fsImage, label, kind string, imgs []*undelImage, wantExact ...string) {
	t.Helper()
	disk := embedInDisk(t, fsImage, label)
	rep := undeleteDisk(t, disk, UndeleteOptions{NoCarve: true})
	if len(rep.FileSystems) != 1 || rep.FileSystems[0].Kind != kind || rep.FileSystems[0].Offset != 1<<20 {
		t.Fatalf("%s disk: file systems %+v, want %s at 1 MiB", label, rep.FileSystems, kind)
	}
	checkUndelete(t, rep, imgs, wantExact...)
}

// startsInside reports whether inner's first byte on disk lies inside
// the contiguous span outer would have if it were one run.
func startsInside(outer, inner *Recovered) bool {
	return outer != nil && inner != nil && inner.Offset > outer.Offset && inner.Offset < outer.Offset+outer.Size
}

// anyNested reports whether some recovered image starts inside another's
// contiguous span (and both were reported).
func anyNested(got map[string]*Recovered) bool {
	for _, a := range got {
		for _, b := range got {
			if a != b && startsInside(a, b) {
				return true
			}
		}
	}
	return false
}

func fragmented(f *fsmeta.File) bool {
	n := 0
	for _, e := range f.Extents {
		if !e.Zero {
			n++
		}
	}
	return n > 1
}

func TestUndeleteNTFS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for FUSE mounts of ntfs-3g")
	}
	isotest.RequireTool(t, "mkntfs", "ntfs-3g", "umount")
	imgs := undeleteImages(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "ntfs.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 40<<20)
	run(t, "mkntfs", "-q", "-F", "-f", disk)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	d := fuseMount(t, mnt, "ntfs-3g", "-o", "no_detach", disk, mnt)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
			d.Wait()
		}
	})
	// A copy of the MD5 image written sparse (cp --sparse=always skips the
	// zero blocks, ntfs-3g records them as sparse runs) on the empty disk.
	sparse := &undelImage{name: "sparse-copy.iso", path: imgs[0].path, data: imgs[0].data, sum: imgs[0].sum}
	run(t, "cp", "--sparse=always", sparse.path, filepath.Join(mnt, sparse.name))
	n := fragmentAndWrite(t, mnt, imgs)
	os.Remove(filepath.Join(mnt, sparse.name))
	run(t, "umount", mnt)
	mounted = false
	waitExit(t, d)
	t.Logf("%d fillers", n)
	all := append(append([]*undelImage(nil), imgs...), sparse)

	before := sha256File(t, disk)
	rep := undeleteDisk(t, disk, UndeleteOptions{})
	got := checkUndelete(t, rep, all, "checked-md5.iso", "plain-image.iso", "udf-only-image.img", "sparse-copy.iso")
	for _, x := range imgs {
		if r := got[x.name]; r != nil && !fragmented(r.FSFile) {
			t.Errorf("%s was not fragmented on NTFS: the scenario proves nothing", x.name)
		}
	}
	if r := got["sparse-copy.iso"]; r != nil {
		holes := 0
		for _, e := range r.FSFile.Extents {
			if e.Zero {
				holes++
			}
		}
		if holes == 0 {
			t.Errorf("sparse-copy.iso has no sparse run: the scenario proves nothing (%v)", r.FSFile.Extents)
		}
	}
	if !anyNested(got) {
		t.Errorf("no image starts inside another's span: the scenario does not test nesting")
	}
	// The plain image has no checksum: its exact verdict must come from
	// the file system, and say so.
	if r := got["plain-image.iso"]; r != nil && !strings.Contains(r.Note, "every cluster free since deletion") {
		t.Errorf("plain.iso: note %q does not give the file system's proof", r.Note)
	}

	// Carving alone sees the same disk as contiguous runs: the image with
	// an MD5 fails its check, the second one inside its span is reported
	// (never hidden), and nothing wrong is called exact.
	carved := undeleteDisk(t, disk, UndeleteOptions{NoFS: true})
	checkCarvedOnly(t, carved, imgs)
	if sha256File(t, disk) != before {
		t.Errorf("the source changed during undelete")
	}
	// A Windows PC's disk: the same volume as partition 1 of an MBR disk.
	checkWholeDisk(t, disk, "dos", "ntfs", all, "checked-md5.iso", "plain-image.iso", "udf-only-image.img", "sparse-copy.iso")
}

// TestUndeleteNTFSAttributeList: a file whose runlist outgrew its MFT
// record — ntfs-3g moved the later pieces of $DATA into extension records
// and listed them in $ATTRIBUTE_LIST (the file has long-named hard links,
// so the base record is full) — comes back byte-exact from the pieces.
func TestUndeleteNTFSAttributeList(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for FUSE mounts of ntfs-3g")
	}
	isotest.RequireTool(t, "mkntfs", "ntfs-3g", "umount")
	plain := undeleteImages(t)[1]
	dir := t.TempDir()
	disk := filepath.Join(dir, "ntfs.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 24<<20)
	run(t, "mkntfs", "-q", "-F", "-f", disk)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	d := fuseMount(t, mnt, "ntfs-3g", "-o", "no_detach", disk, mnt)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
			d.Wait()
		}
	})
	// 4 KiB fillers until the disk is full; every fourth deleted leaves
	// one-cluster holes (ntfs-3g alternates between two allocation zones,
	// so every other would free one zone whole).
	filler := randomData(4096, 97)
	n := 0
	for ; n < 20000; n++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("f%05d", n)), filler, 0o644); err != nil {
			os.Remove(filepath.Join(mnt, fmt.Sprintf("f%05d", n)))
			break
		}
	}
	run(t, "sync")
	for i := 0; i < n; i += 4 {
		os.Remove(filepath.Join(mnt, fmt.Sprintf("f%05d", i)))
	}
	run(t, "sync")
	p := filepath.Join(mnt, plain.name)
	os.WriteFile(p, nil, 0o644)
	var links []string
	for k := 0; k < 3; k++ {
		l := filepath.Join(mnt, fmt.Sprintf("link%d-%s", k, strings.Repeat("x", 200)))
		if err := os.Link(p, l); err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
	}
	if err := os.WriteFile(p, plain.data, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "sync")
	for _, l := range append(links, p) {
		os.Remove(l)
	}
	run(t, "sync")
	run(t, "umount", mnt)
	mounted = false
	waitExit(t, d)

	if os.Getenv("UNDELETE_DEBUG") != "" {
		exec.Command("cp", disk, "/tmp/zz-ntfs.img").Run()
	}
	rep := undeleteDisk(t, disk, UndeleteOptions{NoCarve: true})
	var got *Recovered
	for _, r := range rep.Images {
		t.Logf("%q: %s, %d extents, notes %v", r.Name, r.Status, len(r.FSFile.Extents), r.FSFile.Notes)
		if r.Label == "UNDEL_PLAIN" {
			got = r
		}
	}
	if got == nil {
		t.Fatalf("the image was not found (%d fillers)", n)
	}
	if !strings.Contains(strings.Join(got.FSFile.Notes, " "), "$ATTRIBUTE_LIST") || len(got.FSFile.Extents) < 100 {
		t.Errorf("the runlist did not come through $ATTRIBUTE_LIST (%d extents, notes %v): the scenario proves nothing", len(got.FSFile.Extents), got.FSFile.Notes)
	}
	if sha256File(t, got.Path) != plain.sum || got.Status != StatusExact {
		t.Errorf("%s: not back byte-exact and exact (%s: %s)", got.Name, got.Status, got.Note)
	}
}

// checkCarvedOnly checks a signature-only run over an interleaved disk.
func checkCarvedOnly(t *testing.T, rep *UndeleteReport, imgs []*undelImage) {
	t.Helper()
	byLabel := map[string]*Recovered{}
	for _, r := range rep.Images {
		sum := ""
		if r.Path != "" {
			sum = sha256File(t, r.Path)
		}
		same := false
		for _, x := range imgs {
			same = same || x.sum == sum
		}
		t.Logf("carved %q at %d: %s; identical %v; contains %v; note %s", r.Label, r.Offset, r.Status, same, r.Contains, r.Note)
		if r.Status == StatusExact && !same {
			t.Errorf("carved %q at %d called exact but equals no original", r.Label, r.Offset)
		}
		byLabel[r.Label] = r
	}
	for _, l := range []string{"UNDEL_MD5", "UNDEL_PLAIN"} {
		if byLabel[l] == nil {
			t.Errorf("carving did not report %s", l)
		}
	}
	if r := byLabel["UNDEL_MD5"]; r != nil && r.Status == StatusExact {
		t.Errorf("the interleaved image carved as one run was called exact")
	}
	if r := byLabel["UNDEL_PLAIN"]; r != nil && r.Status == StatusLikely && !strings.Contains(r.Note, "data unverified") {
		t.Errorf("plain image: likely without saying the data is unverified: %q", r.Note)
	}
	if o := byLabel["UNDEL_MD5"]; o != nil && len(o.Contains) == 0 && byLabel["UNDEL_PLAIN"] != nil && startsInside(o, byLabel["UNDEL_PLAIN"]) {
		t.Errorf("the image inside the first one's span is not recorded as evidence of fragmentation")
	}
}

// losetup attaches a loop device to disk for the test's lifetime.
func losetup(t *testing.T, disk string) string {
	t.Helper()
	dev := strings.TrimSpace(run(t, "losetup", "-f", "--show", disk))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	return dev
}

func TestUndeleteExFAT(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: exfat-fuse wants a block device (losetup)")
	}
	isotest.RequireTool(t, "mkfs.exfat", "mount.exfat-fuse", "losetup", "umount")
	imgs := undeleteImages(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "exfat.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 40<<20)
	run(t, "mkfs.exfat", disk)
	dev := losetup(t, disk)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	d := fuseMount(t, mnt, "mount.exfat-fuse", "-d", dev, mnt) // -d: foreground (and debug output, discarded)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
			d.Wait()
		}
	})
	// A copy of the plain image first, on the empty disk: one run, which
	// exfat-fuse marks NoFatChain (and leaves so on delete) — the file
	// system alone proves it. Then the MD5 image alone into the holes, then
	// the other two interleaved: exfat-fuse zeroes a deleted file's FAT
	// chain, so only the MD5 one can be rebuilt by the free-cluster rule;
	// the other two must not be called exact.
	contiguous := &undelImage{name: "contiguous-copy.iso", path: imgs[1].path, data: imgs[1].data, sum: imgs[1].sum}
	writeInterleaved(t, mnt, []*undelImage{contiguous}, 1<<20)
	// exFAT keeps times in 2-second steps, so two images whose last writes
	// are a moment apart may get times a step apart: the test used to fail
	// now and then when they fell on two sides of an even second. Give
	// them that case every time: written together, stamped 2 s apart.
	stamp := time.Now().Truncate(2 * time.Second).Add(-time.Minute)
	n := fragmentAndWriteThen(t, mnt, func() {
		for i, x := range imgs[1:] { // plain then udf: udf a step earlier
			ts := stamp.Add(time.Duration(-2*i) * time.Second)
			if err := os.Chtimes(filepath.Join(mnt, x.name), ts, ts); err != nil {
				t.Fatal(err)
			}
		}
	}, imgs[:1], imgs[1:])
	os.Remove(filepath.Join(mnt, contiguous.name))
	run(t, "umount", mnt)
	mounted = false
	waitExit(t, d)
	t.Logf("%d fillers", n)

	rep := undeleteDisk(t, disk, UndeleteOptions{})
	got := checkUndelete(t, rep, append(imgs, contiguous), "checked-md5.iso", "contiguous-copy.iso")
	if r := got["contiguous-copy.iso"]; r != nil && !strings.Contains(r.Note, "complete exfat extents") {
		t.Errorf("the NoFatChain copy: exact not from the file system: %q", r.Note)
	}
	if r := got["checked-md5.iso"]; r != nil {
		if !fragmented(r.FSFile) {
			t.Errorf("md5.iso was not fragmented on exFAT")
		}
		// The chain was assumed: only the implanted MD5 proves it.
		if !strings.Contains(strings.Join(r.FSFile.Notes, " "), "assumed") {
			t.Errorf("md5.iso: the notes do not say the chain was assumed: %v", r.FSFile.Notes)
		}
	}
	// plain and udf were interleaved: their assumed layouts claim the same
	// clusters, so neither may be called better than damaged, and the
	// files inside on the contested bytes are named.
	for _, n := range []string{"plain-image.iso", "udf-only-image.img"} {
		r := got[n]
		if r == nil {
			continue
		}
		if r.Status != StatusDamaged {
			t.Errorf("%s, interleaved and rebuilt from an assumed chain: %s (%s)", n, r.Status, r.Note)
		}
	}
	if r := got["plain-image.iso"]; r != nil && (r.Verify == nil || r.Verify.Files == nil || len(r.Verify.Files.Damaged) == 0) {
		t.Errorf("plain-image.iso: no file inside named as damaged")
	}
	if !startsInside(got["plain-image.iso"], got["udf-only-image.img"]) {
		t.Errorf("udf-only-image.img does not start inside plain-image.iso's span: the scenario does not test nesting")
	}
}

func TestUndeleteFAT32(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdel")
	imgs := undeleteImages(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "fat.img")
	run(t, "mkfs.fat", "-F", "32", "-C", disk, strconv.Itoa(40<<10)) // KiB
	// mtools writes whole files, so fragment with fillers: fill, delete
	// every other, copy the images (each runs over the holes in turn).
	// Fillers go in batches of 50 per mcopy (one process per file is slow);
	// the batch that hits the end of the disk is redone one by one.
	fdir := filepath.Join(dir, "fillers")
	os.Mkdir(fdir, 0o755)
	data := randomData(64<<10, 98)
	n := 0
	for batch := 0; batch < 40 && n == batch*50; batch++ {
		var names []string
		for k := batch * 50; k < (batch+1)*50; k++ {
			p := filepath.Join(fdir, fmt.Sprintf("f%04d", k))
			os.WriteFile(p, data, 0o644)
			names = append(names, p)
		}
		if exec.Command("mcopy", append(append([]string{"-i", disk}, names...), "::/")...).Run() == nil {
			n += 50
			continue
		}
		for k := batch * 50; k < (batch+1)*50; k++ {
			exec.Command("mdel", "-i", disk, fmt.Sprintf("::/f%04d", k)).Run()
		}
		for k := batch * 50; k < (batch+1)*50; k++ {
			if exec.Command("mcopy", "-i", disk, filepath.Join(fdir, fmt.Sprintf("f%04d", k)), "::/").Run() != nil {
				exec.Command("mdel", "-i", disk, fmt.Sprintf("::/f%04d", k)).Run()
				break
			}
			n++
		}
	}
	var del []string
	for i := 0; i < n; i += 2 {
		del = append(del, fmt.Sprintf("::/f%04d", i))
	}
	run(t, "mdel", append([]string{"-i", disk}, del...)...)
	for _, x := range imgs {
		run(t, "mcopy", "-i", disk, x.path, "::/"+x.name)
	}
	for _, x := range imgs {
		run(t, "mdel", "-i", disk, "::/"+x.name)
	}
	t.Logf("%d fillers", n)
	rep := undeleteDisk(t, disk, UndeleteOptions{})
	// The chains are zeroed; the free-cluster rule rebuilds each image
	// (mtools writes whole files, so none was written into another's
	// gaps: nesting is covered by the NTFS, exFAT and ext4 scenarios), and
	// only the checksum proves one.
	got := checkUndelete(t, rep, imgs, "checked-md5.iso")
	if r := got["checked-md5.iso"]; r != nil && !fragmented(r.FSFile) {
		t.Errorf("md5.iso was not fragmented on FAT32")
	}
	for _, x := range imgs[1:] {
		if r := got[x.name]; r != nil && r.Status == StatusExact && sha256File(t, r.Path) != x.sum {
			t.Errorf("%s called exact", x.name)
		}
	}
}

// TestUndeleteFATDirectories: on a FAT32 volume in an MBR partition
// (mkfs.fat + mtools), an image in a directory removed with mdeltree comes
// back byte-exact under its name and path, with its time; and the deleted
// entry inside a FAT image stored as a live file (as a stick's
// efiboot.img is) is no file of the volume: its directories are walked,
// not every 32 bytes of it.
func TestUndeleteFATDirectories(t *testing.T) {
	isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdel", "mdeltree")
	imgs := undeleteImages(t)[:1]
	dir := t.TempDir()
	inner := filepath.Join(dir, "efiboot.img")
	run(t, "mkfs.fat", "-C", inner, "1024")
	loader := filepath.Join(dir, "LOADER.EFI")
	os.WriteFile(loader, randomData(5000, 3), 0o644)
	run(t, "mcopy", "-i", inner, loader, "::/")
	run(t, "mdel", "-i", inner, "::/LOADER.EFI")
	tree := filepath.Join(dir, "isos")
	os.Mkdir(tree, 0o755)
	os.WriteFile(filepath.Join(tree, imgs[0].name), imgs[0].data, 0o644)
	fat := filepath.Join(dir, "fat.img")
	run(t, "mkfs.fat", "-F", "32", "-C", fat, strconv.Itoa(40<<10))
	run(t, "mcopy", "-i", fat, inner, "::/")
	run(t, "mcopy", "-s", "-i", fat, tree, "::/")
	run(t, "mdeltree", "-i", fat, "::/isos")
	rep := undeleteDisk(t, embedInDisk(t, fat, "dos"), UndeleteOptions{NoCarve: true})
	if len(rep.FileSystems) != 1 || rep.FileSystems[0].Kind != "fat" || rep.FileSystems[0].Offset != 1<<20 {
		t.Fatalf("file systems: %+v", rep.FileSystems)
	}
	if n := rep.FileSystems[0].Deleted; n != 1 {
		t.Errorf("%d deleted files, want 1 (the image; the loader deleted inside efiboot.img belongs to that image's file system)", n)
	}
	r := checkUndelete(t, rep, imgs, imgs[0].name)[imgs[0].name]
	if r == nil {
		return
	}
	f := r.FSFile
	if f.Path != "/_sos/"+imgs[0].name || f.Modified.IsZero() {
		t.Errorf("path %q, modified %v", f.Path, f.Modified)
	}
	var at int64
	if _, err := fmt.Sscanf(f.ID, "deleted directory entry at byte %d", &at); err != nil || at < 1<<20 {
		t.Errorf("ID %q does not give the entry's byte on the disk", f.ID)
	}
}

func TestUndeleteExt4(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup and mount")
	}
	isotest.RequireTool(t, "mkfs.ext4", "losetup", "mount", "umount")
	imgs := undeleteImages(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "ext4.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 40<<20)
	run(t, "mkfs.ext4", "-q", "-F", disk)
	dev := losetup(t, disk)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount ext4 here: %v %s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
	})
	n := fragmentAndWrite(t, mnt, imgs)
	run(t, "umount", mnt)
	mounted = false
	t.Logf("%d fillers", n)

	rep := undeleteDisk(t, disk, UndeleteOptions{})
	got := checkUndelete(t, rep, imgs, "checked-md5.iso", "plain-image.iso", "udf-only-image.img")
	for _, x := range imgs {
		if r := got[x.name]; r != nil && !fragmented(r.FSFile) {
			t.Errorf("%s was not fragmented on ext4", x.name)
		}
	}
	if !anyNested(got) {
		t.Errorf("no image starts inside another's span: the scenario does not test nesting")
	}
	carved := undeleteDisk(t, disk, UndeleteOptions{NoFS: true})
	checkCarvedOnly(t, carved, imgs)
	checkWholeDisk(t, disk, "gpt", "ext4", imgs, "checked-md5.iso", "plain-image.iso", "udf-only-image.img")
}

// TestUndeleteNoFileSystem: a source with no file system and no image
// reports nothing and no error.
func TestUndeleteNoFileSystem(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "noise.img")
	os.WriteFile(disk, randomData(4<<20, 5), 0o644)
	rep := undeleteDisk(t, disk, UndeleteOptions{})
	if len(rep.FileSystems) != 0 || len(rep.Images) != 0 {
		t.Errorf("noise: %d file systems, %d images", len(rep.FileSystems), len(rep.Images))
	}
}

// TestOutputNameHostile: names from a disk never leave the output
// directory, never overwrite, never take "." or "..".
func TestOutputNameHostile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "taken.iso"), nil, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link.iso"))
	used := map[string]bool{}
	for _, c := range []struct{ in, want string }{
		{"../../etc/passwd", "passwd"},
		{"..", "ntfs-MFT-record-7.iso"},
		{".", "ntfs-MFT-record-7-2.iso"},
		{"", "ntfs-MFT-record-7-3.iso"},
		{"a\\..\\b\x00\n.iso", "a_.._b__.iso"},
		{"evil\x1b[2J\x1b]0;pwned\a\u202eosi.txt", "evil_[2J_]0;pwned__osi.txt"}, // review S4: no escapes, no bidi override
		{"\u2066\u200e\u009b", "ntfs-MFT-record-7-4.iso"},
		{"taken.iso", "taken-2.iso"},
		{"link.iso", "link-2.iso"},
		{"same.iso", "same.iso"},
		{"same.iso", "same-2.iso"},
	} {
		got := outputName(dir, &fsmeta.File{FS: "ntfs", ID: "MFT record 7", Name: c.in}, used)
		if got != c.want || strings.ContainsAny(got, "/\x00") {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCarveKnownHash: a carved image without checksums is "likely" and
// names the checks that would verify it; with its hash in --sums (any
// name: a carved image has none) it is exact, and a wrong hash does not
// make it damaged.
func TestCarveKnownHash(t *testing.T) {
	imgs := undeleteImages(t)
	plain := imgs[1]
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	os.WriteFile(disk, append(append(randomData(1<<20, 3), plain.data...), randomData(1<<20, 4)...), 0o644)
	one := func(sums []SumEntry) *Recovered {
		rep := undeleteDisk(t, disk, UndeleteOptions{External: sums})
		if len(rep.Images) != 1 {
			t.Fatalf("%d images", len(rep.Images))
		}
		return rep.Images[0]
	}
	r := one(nil)
	if r.Status != StatusLikely || !strings.Contains(r.Note, "data unverified") || !strings.Contains(r.Note, "--sums") {
		t.Errorf("no checksum: %s, %q", r.Status, r.Note)
	}
	sums, err := ParseSums(strings.NewReader(plain.sum + "  published-name.iso\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r := one(sums); r.Status != StatusExact {
		t.Errorf("known hash: %s, %q", r.Status, r.Note)
	}
	wrong, _ := ParseSums(strings.NewReader(strings.Repeat("0", 64) + "  other.iso\n"))
	if r := one(wrong); r.Status != StatusLikely {
		t.Errorf("unrelated hash: %s, %q", r.Status, r.Note)
	}
}
