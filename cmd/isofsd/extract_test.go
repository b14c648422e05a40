//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// ---- helpers shared by the CLI tests of info, ls, extract and bench ----

var testTime = time.Date(2019, 7, 14, 12, 34, 56, 0, time.UTC)

// richTree creates a source tree with what extraction must preserve:
// modes, mtimes, symlinks (relative, absolute, dangling), hard links,
// empty files and directories, long and non-ASCII names, a fifo, a
// read-only directory with content, and files larger than the copy buffer.
func richTree(t testing.TB, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 9))
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	write := func(rel string, b []byte, mode fs.FileMode) {
		p := filepath.Join(dir, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, b, mode))
		must(os.Chmod(p, mode))
	}
	write("a.txt", []byte("hello\n"), 0o600)
	write("empty.txt", nil, 0o644)
	write("exec.sh", []byte("#!/bin/sh\necho hi\n"), 0o755)
	write("sub/data.bin", data(100<<10), 0o640)
	write("big/big.bin", data(3<<20+123), 0o644)
	write(strings.Repeat("long-name-", 20)+".txt", []byte("long"), 0o644)
	write("ünïcödé файл 名前.txt", []byte("unicode"), 0o644)
	write("with space/x y.txt", []byte("spaces"), 0o644)
	deep := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10"
	write(deep+"/deep.txt", []byte("deep"), 0o644)
	write("ro/inside.txt", []byte("in a read-only dir"), 0o644)
	must(os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755))
	must(os.Link(filepath.Join(dir, "a.txt"), filepath.Join(dir, "sub/hard.txt")))
	must(os.Symlink("../a.txt", filepath.Join(dir, "sub/link")))
	must(os.Symlink("/etc/passwd", filepath.Join(dir, "abs")))
	must(os.Symlink("does/not/exist", filepath.Join(dir, "dangling")))
	must(os.Symlink("d1/d2", filepath.Join(dir, "dirlink")))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	// Times: every entry gets a distinct past mtime, directories last.
	var paths []string
	must(filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}))
	slices.Reverse(paths)
	for i, p := range paths {
		mt := testTime.Add(time.Duration(i) * time.Hour)
		ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	must(os.Chmod(filepath.Join(dir, "ro"), 0o555))
	must(os.Chmod(filepath.Join(dir, "sub"), 0o750))
}

// xorrisoImage builds a Rock Ridge + Joliet image of src with hard links
// recorded.
// richImage builds richTree in a fresh temporary directory and masters it
// with xorriso (extra flags passed on). It returns that directory, the
// source tree and the image.
func richImage(t *testing.T, extra ...string) (tmp, src, iso string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	tmp = t.TempDir()
	src = filepath.Join(tmp, "src")
	richTree(t, src)
	iso = filepath.Join(tmp, "rich.iso")
	xorrisoImage(t, src, iso, extra...)
	return tmp, src, iso
}

func xorrisoImage(t testing.TB, src, out string, extra ...string) {
	t.Helper()
	args := append([]string{"-hardlinks", "on", "-joliet", "on", "-outdev", out, "-volid", "RICH"}, extra...)
	args = append(args, "-map", src, "/")
	runTool(t, "xorriso", args...)
}

// ---- tests ----

