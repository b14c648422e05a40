// Package fs is the read-only file system isofsd mounts: the tree of an
// opened isofmt.Image seen through POSIX eyes. It computes attributes
// (owner and permissions for trees that carry none, exact st_blocks,
// device numbers, times), answers statfs, maps every error to an errno in
// one place (logging the unexpected ones with image, path and sector),
// exposes El Torito boot images under an optional hidden directory and
// offers extended attributes such as user.isofsd.lba.
//
// It knows no FUSE library: fs/gofuse (and later other adapters) only
// translate between these calls and their library's types, so every
// backend serves the same tree with the same numbers.
package fs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/isofmt"
)

// BlockSize is the unit st_blocks counts image space in: ISO 9660 and
// (almost always) UDF allocate whole 2 KiB logical blocks.
const BlockSize = 2048

// IOSize is the st_blksize of files read through the kernel's page
// cache: the "preferred I/O size" that cat, cp, Python and stdio size
// their buffers by. The 2 KiB sector would make Python's buffered
// reader refill 2 KiB at a time (a loop of 1000-byte reads of a 300 MB
// file took 0.22 s against 0.12 s with 128 KiB).
const IOSize = 128 << 10

// DirectIOSize is the st_blksize of files read with direct I/O (see
// Options.DirectIO): every read(2) is a round trip to the daemon there,
// so cat and cp should ask for 1 MiB at a time (the kernel splits it
// into requests of at most the mount's largest read).
const DirectIOSize = 1 << 20

// DirectIOMin is the smallest file Options.DirectIO reads with direct
// I/O. Smaller files stay in the page cache: they are cheap to keep,
// often read again (executables, libraries, scripts), and their reads
// are few.
const DirectIOMin = 1 << 20

// NameMax is the longest name reported by statfs: what the kernel's VFS
// accepts in one path element, even though Rock Ridge allows longer.
const NameMax = 255

// BootDirName is the hidden virtual directory holding El Torito images
// when Options.Boot is set.
const BootDirName = ".isofsd-boot"

// Inode numbers of virtual entries live above every number isofmt hands
// out (its highest space is 1<<56), so they never collide.
const (
	inoBootDir  = 1 << 62
	inoBootFile = 1<<62 + 1
)

// maxLoggedNames bounds the set of paths already logged, so a hostile
// image cannot grow it without limit.
const maxLoggedNames = 4096

// BootImage is one El Torito boot image exposed as a file: Size bytes at
// byte Offset of the image.
type BootImage struct {
	Name   string
	Offset int64
	Size   int64
}

// Options configure a FS; the zero value serves the image as is, owned by
// root, with the tree's own permissions.
type Options struct {
	// ImagePath names the image in log lines.
	ImagePath string
	// UID and GID own every file of trees without ownership (Joliet,
	// plain ISO 9660); Rock Ridge and UDF owners are kept.
	UID, GID uint32
	// Umask clears permission bits of trees without permissions, whose
	// files are otherwise 0444 and directories 0555.
	Umask uint32
	// DirectIO reads regular files of DirectIOMin bytes or more past the
	// kernel's page cache: each read goes to the daemon, which splices
	// from the image's own cache. A file's first read is then as fast as
	// later ones and its data is not cached twice (once as the image,
	// once as the file), but re-reads are not served from memory, and
	// every open costs a round trip. See DirectIO.
	DirectIO bool
	// Boot lists the El Torito images to show under BootDirName; nil
	// hides the directory.
	Boot []BootImage
	// Log receives one line for every error that is not a plain "no such
	// file"; nil discards them.
	Log logrus.FieldLogger
}

// FS is the read-only tree of one image. It is safe for concurrent use.
type FS struct {
	img  *isofmt.Image
	opts Options
	log  logrus.FieldLogger

	root     *isofmt.Node
	bootDir  *isofmt.Node
	bootKids []*isofmt.Node

	loggedMu sync.Mutex
	logged   map[string]bool

	// bytesRead counts file data served, by either read path.
	bytesRead atomic.Int64
	// lookups and readDirs count the name lookups and directory
	// listings asked for by the kernel (read-ahead parses do not count):
	// `isofsd list --json` shows them, so that one can tell whether a
	// program really walked a mount.
	lookups, readDirs atomic.Int64
}

