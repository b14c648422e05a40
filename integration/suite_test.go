//go:build linux

package integration

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"golang.org/x/sys/unix"
)

// suite is run against every mounted image: name → check.
var suite = []struct {
	name string
	fn   func(t *testing.T, mp string, c *imageCase)
}{
	{"tree-equals-oracle", checkTree},
	{"concurrent-random-reads", checkRandomReads},
	{"statfs", checkStatfs},
	{"erofs", checkEROFS},
	{"blocks-and-lba", checkBlocksLBA},
	{"hardlinks-share-inode", checkHardlinks},
}

// TestImages mounts every generated and corpus image and runs the suite.
func TestImages(t *testing.T) {
	isotest.RequireFUSE(t)
	cases := append(generatedCases(), corpusCases(t)...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.damaged {
				checkDamaged(t, c)
				return
			}
			if c.skipMsg != "" {
				t.Skip(c.skipMsg)
			}
			c.prepare(t)
			if c.huge {
				// Registered first, so it runs after the unmounts.
				t.Cleanup(func() { os.Remove(c.path) })
			}
			m := mountImage(t, c.path, append([]string{"--xattr"}, c.args...)...)
			for _, s := range suite {
				t.Run(s.name, func(t *testing.T) { s.fn(t, m.mp, c) })
			}
			if _, err := os.Stat(m.mp); err != nil {
				t.Fatalf("mount died during the suite: %v\nlog:\n%s", err, readLog(m.log))
			}
			t.Run("page-cache", func(t *testing.T) { checkPageCache(t, m.mp, c, false) })
			if c.build == nil {
				return
			}
			// Generated images again with --direct-io: reads of any
			// offset and length, past the page cache, through plain,
			// zisofs and multi-extent files.
			t.Run("direct-io", func(t *testing.T) {
				m.unmount(t)
				d := mountImage(t, c.path, append([]string{"--direct-io"}, c.args...)...)
				t.Run("tree-equals-oracle", func(t *testing.T) { checkTree(t, d.mp, c) })
				t.Run("concurrent-random-reads", func(t *testing.T) { checkRandomReads(t, d.mp, c) })
				t.Run("page-cache", func(t *testing.T) { checkPageCache(t, d.mp, c, true) })
			})
		})
	}
}

// pageCacheMax bounds the files checkPageCache looks at: a 4 GiB file
// read once may have lost pages to memory pressure by then.
const pageCacheMax = 64 << 20

// checkPageCache reads every file of the mount whole and then asks
// mincore(2) which of its pages the kernel kept. Without direct I/O all
// are kept (FOPEN_KEEP_CACHE); with it, files of 1 MiB or more keep none
// and report a 1 MiB st_blksize, and smaller files are still cached. It
// also checks that a shared read-only mapping sees the file's bytes,
// which direct I/O files allow only with FUSE_DIRECT_IO_ALLOW_MMAP.
func checkPageCache(t *testing.T, mp string, c *imageCase, direct bool) {
	const directMin = 1 << 20 // fs.DirectIOMin
	checked := 0
	for p, e := range scan(t, c.oracle, false) {
		if e.typ != 0 || e.size == 0 || e.size > pageCacheMax {
			continue
		}
		path := filepath.Join(mp, p)
		want, err := os.ReadFile(filepath.Join(c.oracle, p))
		if err != nil {
			t.Fatal(err)
		}
		wantResident, wantBlk := 0, int64(128<<10)
		if direct && e.size >= directMin {
			wantBlk = 1 << 20
		}
		// A cached file must be wholly resident right after a full read.
		// Memory pressure from other work on the machine may reclaim a
		// few pages between the read and mincore, so a shortfall is
		// retried (read again, look again) before it counts; a file that
		// is never cached fails all three times. An uncached file must
		// have no page at any time, so it is checked once.
		var (
			resident int
			pages    int64
			st       syscall.Stat_t
		)
		for attempt := 0; attempt < 3; attempt++ {
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: read differs from the oracle", p)
			}
			if err := syscall.Stat(path, &st); err != nil {
				t.Fatal(err)
			}
			var same bool
			resident, pages, same = mappedResidency(t, path, e.size, want)
			if !same {
				t.Errorf("%s: a shared mapping differs from the oracle", p)
			}
			wantResident = int(pages)
			if direct && e.size >= directMin {
				wantResident = 0
				break
			}
			if resident == wantResident {
				break
			}
		}
		if resident != wantResident || st.Blksize != wantBlk {
			t.Errorf("%s (%d bytes, direct I/O mount %v): %d of %d pages cached, st_blksize %d; want %d cached, st_blksize %d",
				p, e.size, direct, resident, pages, st.Blksize, wantResident, wantBlk)
		}
		checked++
	}
	t.Logf("%d files checked", checked)
}