// TestExtractMatchesXorriso extracts the rich image with isofsd and with
// xorriso -osirrox and compares names, types, sizes, contents, link
// targets, modes and mtimes of every entry.
func TestExtractMatchesXorriso(t *testing.T) {
	tmp, src, iso := richImage(t)

	theirs := filepath.Join(tmp, "xorriso")
	runTool(t, "xorriso", "-osirrox", "on", "-hardlinks", "on", "-indev", iso, "-extract", "/", theirs)
	ours := filepath.Join(tmp, "ours")
	if _, stderr, code := cliRun(t, "extract", iso, "-C", ours); code != 0 {
		t.Fatalf("extract: exit %d\n%s", code, stderr)
	}
	// xorriso leaves the extracted top directory 0700 until the end and
	// gives it the root's mode; isofsd leaves DIR itself alone. Compare
	// what is below. xorriso does not restore symlink times; the source
	// check below does.
	oursSnap := isotest.SnapshotDir(t, ours)
	isotest.Compare(t, isotest.SnapshotDir(t, theirs), oursSnap, isotest.CompareOptions{ModeBits: true})
	// And against the source tree itself (what xorriso may not restore).
	srcSnap := isotest.SnapshotDir(t, src)
	if os.Geteuid() != 0 {
		for k, e := range srcSnap {
			if e.Type == "other" { // the FIFO
				delete(srcSnap, k)
				delete(oursSnap, k)
			}
		}
	}
	isotest.Compare(t, srcSnap, oursSnap, isotest.CompareOptions{ModeBits: true, LinkMTime: true})
	// Hard links share one inode.
	var a, h syscall.Stat_t
	if err := syscall.Stat(filepath.Join(ours, "a.txt"), &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(ours, "sub/hard.txt"), &h); err != nil {
		t.Fatal(err)
	}
	if a.Ino != h.Ino || a.Nlink != 2 {
		t.Errorf("a.txt and sub/hard.txt: inodes %d and %d, nlink %d: want one inode, 2 links", a.Ino, h.Ino, a.Nlink)
	}
}

// TestExtractTrees extracts the same image through each of its trees and
// checks content against the source (names differ by tree, content not).
func TestExtractTrees(t *testing.T) {
	tmp, src, iso := richImage(t)
	srcFiles := map[string]bool{}
	for _, e := range isotest.SnapshotDir(t, src) {
		if e.Type == "file" {
			srcFiles[e.SHA256] = true
		}
	}
	for _, tree := range []string{"rockridge", "joliet", "iso9660"} {
		t.Run(tree, func(t *testing.T) {
			out := filepath.Join(tmp, "out-"+tree)
			_, stderr, code := cliRun(t, "extract", "--tree", tree, iso, "-C", out)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			n := 0
			for k, e := range isotest.SnapshotDir(t, out) {
				if e.Type == "file" {
					n++
					if !srcFiles[e.SHA256] {
						t.Errorf("%s: content matches no source file", k)
					}
				}
			}
			if n < 10 {
				t.Errorf("%d files extracted, want >= 10", n)
			}
		})
	}
}

// TestExtractSelect checks PATH and GLOB selection.
func TestExtractSelect(t *testing.T) {
	tmp, _, iso := richImage(t)
	cases := []struct {
		args []string
		want []string // every path extracted (dirs included)
		code int
	}{
		{[]string{"sub"}, []string{"sub", "sub/data.bin", "sub/hard.txt", "sub/link"}, 0},
		{[]string{"/sub/"}, []string{"sub", "sub/data.bin", "sub/hard.txt", "sub/link"}, 0},
		{[]string{"sub/*.txt"}, []string{"sub", "sub/hard.txt"}, 0},
		{[]string{"*.sh", "big"}, []string{"exec.sh", "big", "big/big.bin"}, 0},
		{[]string{"d1/*/d3/d4/d5/d6/d7/d8/d9/d10/deep.txt"}, []string{"d1", "d1/d2", "d1/d2/d3", "d1/d2/d3/d4", "d1/d2/d3/d4/d5",
			"d1/d2/d3/d4/d5/d6", "d1/d2/d3/d4/d5/d6/d7", "d1/d2/d3/d4/d5/d6/d7/d8", "d1/d2/d3/d4/d5/d6/d7/d8/d9",
			"d1/d2/d3/d4/d5/d6/d7/d8/d9/d10", "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/deep.txt"}, 0},
		{[]string{"a.txt", "nothing-here"}, []string{"a.txt"}, 1},
		// A symlink is selected as itself, never followed.
		{[]string{"dirlink"}, []string{"dirlink"}, 0},
		// "**" crosses any number of directories (issue 21 §3).
		{[]string{"**/deep.txt"}, []string{"d1", "d1/d2", "d1/d2/d3", "d1/d2/d3/d4", "d1/d2/d3/d4/d5",
			"d1/d2/d3/d4/d5/d6", "d1/d2/d3/d4/d5/d6/d7", "d1/d2/d3/d4/d5/d6/d7/d8", "d1/d2/d3/d4/d5/d6/d7/d8/d9",
			"d1/d2/d3/d4/d5/d6/d7/d8/d9/d10", "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/deep.txt"}, 0},
		{[]string{"**/in*.txt"}, []string{"ro", "ro/inside.txt"}, 0},
		// --exclude: without "/" a name at any depth, with "/" a path.
		{[]string{"sub", "--exclude", "*.txt"}, []string{"sub", "sub/data.bin", "sub/link"}, 0},
		{[]string{"sub", "big", "--exclude", "sub/data.bin", "--exclude", "big"}, []string{"sub", "sub/hard.txt", "sub/link"}, 0},
	}
	for i, c := range cases {
		t.Run(strings.Join(c.args, ","), func(t *testing.T) {
			out := filepath.Join(tmp, fmt.Sprint("out", i))
			_, stderr, code := cliRun(t, append([]string{"extract", iso, "-C", out}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, stderr)
			}
			var got []string
			for k := range isotest.SnapshotDir(t, out) {
				got = append(got, k)
			}
			slices.Sort(got)
			slices.Sort(c.want)
			if !slices.Equal(got, c.want) {
				t.Errorf("extracted %q\nwant %q", got, c.want)
			}
		})
	}
	if _, _, code := cliRun(t, "extract", iso, "-C", filepath.Join(tmp, "bad"), "[x"); code != exitUsage {
		t.Errorf("bad pattern: exit %d, want %d", code, exitUsage)
	}
}

