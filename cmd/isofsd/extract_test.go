//go:build linux

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
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

// entry is what a comparison of two extracted trees looks at.
type entry struct {
	typ    string
	size   int64
	sha    string
	target string
	perm   fs.FileMode
	mtime  int64
}

// snapshot describes every entry under dir by its slash path.
func snapshot(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{typ: lsMode(fi.Mode())[:1], perm: fi.Mode() & (fs.ModePerm | fs.ModeSticky | fs.ModeSetuid | fs.ModeSetgid), mtime: fi.ModTime().Unix()}
		switch {
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s := sha256.Sum256(b)
			e.sha = hex.EncodeToString(s[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			e.target, _ = os.Readlink(p)
			e.perm = 0
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(t *testing.T, want, got map[string]entry, wantName, gotName string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	bad := 0
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !wok:
			t.Errorf("%s: only in %s: %+v", k, gotName, g)
		case !gok:
			t.Errorf("%s: only in %s: %+v", k, wantName, w)
		case w != g:
			t.Errorf("%s:\n  %s: %+v\n  %s: %+v", k, wantName, w, gotName, g)
		default:
			continue
		}
		if bad++; bad > 20 {
			t.Fatal("too many differences")
		}
	}
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
	// what is below.
	// xorriso does not restore symlink times; the source check below does.
	noLinkTimes := func(m map[string]entry) map[string]entry {
		for k, e := range m {
			if e.typ == "l" {
				e.mtime = 0
				m[k] = e
			}
		}
		return m
	}
	diffSnapshots(t, noLinkTimes(snapshot(t, theirs)), noLinkTimes(snapshot(t, ours)), "xorriso", "isofsd")
	// And against the source tree itself (what xorriso may not restore).
	srcSnap := snapshot(t, src)
	oursSnap := snapshot(t, ours)
	for k, w := range srcSnap {
		g := oursSnap[k]
		if w.typ == "p" && os.Geteuid() != 0 {
			continue
		}
		if w != g {
			t.Errorf("%s: source %+v, extracted %+v", k, w, g)
		}
	}
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
	for _, e := range snapshot(t, src) {
		if e.typ == "-" {
			srcFiles[e.sha] = true
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
			for k, e := range snapshot(t, out) {
				if e.typ == "-" {
					n++
					if !srcFiles[e.sha] {
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
	}
	for i, c := range cases {
		t.Run(strings.Join(c.args, ","), func(t *testing.T) {
			out := filepath.Join(tmp, fmt.Sprint("out", i))
			_, stderr, code := cliRun(t, append([]string{"extract", iso, "-C", out}, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s", code, c.code, stderr)
			}
			var got []string
			for k := range snapshot(t, out) {
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

// TestExtractForce checks that nothing is replaced without --force, that
// --force replaces files, and that a pre-existing symlink in DIR is never
// written through.
func TestExtractForce(t *testing.T) {
	tmp, _, iso := richImage(t)
	out := filepath.Join(tmp, "out")
	if _, stderr, code := cliRun(t, "extract", iso, "-C", out); code != 0 {
		t.Fatalf("first extract: exit %d\n%s", code, stderr)
	}
	victim := filepath.Join(out, "exec.sh")
	if err := os.WriteFile(victim, []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cliRun(t, "extract", iso, "-C", out, "exec.sh")
	if code != exitDamaged || !strings.Contains(stderr, "exec.sh") || !strings.Contains(stderr, "--force") {
		t.Errorf("extract over existing file: exit %d, stderr:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "changed" {
		t.Errorf("exec.sh replaced without --force: %q", b)
	}
	if _, stderr, code := cliRun(t, "extract", "--force", iso, "-C", out); code != 0 {
		t.Fatalf("extract --force: exit %d\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(victim); !strings.HasPrefix(string(b), "#!/bin/sh") {
		t.Errorf("exec.sh not replaced by --force: %q", b)
	}

	// DIR/sub is a symlink to a directory outside DIR.
	outside := filepath.Join(tmp, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(tmp, "out2")
	os.Mkdir(out2, 0o755)
	if err := os.Symlink(outside, filepath.Join(out2, "sub")); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cliRun(t, "extract", iso, "-C", out2, "sub")
	if code != exitDamaged || !strings.Contains(stderr, "sub") {
		t.Errorf("extract through symlinked dir: exit %d\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside DIR through a symlink: %v", ents)
	}
	if _, stderr, code := cliRun(t, "extract", "--force", iso, "-C", out2, "sub"); code != 0 {
		t.Errorf("extract --force over symlinked dir: exit %d\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("--force wrote outside DIR through a symlink: %v", ents)
	}
	if fi, err := os.Lstat(filepath.Join(out2, "sub")); err != nil || !fi.IsDir() {
		t.Errorf("--force did not replace the symlink by a directory: %v %v", fi, err)
	}
}

// patchAll replaces every occurrence of from by to (same length).
func patchAll(t *testing.T, img []byte, from, to []byte) {
	t.Helper()
	if len(from) != len(to) || !bytes.Contains(img, from) {
		t.Fatalf("patch %q: not found or length differs", from)
	}
	copy(img, bytes.ReplaceAll(img, from, to))
}

func utf16be(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return b
}

// hostileISO builds the image of TestExtractHostile: a Joliet directory
// "..", a Joliet file "a/b", a plain ISO 9660 directory ".."; the Rock
// Ridge tree holds a symlink "evil" to the directory outside (returned).
func hostileISO(t *testing.T) (iso, outside string) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	tmp := t.TempDir()
	outside = filepath.Join(tmp, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(tmp, "src")
	for _, d := range []string{"qq", "evim", "ok"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "qq", "escaped"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "a_b"), []byte("slash"), 0o644)
	os.WriteFile(filepath.Join(src, "evim", "pwned"), []byte("pwned"), 0o644)
	os.WriteFile(filepath.Join(src, "ok", "fine.txt"), []byte("fine"), 0o644)
	os.Symlink(outside, filepath.Join(src, "evil"))
	iso = filepath.Join(tmp, "hostile.iso")
	runTool(t, "xorriso", "-joliet", "on", "-outdev", iso, "-map", src, "/")
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	// Joliet names; the plain name "QQ".
	patchAll(t, b, utf16be("qq"), utf16be(".."))
	patchAll(t, b, utf16be("a_b"), utf16be("a/b"))
	patchAll(t, b, []byte("\x02QQ"), []byte("\x02.."))
	if err := os.WriteFile(iso, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return iso, outside
}

// TestExtractHostile patches names in a generated image: in the Joliet
// tree a directory becomes ".." and a file "a/b", in the plain ISO 9660
// tree a directory becomes "..". The parser renames them to path elements
// ("__", "a_b", as it does for every tree), so they are extracted inside
// DIR, never outside it, with or without --force (the CLI's own name
// check, TestCheckName, is the second line). Then the two-member symlink
// attack: one image puts a symlink "evil" -> outside into DIR, a second
// one a file evil/pwned: refused, and --force replaces the symlink instead
// of following it.
func TestExtractHostile(t *testing.T) {
	iso, outside := hostileISO(t)
	tmp := t.TempDir()
	cases := []struct {
		tree    string
		renamed map[string]string // hostile name on disk -> name listed; file inside -> content
		files   map[string]string
	}{
		{"joliet", map[string]string{"..": "__", "a/b": "a_b"}, map[string]string{"__/escaped": "x", "a_b": "slash"}},
		{"iso9660", map[string]string{"..": "__"}, map[string]string{"__/ESCAPED": "x"}},
	}
	for _, c := range cases {
		img, err := isofmt.OpenFile(iso, &isofmt.Options{Tree: c.tree})
		if err != nil {
			t.Fatal(err)
		}
		root, _ := img.Root()
		kids, _ := img.ReadDirNode(root)
		var names []string
		for _, k := range kids {
			names = append(names, k.Name)
		}
		img.Close()
		for hostile, renamed := range c.renamed {
			if slices.Contains(names, hostile) || !slices.Contains(names, renamed) {
				t.Fatalf("%s tree lists %q; want %q renamed to %q", c.tree, names, hostile, renamed)
			}
		}
		for _, force := range []bool{false, true} {
			t.Run(fmt.Sprint(c.tree, "/force=", force), func(t *testing.T) {
				out := filepath.Join(tmp, fmt.Sprint("out-", c.tree, force))
				args := []string{"extract", "--tree", c.tree, iso, "-C", out}
				if force {
					args = append(args, "--force")
				}
				_, stderr, code := cliRun(t, args...)
				if code != 0 {
					t.Errorf("exit %d; image lists %q\n%s", code, names, stderr)
				}
				if ents, _ := os.ReadDir(outside); len(ents) != 0 {
					t.Errorf("wrote outside DIR: %v", ents)
				}
				for _, p := range []string{filepath.Join(tmp, "escaped"), filepath.Join(tmp, "ESCAPED")} {
					if _, err := os.Stat(p); err == nil {
						t.Errorf("wrote %s through a \"..\" name", p)
					}
				}
				for rel, want := range c.files {
					if b, err := os.ReadFile(filepath.Join(out, rel)); err != nil || string(b) != want {
						t.Errorf("%s: %q %v, want %q", rel, b, err, want)
					}
				}
				fine := sha256.Sum256([]byte("fine"))
				found := false
				for _, e := range snapshot(t, out) {
					found = found || e.sha == hex.EncodeToString(fine[:])
				}
				if !found {
					t.Errorf("harmless 4-byte file not extracted")
				}
			})
		}
	}

	// isofmt renames a second entry of the same name in one directory, so
	// the symlink and the directory come from two images, as in the
	// classic two-member tar attack.
	src2 := filepath.Join(tmp, "src2")
	os.MkdirAll(filepath.Join(src2, "evil"), 0o755)
	os.WriteFile(filepath.Join(src2, "evil", "pwned"), []byte("pwned"), 0o644)
	iso2 := filepath.Join(tmp, "second.iso")
	runTool(t, "xorriso", "-outdev", iso2, "-map", src2, "/")
	out := filepath.Join(tmp, "out-twostep")
	if _, stderr, code := cliRun(t, "extract", iso, "-C", out, "evil"); code != 0 {
		t.Fatalf("symlink image: exit %d\n%s", code, stderr)
	}
	if tgt, err := os.Readlink(filepath.Join(out, "evil")); err != nil || tgt != outside {
		t.Fatalf("symlink not extracted verbatim: %q %v", tgt, err)
	}
	_, stderr, code := cliRun(t, "extract", iso2, "-C", out)
	if code != exitDamaged || !strings.Contains(stderr, "evil") {
		t.Errorf("file under symlink: exit %d\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("wrote outside DIR through the extracted symlink: %v", ents)
	}
	if _, stderr, code := cliRun(t, "extract", "--force", iso2, "-C", out); code != 0 {
		t.Errorf("--force: exit %d\n%s", code, stderr)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("--force wrote outside DIR through the extracted symlink: %v", ents)
	}
	if b, err := os.ReadFile(filepath.Join(out, "evil", "pwned")); err != nil || string(b) != "pwned" {
		t.Errorf("--force: evil/pwned: %q %v", b, err)
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

func TestCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"a", true}, {"a b", true}, {"..a", true}, {"a..", true}, {"ünï", true}, {"...", true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {"/", false}, {"/etc", false}, {"a\x00b", false},
	} {
		if err := checkName(c.name); (err == nil) != c.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", c.name, err, c.ok)
		}
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
						!strings.Contains(line, "problems (reported above)") && !strings.Contains(line, ": warning: ") {
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
			count := func(s map[string]entry) map[string]int {
				m := map[string]int{}
				for _, e := range s {
					if e.typ == "-" && e.size > 0 {
						m[e.sha]++
					}
				}
				return m
			}
			ours, their := count(snapshot(t, out)), count(snapshot(t, theirs))
			for sha := range their {
				if ours[sha] == 0 {
					t.Errorf("a file 7-Zip extracted (sha256 %s) is missing from isofsd's extraction", sha[:12])
				}
			}
		})
	}
}

// TestExtractDevicesNeedRoot extracts an image holding a character and
// a block device: as root they are created with their numbers; a non-root
// extractor skips them with a warning and still succeeds.
func TestExtractDevicesNeedRoot(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	if os.Geteuid() != 0 {
		t.Skip("building an image with device nodes needs root (mknod)")
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "plain"), []byte("p"), 0o644)
	if err := unix.Mknod(filepath.Join(src, "chr"), unix.S_IFCHR|0o640, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	if err := unix.Mknod(filepath.Join(src, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
		t.Skipf("mknod: %v", err)
	}
	iso := filepath.Join(tmp, "dev.iso")
	runTool(t, "xorriso", "-outdev", iso, "-map", src, "/")
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var errw bytes.Buffer
	for _, asRoot := range []bool{false, true} {
		out := t.TempDir()
		errw.Reset()
		x := &extractor{img: img, imgName: "dev.iso", jobs: 2, asRoot: asRoot, errw: &errw}
		res, err := x.run(out, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.failed != 0 {
			t.Errorf("asRoot=%v: %d failures\n%s", asRoot, res.failed, errw.String())
		}
		if _, err := os.Stat(filepath.Join(out, "plain")); err != nil {
			t.Errorf("asRoot=%v: plain file missing: %v", asRoot, err)
		}
		var st unix.Stat_t
		errC := unix.Lstat(filepath.Join(out, "chr"), &st)
		if !asRoot {
			if errC == nil || res.skipped != 2 || !strings.Contains(errw.String(), "needs root") {
				t.Errorf("non-root: chr present=%v, skipped %d\n%s", errC == nil, res.skipped, errw.String())
			}
			continue
		}
		if errC != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(uint64(st.Rdev)) != 1 || unix.Minor(uint64(st.Rdev)) != 3 || st.Mode&0o777 != 0o640 {
			t.Errorf("root: chr: %v mode %o rdev %d,%d", errC, st.Mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		if err := unix.Lstat(filepath.Join(out, "blk"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK || unix.Major(uint64(st.Rdev)) != 7 || unix.Minor(uint64(st.Rdev)) != 200 {
			t.Errorf("root: blk: %v mode %o rdev %d,%d", err, st.Mode, unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
	}
}

// TestExtractParallelSame checks that 1 and 8 workers give the same tree.
func TestExtractParallelSame(t *testing.T) {
	tmp, _, iso := richImage(t)
	var snaps []map[string]entry
	for _, j := range []string{"1", "8"} {
		out := filepath.Join(tmp, "out"+j)
		if _, stderr, code := cliRun(t, "extract", "-j", j, iso, "-C", out); code != 0 {
			t.Fatalf("-j %s: exit %d\n%s", j, code, stderr)
		}
		snaps = append(snaps, snapshot(t, out))
	}
	diffSnapshots(t, snaps[0], snaps[1], "-j 1", "-j 8")
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

// TestExtractBigFile extracts a file large enough to be split into ranges
// copied by several workers, and one with a single worker: both must equal
// the source byte for byte, with mode and mtime restored.
func TestExtractBigFile(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	os.MkdirAll(src, 0o755)
	data := make([]byte, bigFileSize+bigChunkSize/2+12345)
	benchRand(3).Read(data)
	p := filepath.Join(src, "huge.bin")
	if err := os.WriteFile(p, data, 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, testTime, testTime)
	iso := filepath.Join(tmp, "big.iso")
	xorrisoImage(t, src, iso)
	os.Remove(p)
	want := sha256.Sum256(data)
	for _, j := range []string{"4", "1"} {
		out := filepath.Join(tmp, "out"+j)
		if _, stderr, code := cliRun(t, "extract", "-j", j, iso, "-C", out); code != 0 {
			t.Fatalf("-j %s: exit %d\n%s", j, code, stderr)
		}
		got, err := os.ReadFile(filepath.Join(out, "huge.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != want || len(got) != len(data) {
			t.Errorf("-j %s: content differs (%d bytes, want %d)", j, len(got), len(data))
		}
		fi, _ := os.Stat(filepath.Join(out, "huge.bin"))
		if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(testTime) {
			t.Errorf("-j %s: mode %v mtime %v", j, fi.Mode(), fi.ModTime())
		}
		os.RemoveAll(out)
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
	if n := len(snapshot(t, out)); n > 10 {
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
