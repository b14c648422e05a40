package fs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/sirupsen/logrus"
)

// buildImage makes an image with xorriso from a source tree made by mk.
func buildImage(t *testing.T, mk func(src string), args ...string) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	mk(src)
	img := filepath.Join(d, "test.iso")
	out, err := exec.Command("xorriso", append(args, "-o", img, src)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	return img
}

func write(t *testing.T, p string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func open(t *testing.T, img string, o Options, tree string) *FS {
	t.Helper()
	im, err := isofmt.OpenFile(img, &isofmt.Options{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	f, err := New(im, o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func lookup(t *testing.T, f *FS, path string) *isofmt.Node {
	t.Helper()
	n := f.Root()
	for _, part := range strings.Split(path, "/") {
		c, errno := f.Lookup(n, part)
		if errno != 0 {
			t.Fatalf("lookup %s: %v", path, errno)
		}
		n = c
	}
	return n
}

// TestDirectIO pins which files Options.DirectIO reads past the page
// cache, and the st_blksize each kind of file reports.
func TestDirectIO(t *testing.T) {
	img := buildImage(t, func(src string) {
		write(t, filepath.Join(src, "big"), DirectIOMin)
		write(t, filepath.Join(src, "under"), DirectIOMin-1)
		write(t, filepath.Join(src, "dir", "x"), 1)
	}, "-as", "mkisofs", "-R")
	for _, on := range []bool{false, true} {
		f := open(t, img, Options{DirectIO: on}, isofmt.TreeRockRidge)
		for _, tc := range []struct {
			path   string
			direct bool
		}{{"big", on}, {"under", false}, {"dir", false}, {"dir/x", false}} {
			n := lookup(t, f, tc.path)
			blk := uint32(IOSize)
			if tc.direct {
				blk = DirectIOSize
			}
			if got := f.DirectIO(n); got != tc.direct {
				t.Errorf("DirectIO %v: %s: got %v, want %v", on, tc.path, got, tc.direct)
			}
			if a := f.Attr(n); a.Blksize != blk {
				t.Errorf("DirectIO %v: %s: st_blksize %d, want %d", on, tc.path, a.Blksize, blk)
			}
		}
	}
}

func TestAttr(t *testing.T) {
	img := buildImage(t, func(src string) {
		write(t, filepath.Join(src, "empty"), 0)
		write(t, filepath.Join(src, "s1"), 1)
		write(t, filepath.Join(src, "s2048"), 2048)
		write(t, filepath.Join(src, "s2049"), 2049)
		write(t, filepath.Join(src, "dir", "x"), 10)
		os.Chmod(filepath.Join(src, "s1"), 0o751)
		os.Symlink("s1", filepath.Join(src, "link"))
		mt := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		os.Chtimes(filepath.Join(src, "s2048"), mt, mt)
	}, "-as", "mkisofs", "-R", "-J")
	for i, tc := range []struct {
		tree  string
		opts  Options
		path  string
		mode  uint32
		uid   uint32
		size  uint64
		blks  uint64
		mtime string
	}{
		{isofmt.TreeRockRidge, Options{}, "empty", syscall.S_IFREG | 0o644, 0, 0, 0, ""},
		{isofmt.TreeRockRidge, Options{}, "s1", syscall.S_IFREG | 0o751, 0, 1, 4, ""},
		{isofmt.TreeRockRidge, Options{UID: 7, Umask: 0o077}, "s2048", syscall.S_IFREG | 0o644, 0, 2048, 4, "2001-02-03T04:05:06Z"},
		{isofmt.TreeRockRidge, Options{}, "s2049", syscall.S_IFREG | 0o644, 0, 2049, 8, ""},
		{isofmt.TreeRockRidge, Options{}, "link", syscall.S_IFLNK | 0o777, 0, 2, 0, ""},
		{isofmt.TreeRockRidge, Options{}, "dir", syscall.S_IFDIR | 0o755, 0, 2048, 4, ""},
		// Joliet has no owners or permissions: the options decide.
		{isofmt.TreeJoliet, Options{UID: 1000, GID: 100}, "s1", syscall.S_IFREG | 0o444, 1000, 1, 4, ""},
		{isofmt.TreeJoliet, Options{UID: 5, Umask: 0o027}, "s1", syscall.S_IFREG | 0o440, 5, 1, 4, ""},
		{isofmt.TreeJoliet, Options{Umask: 0o022}, "dir", syscall.S_IFDIR | 0o555, 0, 2048, 4, ""},
		{isofmt.TreeJoliet, Options{Umask: 0o777}, "dir", syscall.S_IFDIR, 0, 2048, 4, ""},
	} {
		t.Run(fmt.Sprintf("%d-%s-%s", i, tc.tree, tc.path), func(t *testing.T) {
			f := open(t, img, tc.opts, tc.tree)
			a := f.Attr(lookup(t, f, tc.path))
			if a.Mode != tc.mode || a.UID != tc.uid || a.Size != tc.size || a.Blocks != tc.blks || a.Ino == 0 || a.Nlink == 0 || a.Blksize != IOSize {
				t.Errorf("got mode %o uid %d size %d blocks %d ino %d nlink %d; want mode %o uid %d size %d blocks %d",
					a.Mode, a.UID, a.Size, a.Blocks, a.Ino, a.Nlink, tc.mode, tc.uid, tc.size, tc.blks)
			}
			if tc.mtime != "" && a.Mtime.UTC().Format(time.RFC3339) != tc.mtime {
				t.Errorf("mtime %v, want %s", a.Mtime, tc.mtime)
			}
			if a.Atime.IsZero() || a.Ctime.IsZero() {
				t.Errorf("zero atime/ctime: %v %v", a.Atime, a.Ctime)
			}
		})
	}
}

func TestErrno(t *testing.T) {
	f := &FS{log: nil, logged: map[string]bool{}}
	f.log = discard()
	n := &isofmt.Node{Name: "x", Stat: isofmt.Stat{Location: 2048 * 40}}
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{iofs.ErrNotExist, syscall.ENOENT},
		{fmt.Errorf("wrapped: %w", iofs.ErrNotExist), syscall.ENOENT},
		{iofs.ErrInvalid, syscall.EINVAL},
		{iofs.ErrPermission, syscall.EACCES},
		{isofmt.ErrCorrupt, syscall.EIO},
		{&isofmt.FormatError{Structure: "directory", Offset: 4096, Err: isofmt.ErrTruncated}, syscall.EIO},
		{isofmt.ErrLimit, syscall.EIO},
		{isofmt.ErrUnsupported, syscall.EIO},
		{&os.PathError{Op: "read", Path: "/img", Err: syscall.ENXIO}, syscall.ENXIO},
		{errors.New("something else"), syscall.EIO},
	} {
		if got := f.Errno("read", n, "", tc.err); got != tc.want {
			t.Errorf("Errno(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestStatfsAndXattr(t *testing.T) {
	img := buildImage(t, func(src string) { write(t, filepath.Join(src, "a"), 5000) }, "-as", "mkisofs", "-R")
	f := open(t, img, Options{}, "")
	fi, _ := os.Stat(img)
	s := f.Statfs()
	if s.Blocks != uint64(fi.Size()/2048) || s.Bsize != 2048 || s.NameLen != 255 {
		t.Errorf("statfs %+v for a %d-byte image", s, fi.Size())
	}
	n := lookup(t, f, "a")
	lba, errno := f.Getxattr(n, XattrLBA)
	if errno != 0 || string(lba) != fmt.Sprint(n.Stat.Extents[0].Offset/2048) {
		t.Errorf("lba xattr %q %v, want %d", lba, errno, n.Stat.Extents[0].Offset/2048)
	}
	// The LBA must point at the file's bytes.
	raw, _ := os.ReadFile(img)
	if off := n.Stat.Extents[0].Offset; raw[off+1] != 7 || raw[off+2] != 14 {
		t.Errorf("data at LBA %s is not the file's", lba)
	}
	if tree, _ := f.Getxattr(n, XattrTree); string(tree) != "rockridge" {
		t.Errorf("tree xattr %q", tree)
	}
	if _, errno := f.Getxattr(n, "user.nope"); errno != syscall.ENODATA {
		t.Errorf("unknown xattr: %v, want ENODATA", errno)
	}
	if got := f.ListXattr(f.Root()); len(got) != 1 {
		t.Errorf("root xattrs %v, want only the tree", got)
	}
}

// TestStored: a read maps onto the image for a zero-copy read only
// inside the file's extent, clamped to the file's end. (Was TestSpan: the
// checks of the image file itself moved to filesrc's TestRegion with the
// guard.)
func TestStored(t *testing.T) {
	img := buildImage(t, func(src string) { write(t, filepath.Join(src, "a"), 10000) }, "-as", "mkisofs", "-R")
	f := open(t, img, Options{}, "")
	n := lookup(t, f, "a")
	h, errno := f.Open(n)
	if errno != 0 {
		t.Fatal(errno)
	}
	base := n.Stat.Extents[0].Offset
	for _, tc := range []struct {
		off          int64
		size         int
		ok           bool
		wantSrc      int64
		wantN        int
		wantDescribe string
	}{
		{0, 4096, true, base, 4096, "inside the extent"},
		{8192, 1 << 20, true, base + 8192, 10000 - 8192, "clamped to the file end"},
		{10000, 4096, false, 0, 0, "at the end"},
		{-1, 10, false, 0, 0, "negative"},
	} {
		src, k, ok := h.Stored(tc.off, tc.size)
		if ok != tc.ok || (ok && (src != tc.wantSrc || k != tc.wantN)) {
			t.Errorf("%s: Stored(%d, %d) = %d %d %v, want %d %d %v", tc.wantDescribe, tc.off, tc.size, src, k, ok, tc.wantSrc, tc.wantN, tc.ok)
		}
	}
	// The image shrinks under the mount: reads past its end fail as EIO.
	if err := os.Truncate(img, base+4096); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	if _, errno := h.ReadAt(buf, 0); errno != syscall.EIO {
		t.Errorf("ReadAt beyond the truncated image: %v, want EIO", errno)
	}
}

func TestStoredMultiExtentAndZisofs(t *testing.T) {
	// libcdio's test image splits one file into 7 extents (xorriso
	// splits only at 4 GiB).
	img := isotest.CorpusFile(t, "libcdio/multi_extent_8k.iso")
	f := open(t, img, Options{}, "")
	var n *isofmt.Node
	kids, _ := f.ReadDir(f.Root())
	for _, k := range kids {
		if len(k.Stat.Extents) >= 2 && k.Stat.Extents[0].Length > 20 {
			n = k
		}
	}
	if n == nil {
		t.Fatal("no multi-extent file in the root of " + img)
	}
	h, _ := f.Open(n)
	e0 := n.Stat.Extents[0]
	if _, _, ok := h.Stored(e0.Length-10, 20); ok {
		t.Error("Stored offered a range crossing extents")
	}
	if src, k, ok := h.Stored(e0.Length, 10); !ok || src != n.Stat.Extents[1].Offset || k != 10 {
		t.Errorf("second extent: %d %d %v", src, k, ok)
	}

	zimg := filepath.Join(t.TempDir(), "z.iso")
	src := filepath.Join(t.TempDir(), "zsrc")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "z.txt"), []byte(strings.Repeat("compress me ", 50000)), 0o644)
	if out, err := exec.Command("xorriso", "-outdev", zimg, "-zisofs", "level=6", "-map", src, "/", "-set_filter_r", "--zisofs", "/", "--", "-commit").CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v %s", err, out)
	}
	zf := open(t, zimg, Options{}, "")
	zn := lookup(t, zf, "z.txt")
	if zn.Stat.Zisofs == nil {
		t.Fatal("z.txt is not zisofs-compressed")
	}
	zh, _ := zf.Open(zn)
	if _, _, ok := zh.Stored(0, 100); ok {
		t.Error("Stored offered compressed bytes of a zisofs file")
	}
	if a := zf.Attr(zn); a.Blocks >= uint64(zn.Stat.Size/512) {
		t.Errorf("zisofs st_blocks %d not the compressed size (%d bytes stored)", a.Blocks, zn.Stat.StoredSize())
	}
}

func TestBootDir(t *testing.T) {
	img := buildImage(t, func(src string) { write(t, filepath.Join(src, "a"), 10) }, "-as", "mkisofs", "-R")
	raw, _ := os.ReadFile(img)
	f := open(t, img, Options{Boot: []BootImage{{Name: "first.img", Offset: 16 * 2048, Size: 2048}}}, "")
	root, errno := f.ReadDir(f.Root())
	if errno != 0 || root[len(root)-1].Name != BootDirName {
		t.Fatalf("root listing lacks %s: %v", BootDirName, errno)
	}
	d := lookup(t, f, BootDirName)
	kids, _ := f.ReadDir(d)
	if len(kids) != 1 || kids[0].Name != "first.img" {
		t.Fatalf("boot dir lists %v", kids)
	}
	h, _ := f.Open(kids[0])
	buf := make([]byte, 4096)
	n, errno := h.ReadAt(buf, 0)
	if errno != 0 || n != 2048 || string(buf[1:6]) != "CD001" || string(buf[:n]) != string(raw[16*2048:17*2048]) {
		t.Errorf("boot image read %d bytes %v", n, errno)
	}
	if a := f.Attr(d); a.Mode != syscall.S_IFDIR|0o555 || a.Ino < inoBootDir {
		t.Errorf("boot dir attr %+v", a)
	}
	// Without the option the name does not exist.
	g := open(t, img, Options{}, "")
	if _, errno := g.Lookup(g.Root(), BootDirName); errno != syscall.ENOENT {
		t.Errorf("lookup of the boot dir without --boot: %v", errno)
	}
}

// failingSource answers reads of the image with EIO from byte bad on, as
// a disc with a scratch does.
type failingSource struct {
	f   *os.File
	bad int64
}

func (s failingSource) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) <= s.bad {
		return s.f.ReadAt(p, off)
	}
	n := 0
	if off < s.bad {
		n, _ = s.f.ReadAt(p[:s.bad-off], off)
	}
	return n, &os.PathError{Op: "read", Path: s.f.Name(), Err: syscall.EIO}
}

// TestReadErrorLogsFailingSector: a failed read is logged with the sector
// that failed (issue 21 §2.6: it named the directory's sector).
func TestReadErrorLogsFailingSector(t *testing.T) {
	img := buildImage(t, func(src string) { write(t, filepath.Join(src, "big.bin"), 600<<10) }, "-as", "mkisofs", "-R")
	probe := open(t, img, Options{}, "")
	data, _ := probe.Lookup(probe.Root(), "big.bin")
	start, ok := data.Stat.DataOffset()
	if !ok {
		t.Fatal("big.bin has no data extent")
	}
	bad := start + 100*isofmt.SectorSize

	fh, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, _ := fh.Stat()
	im, err := isofmt.Open(failingSource{fh, bad}, st.Size(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	log := logrus.New()
	log.SetOutput(&logBuf)
	log.SetFormatter(&logrus.JSONFormatter{})
	f, err := New(im, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n, errno := f.Lookup(f.Root(), "big.bin")
	if errno != 0 {
		t.Fatal(errno)
	}
	h, _ := f.Open(n)
	buf := make([]byte, 128<<10)
	if _, errno := h.ReadAt(buf, 90*isofmt.SectorSize); errno != syscall.EIO {
		t.Fatalf("read across the bad sector: %v, want EIO", errno)
	}
	var rec struct {
		Sector int64  `json:"sector"`
		Msg    string `json:"msg"`
	}
	if err := json.Unmarshal(logBuf.Bytes(), &rec); err != nil {
		t.Fatalf("log %q: %v", logBuf.String(), err)
	}
	if want := bad / isofmt.SectorSize; rec.Sector != want || !strings.Contains(rec.Msg, fmt.Sprintf("sector %d", want)) {
		t.Errorf("logged sector %d (%q), want %d in both; the file's record is in sector %d", rec.Sector, rec.Msg, want, n.Stat.Location/isofmt.SectorSize)
	}
}

// TestCounters: lookups and listings the kernel asks for are counted;
// opening the tree and preloading directories are not.
func TestCounters(t *testing.T) {
	img := buildImage(t, func(src string) {
		write(t, filepath.Join(src, "dir", "sub", "x"), 1)
	}, "-as", "mkisofs", "-R")
	f := open(t, img, Options{}, isofmt.TreeRockRidge)
	if f.Lookups() != 0 || f.ReadDirs() != 0 {
		t.Fatalf("after New: %d lookups, %d listings; want 0, 0", f.Lookups(), f.ReadDirs())
	}
	dir := lookup(t, f, "dir")
	f.Preload(dir)
	if _, errno := f.ReadDir(dir); errno != 0 {
		t.Fatal(errno)
	}
	lookup(t, f, "dir/sub/x")
	if f.Lookups() != 4 || f.ReadDirs() != 1 {
		t.Errorf("%d lookups, %d listings; want 4, 1", f.Lookups(), f.ReadDirs())
	}
}