// mappedResidency maps path shared and read-only, counts its pages that
// are resident in the page cache (mincore) and then compares the mapping
// with want (touching the pages maps them in, so it comes after mincore).
func mappedResidency(t *testing.T, path string, size int64, want []byte) (resident int, pages int64, same bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	f.Close()
	if err != nil {
		t.Fatalf("%s: mmap shared: %v", path, err)
	}
	defer unix.Munmap(b)
	pages = (size + int64(os.Getpagesize()) - 1) / int64(os.Getpagesize())
	vec := make([]byte, pages)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("%s: mincore: %v", path, errno)
	}
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident, pages, bytes.Equal(b, want)
}

// entry is what the comparison looks at for one path.
type entry struct {
	typ    fs.FileMode
	perm   fs.FileMode // permission, setuid, setgid, sticky bits
	size   int64
	sum    string
	target string
	mtime  int64
	rdev   uint64
	uid    uint32
	gid    uint32
	ino    uint64
	nlink  uint64
	blocks int64
}

// scan walks root (without following symlinks) and describes every path.
func scan(t *testing.T, root string, hash bool) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		e := entry{typ: fi.Mode().Type(), perm: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			mtime: fi.ModTime().Unix(), rdev: st.Rdev, uid: st.Uid, gid: st.Gid, ino: st.Ino, nlink: st.Nlink, blocks: st.Blocks}
		switch {
		case fi.Mode().IsRegular():
			e.size = fi.Size()
			if hash {
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				h := sha256.New()
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				e.sum = hex.EncodeToString(h.Sum(nil))
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			e.target, err = os.Readlink(p)
			if err != nil {
				return err
			}
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

var slashes = regexp.MustCompile(`//+`)

// checkTree compares the mount with the oracle extraction: names, types,
// sizes, content hashes, link targets, and modes, owners and mtimes where
// the tree records them.
func checkTree(t *testing.T, mp string, c *imageCase) {
	want := scan(t, c.oracle, true)
	got := scan(t, mp, true)
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%q: missing from the mount", p))
			continue
		}
		if g.typ != w.typ {
			diffs = append(diffs, fmt.Sprintf("%q: type %v, want %v", p, g.typ, w.typ))
			continue
		}
		if g.size != w.size || g.sum != w.sum {
			diffs = append(diffs, fmt.Sprintf("%q: size %d sha256 %.12s, want %d %.12s", p, g.size, g.sum, w.size, w.sum))
		}
		// xorriso collapses repeated slashes in Rock Ridge link targets
		// (libarchive keeps them, as we do); path resolution treats both
		// alike.
		if slashes.ReplaceAllString(g.target, "/") != slashes.ReplaceAllString(w.target, "/") {
			diffs = append(diffs, fmt.Sprintf("%q: link target %q, want %q", p, g.target, w.target))
		}
		if w.typ&(fs.ModeDevice|fs.ModeCharDevice) != 0 && g.rdev != w.rdev {
			diffs = append(diffs, fmt.Sprintf("%q: rdev %#x, want %#x", p, g.rdev, w.rdev))
		}
		// The root of a 7-Zip extraction is the output directory itself.
		if p == "." && !c.modes {
			continue
		}
		if c.modes && w.typ&fs.ModeSymlink == 0 {
			if g.perm != w.perm {
				diffs = append(diffs, fmt.Sprintf("%q: mode %v, want %v", p, g.perm, w.perm))
			}
			if g.uid != w.uid || g.gid != w.gid {
				diffs = append(diffs, fmt.Sprintf("%q: owner %d:%d, want %d:%d", p, g.uid, g.gid, w.uid, w.gid))
			}
		}
		// Extractors do not restore symlink times.
		if c.mtimes && w.typ&fs.ModeSymlink == 0 && g.mtime != w.mtime {
			diffs = append(diffs, fmt.Sprintf("%q: mtime %v, want %v", p, time.Unix(g.mtime, 0).UTC(), time.Unix(w.mtime, 0).UTC()))
		}
	}
	for p, g := range got {
		if c.oracleNoDevices && g.typ&fs.ModeDevice != 0 {
			continue
		}
		if _, ok := want[p]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: in the mount but not in the oracle", p))
		}
	}
	if len(diffs) > 0 {
		slices.Sort(diffs)
		if len(diffs) > 30 {
			diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
		}
		t.Errorf("mount differs from the oracle extraction %s:\n%s", c.oracle, strings.Join(diffs, "\n"))
	}
}