// TestExtractBoot checks --boot: the BIOS image is the first 2048 bytes
// (4 virtual sectors) of isolinux.bin as stored in the image, the UEFI
// image is the whole FAT image.
func TestExtractBoot(t *testing.T) {
	iso, src := bootISO(t)
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, code := cliRun(t, "extract", "--boot", iso, "-C", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	bios, err := os.ReadFile(filepath.Join(out, "[BOOT]", "boot-1-bios.img"))
	if err != nil {
		t.Fatal(err)
	}
	loader, _ := os.ReadFile(filepath.Join(out, "isolinux", "isolinux.bin"))
	if len(bios) != 2048 || len(loader) < 2048 || !bytes.Equal(bios, loader[:2048]) {
		t.Errorf("boot-1-bios.img: %d bytes, not the first 2048 of isolinux.bin (%d bytes)", len(bios), len(loader))
	}
	uefi, _ := os.ReadFile(filepath.Join(out, "[BOOT]", "boot-2-uefi.img"))
	fat, _ := os.ReadFile(filepath.Join(src, "boot", "efi.img"))
	if !bytes.Equal(uefi, fat) {
		t.Errorf("boot-2-uefi.img (%d bytes) differs from efi.img (%d bytes)", len(uefi), len(fat))
	}
	// A selective extract with --boot writes the boot images too.
	out2 := filepath.Join(t.TempDir(), "out")
	if _, stderr, code := cliRun(t, "extract", "--boot", iso, "-C", out2, "boot"); code != 0 {
		t.Fatalf("selective --boot: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out2, "[BOOT]", "boot-2-uefi.img")); err != nil {
		t.Error(err)
	}
	// An image without a boot catalog: --boot is a reported problem.
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "f"), []byte("x"), 0o644)
	plain := filepath.Join(t.TempDir(), "plain.iso")
	runTool(t, "xorriso", "-outdev", plain, "-map", tmp, "/")
	if _, stderr, code := cliRun(t, "extract", "--boot", plain, "-C", filepath.Join(t.TempDir(), "o")); code != exitDamaged || !strings.Contains(stderr, "no El Torito") {
		t.Errorf("--boot without a catalog: exit %d\n%s", code, stderr)
	}
}

