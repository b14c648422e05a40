//go:build linux

package recover

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// Metadata reuse: after an image is deleted, the file system writes its
// own metadata (extent tree blocks, directories, MFT records, ...) over the
// image's clusters and frees it again. The allocation map then shows every
// cluster free, and no deleted file's data claims them; only the
// metadata's own records (or a checksum) can tell. Whatever undelete says,
// it must never call such an image exact.

// reuseImage builds a small ISO without any checksum (only the file
// system's word or a structure check could vouch for it).
func reuseImage(t *testing.T) []byte {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	os.Mkdir(tree, 0o755)
	os.WriteFile(filepath.Join(tree, "payload.bin"), randomData(300<<10, 61), 0o644)
	p := filepath.Join(dir, "a.iso")
	run(t, "xorriso", "-as", "mkisofs", "-R", "-V", "REUSE", "-o", p, tree)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// diffRanges returns the byte ranges where got differs from want (and
// the part of either that the other lacks).
func diffRanges(got, want []byte) []Range {
	var out []Range
	n := min(len(got), len(want))
	for i := 0; i < n; {
		if got[i] == want[i] {
			i++
			continue
		}
		j := i
		for j < n && got[j] != want[j] {
			j++
		}
		out = append(out, Range{int64(i), int64(j - i)})
		i = j
	}
	if len(got) != len(want) {
		out = append(out, Range{int64(n), int64(max(len(got), len(want)) - n)})
	}
	return out
}

// checkReuse checks what undelete reports for the image named name:
// reported, never exact unless byte-identical; and, when wantWrong is
// set, the bytes the reuse changed are among the image's wrong ranges.
// It returns whether the recovered bytes differ from the original (the
// scenario did overwrite the image).
func checkReuse(t *testing.T, rep *UndeleteReport, name string, want []byte, wantWrong bool) bool {
	t.Helper()
	var r *Recovered
	for _, x := range rep.Images {
		t.Logf("%q at %d: %s via %s; note %s", x.Name, x.Offset, x.Status, x.Method, x.Note)
		if x.Name == name {
			r = x
		}
		if x.Status == StatusExact && x.Path != "" {
			if got, _ := os.ReadFile(x.Path); !bytes.Equal(got, want) {
				t.Errorf("%q (%s) called exact, but %d byte ranges differ from the original: %v", x.Name, x.Method, len(diffRanges(got, want)), head(diffRanges(got, want)))
			}
		}
	}
	if r == nil || r.Path == "" {
		t.Errorf("%s: not recovered under its name", name)
		return false
	}
	got, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	diff := diffRanges(got, want)
	if wantWrong {
		var missed []Range
		for _, d := range diff {
			if !covered(r.Wrong, d) {
				missed = append(missed, d)
			}
		}
		if len(missed) > 0 {
			t.Errorf("%s (%s): %d byte ranges differ from the original but are not among its wrong ranges %v, first %v", name, r.Status, len(missed), r.Wrong, head(missed))
		}
	}
	return len(diff) > 0
}

func head(rs []Range) []Range { return rs[:min(len(rs), 4)] }

// covered reports whether rs (normalised) cover all of d.
func covered(rs []Range, d Range) bool {
	for _, r := range rs {
		if r.Offset <= d.Offset && d.Offset+d.Length <= r.Offset+r.Length {
			return true
		}
	}
	return false
}

// TestUndeleteExt4ExtentBlockReuse is the review's W1 scenario as it was
// reported: an image copied to a fresh ext4 (1 KiB blocks), synced and
// deleted; then a 20 MiB file whose extent tree needs a leaf block is
// written, synced and deleted. The leaf lands on the image's clusters,
// all of them free again afterwards: the image must come back damaged
// there, not exact.
func TestUndeleteExt4ExtentBlockReuse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup and mount")
	}
	isotest.RequireTool(t, "mkfs.ext4", "losetup", "mount", "umount", "dd", "sync")
	iso := reuseImage(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "e.img")
	os.WriteFile(disk, nil, 0o644)
	os.Truncate(disk, 32<<20)
	run(t, "mkfs.ext4", "-q", "-F", disk)
	mnt := filepath.Join(dir, "m")
	os.Mkdir(mnt, 0o755)
	dev := losetup(t, disk)
	if out, err := exec.Command("mount", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount ext4 here: %v %s", err, out)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", mnt, err, out)
			}
		}
	})
	if err := os.WriteFile(filepath.Join(mnt, "a.iso"), iso, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "sync")
	os.Remove(filepath.Join(mnt, "a.iso"))
	run(t, "sync")
	run(t, "dd", "if=/dev/urandom", "of="+filepath.Join(mnt, "fill"), "bs=1M", "count=20")
	run(t, "sync")
	os.Remove(filepath.Join(mnt, "fill"))
	run(t, "umount", mnt)
	mounted = false

	rep := undeleteDisk(t, disk, UndeleteOptions{})
	if !checkReuse(t, rep, "a.iso", iso, true) {
		t.Fatalf("the fill's metadata did not land on the image's clusters: the scenario tests nothing")
	}
}