// randomReadDuration bounds the concurrent read phase per image.
const randomReadDuration = 1500 * time.Millisecond

// checkRandomReads runs 32 readers doing random preads of random lengths
// for a bounded time, comparing every byte with the oracle.
func checkRandomReads(t *testing.T, mp string, c *imageCase) {
	var files []string
	var sizes []int64
	for p, e := range scan(t, c.oracle, false) {
		if e.typ == 0 && e.size > 0 {
			files = append(files, p)
			sizes = append(sizes, e.size)
		}
	}
	if len(files) == 0 {
		t.Skip("no non-empty files")
	}
	var reads, bytesRead atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 32)
	deadline := time.Now().Add(randomReadDuration)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 42))
			for time.Now().Before(deadline) {
				i := r.IntN(len(files))
				size := sizes[i]
				off := r.Int64N(size)
				n := 1 + r.Int64N(min(size-off, 1<<18)+16) // sometimes past the end
				if err := compareRange(filepath.Join(mp, files[i]), filepath.Join(c.oracle, files[i]), off, int(n)); err != nil {
					errc <- err
					return
				}
				reads.Add(1)
				bytesRead.Add(n)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no read completed")
	}
	t.Logf("%d random reads, %d MiB verified", reads.Load(), bytesRead.Load()>>20)
}

func compareRange(got, want string, off int64, n int) error {
	read := func(p string) ([]byte, error) {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b := make([]byte, n)
		k, err := f.ReadAt(b, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return b[:k], nil
	}
	g, err := read(got)
	if err != nil {
		return err
	}
	w, err := read(want)
	if err != nil {
		return err
	}
	if !bytes.Equal(g, w) {
		return fmt.Errorf("%s: %d bytes at %d differ from the oracle (got %d bytes)", got, len(w), off, len(g))
	}
	return nil
}

// checkStatfs: the image's size in 2 KiB blocks, nothing free.
func checkStatfs(t *testing.T, mp string, c *imageCase) {
	var s unix.Statfs_t
	must(t, unix.Statfs(mp, &s))
	fi, err := os.Stat(c.path)
	must(t, err)
	wantBlocks := uint64(fi.Size()+2047) / 2048
	if s.Type != unix.FUSE_SUPER_MAGIC || s.Bsize != 2048 || s.Blocks != wantBlocks || s.Bfree != 0 || s.Bavail != 0 || s.Namelen != 255 {
		t.Errorf("statfs: type %#x bsize %d blocks %d free %d avail %d namelen %d; want fuse, 2048, %d, 0, 0, 255",
			s.Type, s.Bsize, s.Blocks, s.Bfree, s.Bavail, s.Namelen, wantBlocks)
	}
	if s.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("statfs flags %#x lack ST_RDONLY", s.Flags)
	}
}

// checkEROFS: every kind of write fails with EROFS.
func checkEROFS(t *testing.T, mp string, c *imageCase) {
	var file, dir string
	filepath.WalkDir(mp, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && file == "" {
			file = p
		}
		if err == nil && d.IsDir() && p != mp && dir == "" {
			dir = p
		}
		return nil
	})
	ops := map[string]func() error{
		"create": func() error { f, err := os.Create(filepath.Join(mp, "new-file")); f.Close(); return err },
		"mkdir":  func() error { return os.Mkdir(filepath.Join(mp, "new-dir"), 0o755) },
		"symlink": func() error {
			return os.Symlink("x", filepath.Join(mp, "new-link"))
		},
		"chmod-root": func() error { return os.Chmod(mp, 0o700) },
	}
	if file != "" {
		ops["open-write"] = func() error { f, err := os.OpenFile(file, os.O_WRONLY, 0); f.Close(); return err }
		ops["truncate"] = func() error { return os.Truncate(file, 0) }
		ops["remove"] = func() error { return os.Remove(file) }
		ops["rename"] = func() error { return os.Rename(file, file+".moved") }
		ops["setxattr"] = func() error { return unix.Setxattr(file, "user.test", []byte("x"), 0) }
		ops["utimes"] = func() error { return os.Chtimes(file, time.Now(), time.Now()) }
	}
	if dir != "" {
		ops["rmdir"] = func() error { return os.Remove(dir) }
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
}