// TestExtractDamaged extracts truncated and malformed corpus images: the
// readable part is extracted, every failure names the image, the path and
// a sector, and the exit code says damaged (1) or cannot open (2).
func TestExtractDamaged(t *testing.T) {
	corpus := corpusDir(t)
	cases := []struct {
		image string
		code  int // -1: 0 or 1, whichever, but no crash and no hang
	}{
		{"libcdio/bad-dir.iso", 1},
		{"isolyzer/iso9660_trunc.iso", 1},
		{"libcdio/copying.iso", 0},
		{"isolyzer/iso9660_nopvd.iso", 2},
		{"libcdio/malformed.iso", 2},
		{"libarchive/test_read_format_iso_rockridge_ce_loop.iso", -1},
		{"libarchive/test_read_format_iso_rockridge_zf_overflow.iso", -1},
		{"libarchive/test_read_format_iso_zisofs_overflow.iso", -1},
	}
	for _, c := range cases {
		t.Run(c.image, func(t *testing.T) {
			out := t.TempDir()
			img := filepath.Join(corpus, c.image)
			_, stderr, code := cliRun(t, "extract", img, "-C", out)
			if c.code >= 0 && code != c.code || c.code < 0 && code > 1 {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, stderr)
			}
			if code == exitDamaged {
				for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
					if strings.HasPrefix(line, "isofsd: extract: "+img+": ") && !strings.Contains(line, "sector") &&
						!strings.Contains(line, "(reported above)") && !strings.Contains(line, ": warning: ") {
						t.Errorf("failure line names no sector: %s", line)
					}
				}
			}
			if code == exitUsage && !strings.Contains(stderr, img) {
				t.Errorf("open error does not name the image: %s", stderr)
			}
		})
	}
}

// TestExtractCorpus extracts every corpus image: no panic, a defined exit
// code, nothing outside DIR, and for the images that extract cleanly every
// non-empty file 7-Zip extracts has the same content in isofsd's output.
func TestExtractCorpus(t *testing.T) {
	corpus := corpusDir(t)
	for _, img := range corpusImages(t, corpus) {
		rel, _ := filepath.Rel(corpus, img)
		t.Run(rel, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			_, stderr, code := cliRun(t, "extract", img, "-C", out)
			if code != 0 && code != 1 && code != 2 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 1 {
				t.Errorf("entries beside DIR: %v", ents)
			}
			if code != 0 {
				return
			}
			if _, err := exec.LookPath("7zz"); err != nil {
				return
			}
			theirs := filepath.Join(dir, "7zz")
			if err := exec.Command("7zz", "x", "-y", "-bd", "-o"+theirs, img).Run(); err != nil {
				return // 7-Zip rejects it; nothing to compare
			}
			if _, err := os.Stat(theirs); err != nil {
				return // 7-Zip found nothing to extract
			}
			// 7-Zip may read another tree (Joliet) and writes some Rock
			// Ridge symlinks as empty files: compare the non-empty
			// contents, not names.
			count := func(s isotest.Tree) map[string]int {
				m := map[string]int{}
				for _, e := range s {
					if e.Type == "file" && e.Size > 0 {
						m[e.SHA256]++
					}
				}
				return m
			}
			ours, their := count(isotest.SnapshotDir(t, out)), count(isotest.SnapshotDir(t, theirs))
			for sha := range their {
				if ours[sha] == 0 {
					t.Errorf("a file 7-Zip extracted (sha256 %s) is missing from isofsd's extraction", sha[:12])
				}
			}
		})
	}
}

// TestExtractParallelSame checks that 1 and 8 workers give the same tree.
func TestExtractParallelSame(t *testing.T) {
	tmp, _, iso := richImage(t)
	var snaps []isotest.Tree
	for _, j := range []string{"1", "8"} {
		out := filepath.Join(tmp, "out"+j)
		if _, stderr, code := cliRun(t, "extract", "-j", j, iso, "-C", out); code != 0 {
			t.Fatalf("-j %s: exit %d\n%s", j, code, stderr)
		}
		snaps = append(snaps, isotest.SnapshotDir(t, out))
	}
	isotest.Compare(t, snaps[0], snaps[1], isotest.CompareOptions{ModeBits: true, LinkMTime: true})
}

func TestExtractUsage(t *testing.T) {
	for _, args := range [][]string{
		{"extract"},
		{"extract", "x.iso"},
		{"extract", "/nonexistent.iso", "-C", t.TempDir()},
		{"extract", "x.iso", "-C", t.TempDir(), "-j", "0"},
		{"extract", "x.iso", "-C", t.TempDir(), "--tree", "nope"},
	} {
		if _, stderr, code := cliRun(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, stderr)
		}
	}
}

