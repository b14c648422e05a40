// Package isotest builds test images with real mastering tools (xorriso,
// genisoimage), extracts them with independent readers (xorriso -osirrox,
// 7-Zip), compares directory trees, and holds the skip policies every
// test shares (RequireTool, RequireFUSE). It is used only by tests.
package isotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireTool skips the test when a command-line tool is missing, naming
// the Debian package that provides it (.ci/run installs them all). It is
// the one such helper of the repository's tests.
func RequireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			pkg := toolPackages[n]
			if pkg == "" {
				pkg = "the package that provides it"
			}
			t.Skipf("%s not installed (apt-get install %s; .ci/run does)", n, pkg)
		}
	}
}

// toolPackages names the Debian package of each tool the tests run.
var toolPackages = map[string]string{
	"xorriso": "xorriso", "genisoimage": "genisoimage", "isoinfo": "genisoimage", "7zz": "7zip",
	"bsdtar": "libarchive-tools", "mkudffs": "udftools", "implantisomd5": "isomd5sum",
	"checkisomd5": "isomd5sum", "mformat": "mtools", "mcopy": "mtools", "mmd": "mtools", "mkfs.vfat": "dosfstools",
	"mkfs.fat": "dosfstools", "nginx": "nginx", "sfdisk": "fdisk", "sgdisk": "gdisk",
	"mkfs.ext4": "e2fsprogs", "ddrescue": "gddrescue", "ddrescuelog": "gddrescue",
	"fuseiso": "fuseiso", "archivemount": "archivemount", "losetup": "mount",
	"fusermount3": "fuse3", "wimlib-imagex": "wimtools", "qemu-system-x86_64": "qemu-system-x86",
	"mkntfs": "ntfs-3g", "mkfs.exfat": "exfatprogs", "isohybrid": "syslinux-utils",
	"man": "man-db", "groff": "groff-base", "useradd": "passwd", "userdel": "passwd",
	"runuser": "util-linux", "setpriv": "util-linux", "unshare": "util-linux", "findmnt": "util-linux",
	"systemd-escape": "systemd", "systemd-analyze": "systemd", "curl": "curl", "mount.fuse3": "fuse3",
	"cdrskin": "cdrskin", "photorec": "testdisk", "ntfs-3g": "ntfs-3g",
	"gzip": "gzip", "bzip2": "bzip2", "xz": "xz-utils", "zstd": "zstd",
	"zsync": "zsync", "zsyncmake": "zsync", "gpg": "gnupg", "python3": "python3",
}

// SyncBuffer is a bytes.Buffer that one goroutine may write (a child
// process's output) while another reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Run runs a command and fails the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Stamp is the fixed mtime given to every generated entry (second
// resolution, as ISO 9660 records it).
var Stamp = time.Date(2024, 3, 9, 14, 15, 16, 0, time.UTC)

// FeatureTree writes a tree exercising what the parsers must get right:
// long and non-ASCII names, sizes around sector boundaries, empty files and
// directories, relative/absolute/dangling symlinks, hard links, modes, a
// deep chain, and (if many > 0) one directory holding many entries.
func FeatureTree(t testing.TB, dir string, many int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	write := func(rel string, size int, mode os.FileMode) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []int{0, 1, 2047, 2048, 2049, 65536, 300000} {
		write(fmt.Sprintf("sizes/file-%d.bin", s), s, 0o644)
	}
	write("modes/private", 10, 0o600)
	write("modes/script.sh", 20, 0o755)
	write("modes/readonly", 5, 0o444)
	write("names/"+strings.Repeat("long-name-", 18)+"end.txt", 7, 0o644)
	write("names/FéжΘvrier.txt", 3, 0o644)
	write("names/日本語のファイル名.txt", 3, 0o644)
	write("names/with space & (parens).txt", 3, 0o644)
	write("names/.hidden", 3, 0o644)
	write("names/UPPER.lower.Mixed", 3, 0o644)
	write("names/noext", 3, 0o644)
	deep := "deep"
	for i := 1; i <= 12; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("level%02d", i))
	}
	write(filepath.Join(deep, "bottom.txt"), 100, 0o644)
	must(t, os.MkdirAll(filepath.Join(dir, "empty-dir"), 0o755))
	write("links/target.txt", 1234, 0o644)
	must(t, os.Symlink("target.txt", filepath.Join(dir, "links/rel")))
	must(t, os.Symlink("../sizes/file-1.bin", filepath.Join(dir, "links/up")))
	must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "links/abs")))
	must(t, os.Symlink("does-not-exist", filepath.Join(dir, "links/dangling")))
	must(t, os.Symlink("../sizes", filepath.Join(dir, "links/dirlink")))
	must(t, os.Link(filepath.Join(dir, "links/target.txt"), filepath.Join(dir, "links/hard1")))
	must(t, os.Link(filepath.Join(dir, "links/target.txt"), filepath.Join(dir, "links/hard2")))
	for i := 0; i < many; i++ {
		write(fmt.Sprintf("many/entry-%05d.txt", i), i%7, 0o644)
	}
	// Fix every mtime so extraction oracles and parsers can be compared.
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chtimes(p, Stamp, Stamp)
	}))
	must(t, os.Chtimes(dir, Stamp, Stamp))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Entry is what trees are compared on.