// BytesRead is the file data served so far.
func (f *FS) BytesRead() int64 { return f.bytesRead.Load() }

// Lookups is the number of name lookups served so far.
func (f *FS) Lookups() int64 { return f.lookups.Load() }

// ReadDirs is the number of directory listings served so far.
func (f *FS) ReadDirs() int64 { return f.readDirs.Load() }

// New serves img. The root directory is read now so that an image whose
// root cannot be read at all fails before anything is mounted (a root
// damaged part-way is served with what could be parsed).
func New(img *isofmt.Image, opts Options) (*FS, error) {
	f := &FS{img: img, opts: opts, log: opts.Log, logged: map[string]bool{}}
	if f.log == nil {
		f.log = discard()
	}
	if opts.ImagePath != "" {
		f.log = f.log.WithField("image", opts.ImagePath)
	}
	root, err := img.Root()
	if err != nil {
		return nil, fmt.Errorf("root directory: %w", err)
	}
	f.root = root
	if nodes, err := img.ReadDirNode(root); err != nil && len(nodes) == 0 {
		return nil, fmt.Errorf("root directory: %w", err)
	}
	if opts.Boot != nil {
		f.bootDir = &isofmt.Node{Name: BootDirName, Stat: isofmt.Stat{
			Inode: inoBootDir, Nlink: 2, Mode: iofs.ModeDir | 0o555, ModTime: root.Stat.ModTime,
		}}
		for i, b := range opts.Boot {
			n := &isofmt.Node{Name: b.Name, Stat: isofmt.Stat{
				Inode: inoBootFile + uint64(i), Nlink: 1, Mode: 0o444, Size: b.Size, ModTime: root.Stat.ModTime,
				Extents: []isofmt.Extent{{Offset: b.Offset, Length: b.Size}}, Location: b.Offset,
			}}
			f.bootKids = append(f.bootKids, n)
		}
	}
	return f, nil
}

// Image returns the image being served.
func (f *FS) Image() *isofmt.Image { return f.img }

// Root returns the root directory.
func (f *FS) Root() *isofmt.Node { return f.root }

// validName reports whether name can be a path element. isofmt hands out
// only such names; a name the kernel asks for may be anything.
func validName(name string) bool { return isofmt.CheckName(name) == nil }

// Lookup finds name in dir.
func (f *FS) Lookup(dir *isofmt.Node, name string) (*isofmt.Node, syscall.Errno) {
	f.lookups.Add(1)
	if dir == f.bootDir && dir != nil {
		for _, k := range f.bootKids {
			if k.Name == name {
				return k, 0
			}
		}
		return nil, syscall.ENOENT
	}
	if dir == f.root && f.bootDir != nil && name == BootDirName {
		return f.bootDir, 0
	}
	if !dir.IsDir() {
		return nil, syscall.ENOTDIR
	}
	if !validName(name) {
		return nil, syscall.ENOENT
	}
	n, err := f.img.Lookup(dir, name)
	if err != nil {
		return nil, f.Errno("lookup", dir, name, err)
	}
	return n, 0
}

// ReadDir lists dir in on-disk order. Entries whose names cannot be path
// elements are left out (and logged once): Lookup could never reach
// them. Names are unique (isofmt renames repeats). A directory damaged
// part-way lists what was parsed before the damage, as the error is
// logged.
func (f *FS) ReadDir(dir *isofmt.Node) ([]*isofmt.Node, syscall.Errno) {
	f.readDirs.Add(1)
	if dir == f.bootDir && dir != nil {
		return f.bootKids, 0
	}
	nodes, err := f.img.ReadDirNode(dir)
	if err != nil {
		errno := f.Errno("readdir", dir, "", err)
		if len(nodes) == 0 {
			return nil, errno
		}
	}
	out := nodes
	copied := false
	for i, n := range nodes {
		if !validName(n.Name) {
			if !copied {
				out, copied = append([]*isofmt.Node(nil), nodes[:i]...), true
			}
			f.logOnce(fmt.Sprintf("badname %d %q", dir.Stat.Inode, n.Name), logrus.Fields{"dir": dir.Name, "name": n.Name, "sector": n.Stat.Location / isofmt.SectorSize},
				"entry hidden: its name is empty, \".\", \"..\", or contains \"/\" or NUL")
			continue
		}
		if copied {
			out = append(out, n)
		}
	}
	if dir == f.root && f.bootDir != nil {
		out = append(out[:len(out):len(out)], f.bootDir)
	}
	return out, 0
}