// reportLBA runs xorriso's report_lba: for each Rock Ridge path, its data
// extents' start blocks and block counts.
func reportLBA(t *testing.T, image string) map[string][][2]int64 {
	out, err := exec.Command("xorriso", "-indev", image, "-find", "/", "-exec", "report_lba", "--").Output()
	if err != nil {
		t.Fatalf("xorriso report_lba: %v", err)
	}
	re := regexp.MustCompile(`^File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*'(.*)'$`)
	res := map[string][][2]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		start, _ := strconv.ParseInt(m[2], 10, 64)
		blocks, _ := strconv.ParseInt(m[3], 10, 64)
		p := strings.TrimPrefix(strings.ReplaceAll(m[5], `'"'"'`, "'"), "/")
		res[p] = append(res[p], [2]int64{start, blocks})
	}
	return res
}

// checkBlocksLBA compares st_blocks (so du is exact) and the
// user.isofsd.lba attribute with xorriso's account of every file's data.
func checkBlocksLBA(t *testing.T, mp string, c *imageCase) {
	if !c.lba {
		t.Skip("no Rock Ridge tree for xorriso to report on")
	}
	rep := reportLBA(t, c.path)
	n := 0
	for p, e := range scan(t, mp, false) {
		if e.typ != 0 {
			continue
		}
		var blocks int64
		for _, x := range rep[p] {
			blocks += x[1]
		}
		if e.blocks != blocks*4 {
			t.Errorf("%q: st_blocks %d, want %d (xorriso: %v)", p, e.blocks, blocks*4, rep[p])
		}
		buf := make([]byte, 64)
		k, err := unix.Getxattr(filepath.Join(mp, p), "user.isofsd.lba", buf)
		switch {
		case blocks == 0:
			// Empty files have no data, so no address.
		case err != nil:
			t.Errorf("%q: getxattr: %v", p, err)
		case string(buf[:k]) != strconv.FormatInt(rep[p][0][0], 10):
			t.Errorf("%q: user.isofsd.lba %q, want %d", p, buf[:k], rep[p][0][0])
		}
		n++
	}
	if n == 0 {
		t.Fatal("no regular files checked")
	}
}

// checkHardlinks: hard links share one inode and count their links.
func checkHardlinks(t *testing.T, mp string, c *imageCase) {
	if len(c.hardlinks) == 0 {
		t.Skip("image has no hard links")
	}
	for _, group := range c.hardlinks {
		var first uint64
		for i, p := range group {
			var st syscall.Stat_t
			must(t, syscall.Lstat(filepath.Join(mp, p), &st))
			if int(st.Nlink) != len(group) {
				t.Errorf("%s: nlink %d, want %d", p, st.Nlink, len(group))
			}
			if i == 0 {
				first = st.Ino
			} else if st.Ino != first {
				t.Errorf("%s: inode %d, want %d (as %s)", p, st.Ino, first, group[0])
			}
		}
	}
}

// checkDamaged mounts a broken corpus image: the mount either fails
// cleanly before anything is mounted (usage exit code, a reason, nothing
// left mounted) or serves what can be read, with errors for the rest,
// and stays alive.
func checkDamaged(t *testing.T, c *imageCase, mountArgs ...string) {
	isotest.RequireFUSE(t)
	dir := t.TempDir()
	mp := filepath.Join(dir, "mnt")
	must(t, os.Mkdir(mp, 0o755))
	logf := filepath.Join(dir, "log")
	out, code := run(t, append(append([]string{"mount", "--log-file", logf}, mountArgs...), c.path, mp)...)
	if code != 0 {
		if code != 2 || strings.TrimSpace(out) == "" {
			t.Errorf("mount failed with exit %d and %q; want exit 2 and a reason", code, out)
		}
		if isMounted(t, mp) {
			t.Errorf("failed mount left %s mounted", mp)
		}
		t.Logf("refused: %s", strings.TrimSpace(out))
		return
	}
	m := &mounted{mp: mp, log: logf}
	t.Cleanup(func() { m.unmount(t) })
	var files, errs int
	filepath.WalkDir(mp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs++
			return nil
		}
		if d.Type().IsRegular() {
			files++
			if b, err := os.ReadFile(p); err != nil {
				if !errors.Is(err, syscall.EIO) {
					t.Errorf("%s: %v, want EIO for unreadable data", p, err)
				}
				errs++
			} else {
				_ = b
			}
		}
		return nil
	})
	if _, err := os.Stat(mp); err != nil {
		t.Fatalf("mount died: %v\nlog:\n%s", err, readLog(logf))
	}
	t.Logf("served %d files, %d errors", files, errs)
	if errs > 0 && !strings.Contains(readLog(logf), "level=warning") {
		t.Errorf("%d errors but no warning logged:\n%s", errs, readLog(logf))
	}
}