type Entry struct {
	Type   string // "dir", "file", "symlink", "other"
	Size   int64  // files only
	SHA256 string // files only
	Target string // symlinks only
	Perm   fs.FileMode
	// Special holds the set-id and sticky bits (compared with
	// CompareOptions.ModeBits).
	Special fs.FileMode
	MTime   int64 // unix seconds
	// Ino groups hard links: entries with the same non-empty Ino are one file.
	Ino string
}

// Tree maps slash paths (relative, no leading "./") to entries.
type Tree map[string]Entry

// SnapshotFS records every entry of fsys below root. stat returns the
// lstat-style info of a path; readlink its target; ino a hard-link key.
func SnapshotFS(t testing.TB, fsys fs.FS, ino func(fs.FileInfo) string) Tree {
	t.Helper()
	out := Tree{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Perm: fi.Mode().Perm(), Special: fi.Mode() & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), MTime: fi.ModTime().Unix()}
		if ino != nil {
			e.Ino = ino(fi)
		}
		switch {
		case fi.IsDir():
			e.Type = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			tgt, err := fs.ReadLink(fsys, p)
			if err != nil {
				return err
			}
			e.Target = tgt
		case fi.Mode().IsRegular():
			e.Type, e.Size = "file", fi.Size()
			f, err := fsys.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			e.SHA256 = hex.EncodeToString(h.Sum(nil))
		default:
			e.Type = "other"
		}
		out[p] = e
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// SnapshotDir records a directory on disk (symlinks not followed).
func SnapshotDir(t testing.TB, dir string) Tree {
	t.Helper()
	return SnapshotFS(t, os.DirFS(dir), DiskIno)
}

// DiskIno keys hard links of files on disk (nlink > 1 only).
func DiskIno(fi fs.FileInfo) string { return diskIno(fi) }

// CompareOptions says which attributes a comparison ignores.
type CompareOptions struct {
	IgnorePerm, IgnoreMTime, IgnoreLinks bool
	// IgnoreHardLinks skips only the hard-link grouping check.
	IgnoreHardLinks bool
	// IgnoreDirMTime skips directory mtimes (extractors set them late).
	IgnoreDirMTime bool
	// ModeBits also compares the set-id and sticky bits.
	ModeBits bool
	// LinkMTime also compares the mtimes of symlinks.
	LinkMTime bool
	// MTimeStep, when above 1, compares mtimes as the oracle's rounded down
	// to a multiple of this many seconds: FAT keeps modification times in
	// 2-second steps, so a file made at an odd second reads back one earlier.
	MTimeStep int64
}

// Compare reports every difference between want (the oracle) and got.
func Compare(t testing.TB, want, got Tree, o CompareOptions) {
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
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		w, wok := want[k]
		g, gok := got[k]
		var msg string
		switch {
		case !wok:
			msg = fmt.Sprintf("extra entry %+v", g)
		case !gok:
			msg = fmt.Sprintf("missing entry (oracle has %+v)", w)
		case w.Type != g.Type:
			msg = fmt.Sprintf("type %s, oracle %s", g.Type, w.Type)
		case w.Type == "file" && (w.Size != g.Size || w.SHA256 != g.SHA256):
			msg = fmt.Sprintf("content size %d sha %.12s, oracle size %d sha %.12s", g.Size, g.SHA256, w.Size, w.SHA256)
		case w.Type == "symlink" && !o.IgnoreLinks && w.Target != g.Target:
			msg = fmt.Sprintf("link target %q, oracle %q", g.Target, w.Target)
		case !o.IgnorePerm && w.Type != "symlink" && w.Perm != g.Perm:
			msg = fmt.Sprintf("perm %v, oracle %v", g.Perm, w.Perm)
		case o.ModeBits && w.Type != "symlink" && w.Special != g.Special:
			msg = fmt.Sprintf("set-id/sticky bits %v, oracle %v", g.Special, w.Special)
		case !o.IgnoreMTime && (w.Type != "symlink" || o.LinkMTime) && !(o.IgnoreDirMTime && w.Type == "dir") && stepDown(w.MTime, o.MTimeStep) != g.MTime:
			msg = fmt.Sprintf("mtime %d, oracle %d", g.MTime, w.MTime)
		}
		if msg != "" {
			bad++
			if bad <= 25 {
				t.Errorf("%s: %s", k, msg)
			}
		}
	}
	if bad > 25 {
		t.Errorf("... %d differences in all", bad)
	}
	// Hard links: entries sharing an Ino on one side must share it on the other.
	if !o.IgnoreLinks && !o.IgnoreHardLinks {
		group := func(tr Tree) map[string]string {
			m := map[string]string{}
			first := map[string]string{}
			for _, k := range sortedKeys(tr) {
				e := tr[k]
				if e.Ino == "" || e.Type != "file" {
					continue
				}
				if f, ok := first[e.Ino]; ok {
					m[k] = f
				} else {
					first[e.Ino] = k
				}
			}
			return m
		}
		wg, gg := group(want), group(got)
		for k, v := range wg {
			if gg[k] != v {
				t.Errorf("%s: oracle says hard link of %s; got %q", k, v, gg[k])
			}
		}
		for k, v := range gg {
			if wg[k] != v {
				t.Errorf("%s: hard link of %s, oracle disagrees", k, v)
			}
		}
	}
}