// Preload parses directory dir into the image's directory cache without
// listing it, so that a ReadDir soon after finds it parsed; a ReadDir
// that comes while it is being parsed waits for that parse. Errors are
// left for that ReadDir to meet and log.
func (f *FS) Preload(dir *isofmt.Node) {
	if dir == nil || dir == f.bootDir || !dir.IsDir() || dir.Err != nil {
		return
	}
	f.img.ReadDirNode(dir)
}

// Readlink returns a symlink's target.
func (f *FS) Readlink(n *isofmt.Node) ([]byte, syscall.Errno) {
	if n.Stat.Mode&iofs.ModeSymlink == 0 {
		return nil, syscall.EINVAL
	}
	if n.Err != nil { // a target isofmt could not read whole
		return nil, f.Errno("readlink", n, "", n.Err)
	}
	return []byte(n.Stat.Target), 0
}

// Attr is a file's POSIX attributes.
type Attr struct {
	Ino     uint64
	Mode    uint32 // st_mode: type bits and permissions
	Nlink   uint32
	UID     uint32
	GID     uint32
	Rdev    uint32 // Linux dev_t encoding
	Size    uint64
	Blocks  uint64 // 512-byte units
	Blksize uint32
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
}

// Options returns the options f was made with.
func (f *FS) Options() Options { return f.opts }

// DirectIO reports whether n is read with direct I/O: a regular file of
// at least DirectIOMin bytes on a mount with Options.DirectIO.
func (f *FS) DirectIO(n *isofmt.Node) bool {
	return f.opts.DirectIO && n.Stat.Mode.IsRegular() && n.Stat.Size >= DirectIOMin
}

// Attr computes n's attributes.
func (f *FS) Attr(n *isofmt.Node) Attr {
	st := &n.Stat
	a := Attr{Ino: st.Inode, Nlink: max(st.Nlink, 1), Size: uint64(max(st.Size, 0)), Blksize: IOSize}
	if f.DirectIO(n) {
		a.Blksize = DirectIOSize
	}
	mode := st.Mode
	if !st.HasPerm {
		perm := iofs.FileMode(0o444)
		if mode.IsDir() {
			perm = 0o555
		}
		mode = mode.Type() | perm&^iofs.FileMode(f.opts.Umask&0o777)
	}
	a.Mode = isofmt.UnixMode(mode)
	a.UID, a.GID = st.Owner(f.opts.UID, f.opts.GID)
	if mode&iofs.ModeDevice != 0 {
		a.Rdev = mkdev(st.DevMajor(), st.DevMinor())
	}
	a.Blocks = Blocks(st)
	a.Mtime = st.ModTime.Time()
	a.Atime, a.Ctime = st.AccessTime.Time(), st.ChangeTime.Time()
	if a.Atime.IsZero() {
		a.Atime = a.Mtime
	}
	if a.Ctime.IsZero() {
		a.Ctime = a.Mtime
	}
	return a
}

// Blocks is the image space a file occupies, in 512-byte units: every
// recorded extent rounded up to whole logical blocks (sparse runs take
// none; a zisofs file takes its compressed size). Symlinks and devices
// live inside directory records and take none.
func Blocks(st *isofmt.Stat) uint64 {
	if st.Mode&(iofs.ModeSymlink|iofs.ModeDevice|iofs.ModeNamedPipe|iofs.ModeSocket) != 0 {
		return 0
	}
	if st.Mode.IsDir() {
		return uint64((max(st.Size, 0) + BlockSize - 1) / BlockSize * (BlockSize / 512))
	}
	var n uint64
	for _, e := range st.Extents {
		if !e.Sparse && e.Length > 0 {
			n += uint64((e.Length + BlockSize - 1) / BlockSize)
		}
	}
	return n * (BlockSize / 512)
}