// loopISO builds an image whose directory sub/inner has its extent
// pointed back at the root directory: an endless tree unless the reader
// notices.
func loopISO(t *testing.T) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(filepath.Join(src, "sub", "inner"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "f.txt"), []byte("f"), 0o644)
	iso := filepath.Join(tmp, "loop.iso")
	runTool(t, "xorriso", "-outdev", iso, "-map", src, "/")
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := img.Lstat("sub/inner")
	if err != nil {
		t.Fatal(err)
	}
	rec := fi.Sys().(*isofmt.Stat).Location
	img.Close()
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	// The root directory record sits at byte 156 of the primary
	// descriptor (sector 16); its extent LBA at bytes 2..5.
	rootLBA := binary.LittleEndian.Uint32(b[16*isofmt.SectorSize+156+2:])
	// Directory record: extent LBA at bytes 2..5 (LE) and 6..9 (BE).
	binary.LittleEndian.PutUint32(b[rec+2:], rootLBA)
	binary.BigEndian.PutUint32(b[rec+6:], rootLBA)
	if err := os.WriteFile(iso, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return iso
}

// TestExtractLoop extracts and lists the looping image: both finish, say
// damaged (exit 1), and the extracted tree stays finite.
func TestExtractLoop(t *testing.T) {
	iso := loopISO(t)
	out := filepath.Join(t.TempDir(), "out")
	_, stderr, code := cliRun(t, "extract", iso, "-C", out)
	if code != exitDamaged {
		t.Errorf("extract: exit %d, want %d\n%s", code, exitDamaged, stderr)
	}
	if n := len(isotest.SnapshotDir(t, out)); n > 10 {
		t.Errorf("extract wrote %d entries from a 4-entry image", n)
	}
	if b, err := os.ReadFile(filepath.Join(out, "sub", "f.txt")); err != nil || string(b) != "f" {
		t.Errorf("sub/f.txt: %q %v", b, err)
	}
	lsOut, stderr, code := cliRun(t, "ls", "-R", iso)
	if code != exitDamaged || strings.Count(lsOut, ":\n") > 4 {
		t.Errorf("ls -R: exit %d\n%s\n%s", code, lsOut, stderr)
	}
}

// TestExtractOverwriteFlags (issue 21 §3): --skip-existing leaves existing
// files alone quietly, --rename writes beside them (name_1.ext),
// --overwrite replaces them and --force is its alias; the three exclude
// each other; without them an existing file is a reported problem.
func TestExtractOverwriteFlags(t *testing.T) {
	tmp, _, iso := richImage(t)
	out := filepath.Join(tmp, "out")
	if _, stderr, code := cliRun(t, "extract", iso, "-C", out); code != 0 {
		t.Fatalf("first extract: exit %d\n%s", code, stderr)
	}
	victim := filepath.Join(out, "exec.sh")
	orig, _ := os.ReadFile(victim)
	if err := os.WriteFile(victim, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	content := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	_, stderr, code := cliRun(t, "extract", iso, "-C", out, "exec.sh")
	if code != exitDamaged || !strings.Contains(stderr, "exec.sh") || !strings.Contains(stderr, "--overwrite") || content(victim) != "changed" {
		t.Errorf("default: exit %d, exec.sh %q\n%s", code, content(victim), stderr)
	}
	_, stderr, code = cliRun(t, "extract", "--skip-existing", iso, "-C", out)
	if code != 0 || content(victim) != "changed" || !strings.Contains(stderr, "existing entries left alone") || strings.Contains(stderr, "exec.sh") {
		t.Errorf("--skip-existing: exit %d, exec.sh %q\n%s", code, content(victim), stderr)
	}
	_, stderr, code = cliRun(t, "extract", "--rename", iso, "-C", out, "exec.sh", "sub")
	if code != 0 || content(victim) != "changed" || content(filepath.Join(out, "exec_1.sh")) != string(orig) ||
		content(filepath.Join(out, "sub", "data_1.bin")) != content(filepath.Join(out, "sub", "data.bin")) {
		t.Errorf("--rename: exit %d, exec.sh %q, exec_1.sh %q\n%s", code, content(victim), content(filepath.Join(out, "exec_1.sh")), stderr)
	}
	for _, flag := range []string{"--overwrite", "--force"} {
		os.WriteFile(victim, []byte("changed"), 0o644)
		_, stderr, code = cliRun(t, "extract", flag, iso, "-C", out, "exec.sh")
		if code != 0 || content(victim) != string(orig) {
			t.Errorf("%s: exit %d, exec.sh %q\n%s", flag, code, content(victim), stderr)
		}
		if fi, _ := os.Stat(victim); fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: exec.sh mode %v", flag, fi.Mode())
		}
	}
	if _, _, code := cliRun(t, "extract", "--force", "--rename", iso, "-C", out); code != exitUsage {
		t.Errorf("--force --rename: exit %d, want %d", code, exitUsage)
	}
}