// The storm. Before the image, stormPrepare makes the directory "keep"
// and spare empty files in the root: they hold the MFT records the storm
// will need, so that it does not take the deleted image's (NTFS reuses
// the lowest free record; the other file systems need no spares: the
// storm makes no entry in the root, where the image's is). After the
// image is deleted, storm removes the spares and makes keep/grow with
// empty files with long names — metadata only: index blocks, directory
// clusters and blocks, no file data — which the file system puts on free
// clusters, the deleted image's among them; then removes keep/grow, so
// those are free again.
func stormPrepare(t *testing.T, mnt string, spares int) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(mnt, "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < spares; i++ {
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("s%03d", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "sync")
}

func storm(t *testing.T, mnt string, spares, files int, inKeep bool) {
	t.Helper()
	for i := 0; i < spares; i++ {
		if err := os.Remove(filepath.Join(mnt, fmt.Sprintf("s%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "sync")
	// inKeep grows keep itself instead (ext4 puts a new directory's
	// blocks in another block group, a grown one's next to its first).
	dir := filepath.Join(mnt, "keep")
	if !inKeep {
		dir = filepath.Join(dir, "grow")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < files; i++ {
		if err := os.WriteFile(filepath.Join(dir, stormName(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(t, "sync")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	run(t, "sync")
}

func stormName(i int) string {
	return fmt.Sprintf("an-empty-file-with-a-rather-long-name-so-that-the-directory-grows-%03d", i)
}

// TestUndeleteMetadataReuse: on each file system, an image is written,
// synced and deleted; then a storm of directories, small files and
// fragmented files is written and removed. Whatever of the image's
// clusters the storm's metadata took, undelete must not call wrong bytes
// exact.
func TestUndeleteMetadataReuse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for losetup, mount and FUSE mounts")
	}
	iso := reuseImage(t)
	// mounted prepares a file system image on disk, mounts it at mnt and
	// returns the function that unmounts it (waiting for a FUSE daemon).
	type mounter func(t *testing.T, disk, mnt string) func()
	fuse := func(mkfs []string, loop bool, daemon string, args ...string) mounter {
		return func(t *testing.T, disk, mnt string) func() {
			isotest.RequireTool(t, mkfs[0], daemon, "umount")
			run(t, mkfs[0], append(mkfs[1:], disk)...)
			src := disk
			if loop {
				src = losetup(t, disk)
			}
			var a []string
			for _, x := range args {
				a = append(a, strings.NewReplacer("SRC", src, "MNT", mnt).Replace(x))
			}
			d := fuseMount(t, mnt, daemon, a...)
			mounted := true
			t.Cleanup(func() {
				if mounted {
					exec.Command("umount", mnt).Run()
					d.Wait()
				}
			})
			return func() {
				run(t, "umount", mnt)
				mounted = false
				waitExit(t, d)
			}
		}
	}
	// spares and files are tuned so that the storm's metadata lands on the
	// image's first clusters but leaves its volume descriptors at 32 KiB
	// alone (else the image is no image any more, and nothing is claimed).
	for _, c := range []struct {
		kind          string
		spares, files int
		inKeep        bool
		// wantWrong: every byte the storm changed is among the image's
		// wrong ranges (not only kept from exact).
		wantWrong bool
		// orphan: keep goes too, and a new directory takes its entry and
		// its cluster, so no deleted entry names keep/grow any more: only
		// reading the bytes back shows the directory on the image.
		orphan bool
		mount  mounter
	}{
		{"ntfs", 300, 40, false, false, false, fuse([]string{"mkntfs", "-q", "-F", "-f"}, false, "ntfs-3g", "-o", "no_detach", "SRC", "MNT")},
		{"exfat", 0, 30, false, true, false, fuse([]string{"mkfs.exfat"}, true, "mount.exfat-fuse", "-d", "SRC", "MNT")},
		{"exfat-orphan", 0, 30, false, false, true, fuse([]string{"mkfs.exfat"}, true, "mount.exfat-fuse", "-d", "SRC", "MNT")},
	} {
		t.Run(c.kind, func(t *testing.T) {
			dir := t.TempDir()
			disk := filepath.Join(dir, c.kind+".img")
			os.WriteFile(disk, nil, 0o644)
			os.Truncate(disk, 32<<20)
			mnt := filepath.Join(dir, "mnt")
			os.Mkdir(mnt, 0o755)
			unmount := c.mount(t, disk, mnt)
			stormPrepare(t, mnt, c.spares)
			if err := os.WriteFile(filepath.Join(mnt, "a.iso"), iso, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "sync")
			os.Remove(filepath.Join(mnt, "a.iso"))
			run(t, "sync")
			storm(t, mnt, c.spares, c.files, c.inKeep)
			if c.orphan {
				if err := os.RemoveAll(filepath.Join(mnt, "keep")); err != nil {
					t.Fatal(err)
				}
				run(t, "sync")
				if err := os.Mkdir(filepath.Join(mnt, "y"), 0o755); err != nil {
					t.Fatal(err)
				}
				run(t, "sync")
			}
			unmount()
			rep := undeleteDisk(t, disk, UndeleteOptions{NoCarve: true})
			if !checkReuse(t, rep, "a.iso", iso, c.wantWrong) {
				t.Fatalf("the storm's metadata did not land on the image's clusters: the scenario tests nothing")
			}
		})
	}
	// FAT through mtools (no mount): the same storm with mmd, mcopy and
	// mdeltree. The FAT chain of a deleted file is zeroed, so its layout
	// is assumed and nothing but a checksum can make it exact.
	t.Run("fat", func(t *testing.T) {
		isotest.RequireTool(t, "mkfs.fat", "mcopy", "mdel", "mmd", "mdeltree")
		dir := t.TempDir()
		disk := filepath.Join(dir, "fat.img")
		run(t, "mkfs.fat", "-C", disk, "32768")
		p := filepath.Join(dir, "reuse-image.iso") // a long name: the deleted 8.3 one loses its first letter
		os.WriteFile(p, iso, 0o644)
		run(t, "mmd", "-i", disk, "::/keep")
		run(t, "mcopy", "-i", disk, p, "::/")
		run(t, "mdel", "-i", disk, "::/reuse-image.iso")
		run(t, "mmd", "-i", disk, "::/keep/grow")
		var names []string
		for i := 0; i < 30; i++ {
			n := filepath.Join(dir, stormName(i))
			os.WriteFile(n, nil, 0o644)
			names = append(names, n)
		}
		run(t, "mcopy", append(append([]string{"-i", disk}, names...), "::/keep/grow/")...)
		run(t, "mdeltree", "-i", disk, "::/keep/grow")
		rep := undeleteDisk(t, disk, UndeleteOptions{NoCarve: true})
		if !checkReuse(t, rep, "reuse-image.iso", iso, false) {
			t.Fatalf("the storm's metadata did not land on the image's clusters: the scenario tests nothing")
		}
	})
}