func sortedKeys(tr Tree) []string {
	var ks []string
	for k := range tr {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// XorrisoExtract extracts img with xorriso's osirrox into a new directory
// and returns it. readFS selects the tree xorriso reads: "" (Rock Ridge,
// else Joliet, else plain), "norock" (Joliet), "ecma119" (plain ISO 9660).
func XorrisoExtract(t testing.TB, img, readFS string) string {
	t.Helper()
	RequireTool(t, "xorriso")
	out := filepath.Join(t.TempDir(), "oracle")
	args := []string{"-hardlinks", "on"}
	if readFS != "" {
		args = append(args, "-read_fs", readFS)
	}
	args = append(args, "-indev", img, "-osirrox", "on", "-extract", "/", out)
	Run(t, "xorriso", args...)
	return out
}

// SevenZipExtract extracts img with 7-Zip (which reads Joliet, else plain,
// or UDF with typ "udf") into a new directory and returns it.
func SevenZipExtract(t testing.TB, img, typ string) string {
	t.Helper()
	RequireTool(t, "7zz")
	out := filepath.Join(t.TempDir(), "oracle7z")
	must(t, os.MkdirAll(out, 0o755)) // 7-Zip creates nothing for an empty image
	args := []string{"x", "-y", "-snl", "-o" + out}
	if typ != "" {
		args = append(args, "-t"+typ)
	}
	Run(t, "7zz", append(args, img)...)
	return out
}

var bsdtarLink = regexp.MustCompile(`^\S+\s+\d+\s+\S+\s+\S+\s+\d+\s+\S+\s+\d+\s+\S+\s(.*) -> (.*)$`)

// BsdtarLinks lists the symlinks of img with their targets as libarchive
// (bsdtar) reads them: it keeps Rock Ridge SL components literally, like
// Linux, where xorriso normalizes empty components away.
func BsdtarLinks(t testing.TB, img string) map[string]string {
	t.Helper()
	RequireTool(t, "bsdtar")
	out := map[string]string{}
	for _, line := range strings.Split(Run(t, "bsdtar", "-tvf", img), "\n") {
		if m := bsdtarLink.FindStringSubmatch(line); m != nil {
			out[strings.TrimPrefix(m[1], "./")] = m[2]
		}
	}
	return out
}

// CorpusDir is the absolute path of the third-party image corpus kept in the
// repository (isofmt/testdata/corpus; its README.md names each image's
// origin and licence). It is found from this source file's own location, so
// every package's tests reach the same copy whatever their directory.
func CorpusDir() string {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		panic("isotest: cannot locate the corpus: runtime.Caller failed")
	}
	return filepath.Join(filepath.Dir(self), "..", "testdata", "corpus")
}

// CorpusFile returns the path of one corpus image (rel is relative to
// CorpusDir, e.g. "libcdio/udf102.iso"). The corpus is part of the
// repository, so a missing file fails the test instead of skipping it.
func CorpusFile(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(CorpusDir(), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus image %s: %v (it is part of the repository)", rel, err)
	}
	return p
}

// CorpusImages lists every *.iso of the corpus, sorted; it fails the test
// when there is none.
func CorpusImages(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(CorpusDir(), "*", "*.iso"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus images under %s (they are part of the repository): %v", CorpusDir(), err)
	}
	sort.Strings(paths)
	return paths
}

// LoopDevice attaches a loop device (losetup -f --show, extra flags such
// as -P passed on) over a fresh sparse file of size bytes in dir, and
// detaches it when the test ends (failing the test if that fails). It
// skips the test unless running as root with losetup installed.
func LoopDevice(t testing.TB, dir string, size int64, extra ...string) (dev, backing string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for loop devices")
	}
	RequireTool(t, "losetup")
	f, err := os.CreateTemp(dir, "loop-*.img")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dev = strings.TrimSpace(Run(t, "losetup", append(append([]string{"-f", "--show"}, extra...), f.Name())...))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
		os.Remove(f.Name())
	})
	return dev, f.Name()
}

// Mount mounts dev on a fresh directory and unmounts it when the test
// ends (failing the test if that fails).
func Mount(t testing.TB, dev string) string {
	t.Helper()
	mp := t.TempDir()
	Run(t, "mount", dev, mp)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mp).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mp, err, out)
		}
	})
	return mp
}

// stepDown rounds t down to a multiple of step (a no-op for steps of 0 or 1).
func stepDown(t, step int64) int64 {
	if step <= 1 {
		return t
	}
	return t - ((t%step)+step)%step
}