// TestExtractDryRun (issue 21 §3): --dry-run lists each entry with what
// would happen to it on stdout, and writes nothing.
func TestExtractDryRun(t *testing.T) {
	tmp, _, iso := richImage(t)
	out := filepath.Join(tmp, "out")
	stdout, stderr, code := cliRun(t, "extract", "--dry-run", iso, "-C", out, "sub", "a.txt")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("--dry-run created DIR")
	}
	for _, want := range []string{"create  d sub\n", "create  - sub/data.bin (102400 bytes)\n", "create  l sub/link\n", "create  h sub/hard.txt\n", "create  - a.txt (6 bytes)\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("listing lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "would extract 2 files (100.0 KiB), 1 directory, 1 symlink, 1 hard link") {
		t.Errorf("summary:\n%s", stderr)
	}
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "a.txt"), []byte("mine"), 0o644)
	stdout, _, code = cliRun(t, "extract", "-n", "--rename", iso, "-C", out, "a.txt")
	if code != 0 || stdout != "rename  - a.txt (6 bytes) -> a_1.txt\n" {
		t.Errorf("--rename dry run: exit %d\n%q", code, stdout)
	}
	stdout, _, code = cliRun(t, "extract", "-n", iso, "-C", out, "a.txt")
	if code != exitDamaged || stdout != "refuse  - a.txt (6 bytes)\n" {
		t.Errorf("refusing dry run: exit %d\n%q", code, stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "a.txt")); string(b) != "mine" {
		t.Errorf("dry run wrote a.txt: %q", b)
	}
}