// Statfs is what statfs(2) reports: the image's size, nothing free.
type Statfs struct {
	Blocks  uint64 // in Bsize units
	Bsize   uint32
	NameLen uint32
	Files   uint64
}

// Statfs describes the mounted volume.
func (f *FS) Statfs() Statfs {
	return Statfs{Blocks: uint64(f.img.Size()+BlockSize-1) / BlockSize, Bsize: BlockSize, NameLen: NameMax}
}

// Xattr names offered on every file with data on the image.
const (
	// XattrLBA is the logical block address (2 KiB sector) of the
	// file's first data extent, in decimal.
	XattrLBA = "user.isofsd.lba"
	// XattrTree names the tree the mount serves (rockridge, joliet…).
	XattrTree = "user.isofsd.tree"
)

// ListXattr returns the extended attribute names of n.
func (f *FS) ListXattr(n *isofmt.Node) []string {
	if _, ok := n.Stat.DataOffset(); ok {
		return []string{XattrLBA, XattrTree}
	}
	return []string{XattrTree}
}

// Getxattr returns one extended attribute of n.
func (f *FS) Getxattr(n *isofmt.Node, name string) ([]byte, syscall.Errno) {
	switch name {
	case XattrLBA:
		if off, ok := n.Stat.DataOffset(); ok {
			return fmt.Appendf(nil, "%d", off/isofmt.SectorSize), 0
		}
	case XattrTree:
		return []byte(f.img.Tree()), 0
	}
	return nil, syscall.ENODATA
}

// Errno maps an error from isofmt or the image source to the errno the
// caller gets, in one place. "Not found" is routine and not logged;
// everything else is logged with the image, the path and the sector so
// that no EIO goes unexplained.
func (f *FS) Errno(op string, n *isofmt.Node, name string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, iofs.ErrInvalid):
		errno = syscall.EINVAL
	case errors.Is(err, iofs.ErrPermission):
		errno = syscall.EACCES
	case errors.As(err, &errno) && passThroughErrno[errno]:
		// An errno from the source itself that means the same to a
		// reader (EIO from a failing disk, ENXIO from a vanished one).
		// Others — ECONNREFUSED from a remote image, say — are I/O
		// errors to the reader of a file.
	default:
		// ErrCorrupt, ErrTruncated, ErrLimit, ErrUnsupported and anything
		// unexpected: the data cannot be produced.
		errno = syscall.EIO
	}
	fields := logrus.Fields{"op": op, "errno": errno.Error()}
	if n != nil {
		path := n.Name
		if name != "" {
			path += "/" + name
		}
		fields["path"] = path
		// The sector the error names (a failed read, a damaged
		// record), else where the entry's data starts: the record's own
		// sector would name the directory holding it.
		sector := n.Stat.Sector()
		var fe *isofmt.FormatError
		if errors.As(err, &fe) && fe.Offset >= 0 {
			sector = fe.Offset / isofmt.SectorSize
		}
		fields["sector"] = sector
	}
	key := fmt.Sprintf("%s %v %s %v", op, fields["path"], name, err)
	f.logOnce(key, fields, err.Error())
	return errno
}

// passThroughErrno lists source errnos a file read may report as they are.
var passThroughErrno = map[syscall.Errno]bool{
	syscall.EIO: true, syscall.ENXIO: true, syscall.ENODEV: true,
}

// logOnce logs msg the first time key is seen (up to maxLoggedNames keys,
// then always: a flood is better than silence).
func (f *FS) logOnce(key string, fields logrus.Fields, msg string) {
	f.loggedMu.Lock()
	seen := f.logged[key]
	if !seen && len(f.logged) < maxLoggedNames {
		f.logged[key] = true
	}
	f.loggedMu.Unlock()
	if !seen {
		f.log.WithFields(fields).Warn(msg)
	}
}

// discard is a logger that drops everything.
func discard() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}