// TestExtractSummary (issue 21 §3): one line at the end saying what was
// written, where, in how long and how fast; -q leaves it out.
func TestExtractSummary(t *testing.T) {
	tmp, _, iso := richImage(t)
	out := filepath.Join(tmp, "out")
	_, stderr, code := cliRun(t, "extract", iso, "-C", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	re := regexp.MustCompile(`^isofsd: extract: .* -> ` + regexp.QuoteMeta(out) + `: 10 files \([0-9.]+ MiB\), 15 directories, 4 symlinks, 1 hard link, 1 FIFO or device in [0-9.]+ s \([0-9.]+ [KMG]?i?B/s\)\n$`)
	if os.Geteuid() != 0 {
		re = regexp.MustCompile(`^isofsd: extract: .* -> .*: 10 files .* in [0-9.]+ s \([0-9.]+ [KMG]?i?B/s\)\n$`)
	}
	if !re.MatchString(stderr) {
		t.Errorf("summary line: %q", stderr)
	}
	_, stderr, code = cliRun(t, "extract", "-q", "--skip-existing", iso, "-C", out)
	if code != 0 || stderr != "" {
		t.Errorf("-q: exit %d, stderr %q", code, stderr)
	}
}

// TestCatAndStdout (issue 21 §3): `cat IMAGE PATH...` and `extract -O`
// write file contents to stdout, as bsdtar -xOf does; cat follows
// symlinks inside the image, refuses directories and missing paths
// (exit 2, writing nothing), and on a damaged file writes what is
// readable, names the sector and exits 1.
func TestCatAndStdout(t *testing.T) {
	tmp, src, iso := richImage(t)
	read := func(rel string) string { b, _ := os.ReadFile(filepath.Join(src, rel)); return string(b) }
	stdout, stderr, code := cliRun(t, "cat", iso, "a.txt", "/sub/data.bin", "sub/link")
	if code != 0 || stdout != read("a.txt")+read("sub/data.bin")+read("a.txt") {
		t.Errorf("cat: exit %d, %d bytes\n%s", code, len(stdout), stderr)
	}
	if _, err := exec.LookPath("bsdtar"); err == nil {
		ref, err := exec.Command("bsdtar", "-xOf", iso, "big/big.bin").Output()
		stdout, _, code := cliRun(t, "cat", iso, "big/big.bin")
		if err != nil || code != 0 || stdout != string(ref) {
			t.Errorf("cat big/big.bin: exit %d, %d bytes; bsdtar -xOf: %d bytes, %v", code, len(stdout), len(ref), err)
		}
	}
	for _, args := range [][]string{{"cat", iso, "a.txt", "sub"}, {"cat", iso, "a.txt", "nope"}, {"cat", iso}} {
		if stdout, _, code := cliRun(t, args...); code != exitUsage || stdout != "" {
			t.Errorf("%q: exit %d, %d bytes written", args, code, len(stdout))
		}
	}
	stdout, stderr, code = cliRun(t, "extract", "-O", iso, "sub/*.bin", "exec.sh")
	if code != 0 || stdout != read("exec.sh")+read("sub/data.bin") {
		t.Errorf("extract -O: exit %d, %d bytes\n%s", code, len(stdout), stderr)
	}
	if _, _, code := cliRun(t, "extract", "-O", iso, "-C", tmp); code != exitUsage {
		t.Errorf("-O with -C: exit %d", code)
	}
	// A truncated copy: big/big.bin is cut 1 MiB in.
	cut, at := cutCopy(t, iso, "big/big.bin", 1<<20)
	stdout, stderr, code = cliRun(t, "cat", cut, "big/big.bin")
	if code != exitDamaged || stdout != read("big/big.bin")[:1<<20] || !strings.Contains(stderr, fmt.Sprintf("big/big.bin (sector %d)", at/2048)) {
		t.Errorf("cat of a cut file: exit %d, %d bytes\n%s", code, len(stdout), stderr)
	}
}

// TestStreamNamedPaths (review W8, D1): cat and extract -O are one code
// (extract.Stream) and agree: a named symlink is followed inside the
// image (to a file: its contents; through a symlinked directory on the
// way too); a named FIFO, a dangling symlink or a path that is not there
// is one clear line and exit 2 with nothing written, checked before any
// file is; symlinks matched by a wildcard are passed over.
func TestStreamNamedPaths(t *testing.T) {
	_, src, iso := richImage(t)
	read := func(rel string) string { b, _ := os.ReadFile(filepath.Join(src, rel)); return string(b) }
	deep := "dirlink/d3/d4/d5/d6/d7/d8/d9/d10/deep.txt"
	for _, c := range []struct {
		paths []string
		want  string
	}{
		{[]string{"sub/link"}, read("a.txt")},
		{[]string{deep}, "deep"},
		{[]string{"a.txt", "sub/link"}, read("a.txt") + read("a.txt")},
	} {
		for _, cmdline := range [][]string{{"cat", iso}, {"extract", "-q", "-O", iso}} {
			args := append(slices.Clone(cmdline), c.paths...)
			stdout, stderr, code := cliRun(t, args...)
			if code != 0 || stdout != c.want {
				t.Errorf("%q: exit %d, %q, want %q\n%s", args, code, stdout, c.want, stderr)
			}
		}
	}
	for _, c := range []struct {
		paths []string
		why   string
	}{
		{[]string{"a.txt", "fifo"}, "a FIFO has no content to write"},
		{[]string{"a.txt", "dangling"}, `dangling (sector `},
		{[]string{"a.txt", "dangling"}, `: a symlink to "does/not/exist", which leads to none of the image's files, has no content to write`},
		{[]string{"a.txt", "nope"}, "nope: not found in the image"},
	} {
		for _, cmdline := range [][]string{{"cat", iso}, {"extract", "-O", iso}} {
			args := append(slices.Clone(cmdline), c.paths...)
			stdout, stderr, code := cliRun(t, args...)
			if code != exitUsage || stdout != "" || !strings.Contains(stderr, c.why) || !strings.Contains(stderr, "nothing written") {
				t.Errorf("%q: exit %d, %d bytes written, want exit %d, nothing written and %q\n%s", args, code, len(stdout), exitUsage, c.why, stderr)
			}
		}
	}
	// A named symlink to a directory: its files for extract -O (as the
	// directory itself gives); cat takes files only.
	if stdout, stderr, code := cliRun(t, "extract", "-q", "-O", iso, "dirlink"); code != 0 || stdout != "deep" {
		t.Errorf("extract -O dirlink: exit %d %q\n%s", code, stdout, stderr)
	}
	if stdout, _, code := cliRun(t, "cat", iso, "dirlink"); code != exitUsage || stdout != "" {
		t.Errorf("cat dirlink: exit %d, %d bytes", code, len(stdout))
	}
	// A wildcard passes symlinks over: sub/link is not data.bin's twin.
	if stdout, stderr, code := cliRun(t, "extract", "-q", "-O", iso, "sub/*"); code != 0 || stdout != read("sub/data.bin")+read("a.txt") {
		t.Errorf("extract -O 'sub/*': exit %d, %d bytes\n%s", code, len(stdout), stderr)
	}
}

// TestExtractSummaryWording (review W5): the end lines tell the truth —
// a dry run says what it would extract and counts no refused entry as
// extracted; -O of a damaged file counts the file it cut short; singular
// and plural agree.
func TestExtractSummaryWording(t *testing.T) {
	tmp, src, iso := richImage(t)
	out := filepath.Join(tmp, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "a.txt"), []byte("mine"), 0o644)
	_, stderr, code := cliRun(t, "extract", "-n", iso, "-C", out, "a.txt", "exec.sh")
	if code != exitDamaged || !strings.Contains(stderr, "would extract 1 file (18 B)") || !strings.Contains(stderr, ": 1 problem (listed above); 1 of 2 entries would be extracted") {
		t.Errorf("dry run with a refusal: exit %d\n%s", code, stderr)
	}
	cut, _ := cutCopy(t, iso, "big/big.bin", 1<<20)
	_, stderr, code = cliRun(t, "extract", "-O", cut, "big/big.bin")
	if code != exitDamaged || !strings.Contains(stderr, "-> stdout: 1 file, 1 cut short by damage (1.0 MiB)") || !strings.Contains(stderr, "0 of 1 files written whole") {
		t.Errorf("-O of a cut file: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cliRun(t, "cat", cut, "big/big.bin", "a.txt")
	if code != exitDamaged || !strings.Contains(stderr, ": 1 file damaged (reported above)") || strings.Count(stderr, "files beyond it are missing") != 1 || strings.Count(stderr, "warning: image truncated") != 1 {
		t.Errorf("cat of a cut file: exit %d (want 1 file damaged, the truncation said once)\n%s", code, stderr)
	}
	// A whole file from a truncated image: the file is written, and the
	// exit status still says the image is damaged, as extract's does.
	want, _ := os.ReadFile(filepath.Join(src, "a.txt"))
	stdout, stderr, code := cliRun(t, "cat", cut, "a.txt")
	if code != exitDamaged || stdout != string(want) || !strings.Contains(stderr, ": the image is damaged (reported above)") {
		t.Errorf("cat of a whole file from a cut image: exit %d, %q\n%s", code, stdout, stderr)
	}
}

// cutCopy writes a copy of iso that ends keep bytes into the data of the
// file at path (a truncated download), and returns it and where that
// file's data starts.
func cutCopy(t *testing.T, iso, path string, keep int64) (cut string, at int64) {
	t.Helper()
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fi, err := img.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	at, ok := fi.Sys().(*isofmt.Stat).DataOffset()
	if !ok {
		t.Fatalf("%s has no recorded data", path)
	}
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	cut = filepath.Join(t.TempDir(), "cut.iso")
	if err := os.WriteFile(cut, data[:at+keep], 0o644); err != nil {
		t.Fatal(err)
	}
	return cut, at
}
