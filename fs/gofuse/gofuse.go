//go:build linux

// Package gofuse serves an isofsd fs.FS through go-fuse v2. It only
// adapts: attributes, errors and reads come from package fs; this package
// adds what the kernel needs to serve an image that never changes fast —
// lazy lookups, long entry/attr/negative timeouts, FOPEN_KEEP_CACHE and
// FOPEN_CACHE_DIR, readdirplus answered from the parsed directory, 1 MiB
// requests, multi-threaded serving, and zero-copy splice reads of plain
// extents straight from the image file.
//
// It implements go-fuse's raw protocol interface rather than its node API:
// the node API keeps a ~1 KiB Inode (with child and parent maps) for every
// entry the kernel has seen, which after a walk of 100 000 files held
// ~90 MiB and made `find` 8× slower. Here an inode the kernel knows costs
// one map entry pointing at the isofmt node, and its FUSE node ID is its
// (stable, on-disk derived) inode number, so hard links share one.
package gofuse

import (
	"log"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/splice"
	"github.com/sirupsen/logrus"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/filesrc"
)

// Timeout is the kernel's entry, attribute and negative-lookup cache
// lifetime: the image never changes under the mount, so the kernel need
// not ask again (with go-fuse's zero default, re-reads ran at a quarter
// of the speed because of repeated GETATTRs).
const Timeout = 24 * time.Hour

// MaxRequest is the largest read the kernel sends. 1 MiB halves the
// requests compared with 512 KiB; it stays two pages under 1 MiB so that
// header + data + the page go-fuse reserves fit the default maximum pipe
// size (/proc/sys/fs/pipe-max-size, 1 MiB) when splicing: at exactly
// 1 MiB every splice fails and falls back to a copy.
const MaxRequest = 1<<20 - 8192

// FleetMaxRequest is the request size of mounts served by a daemon with
// many of them: its buffer (and a thread) is what an idle mount costs.
// 128 KiB is what FUSE used before max_pages and what go-fuse defaults
// to; reads then come in 128 KiB requests instead of 1 MiB.
const FleetMaxRequest = 128 << 10

// spliceMin is the smallest read worth splicing: a splice costs three
// system calls (header into the pipe, file into the pipe, pipe into
// /dev/fuse) plus a size check of the image, where a small copy costs one
// pread; small files read faster copied.
const spliceMin = 64 << 10

// MaxBackground lets the kernel keep this many requests (read-ahead,
// concurrent readers) in flight, each served by its own goroutine.
const MaxBackground = 64

// Options configure the mount.
type Options struct {
	// Source is shown as the mount's source (the image path) in
	// /proc/mounts, mount(8), df and file managers.
	Source string
	// AllowOther lets other users see the mount (-o allow_other).
	AllowOther bool
	// Splice serves reads of plain extents by splicing from the image
	// file descriptor instead of copying through user space.
	Splice bool
	// DirReadAhead pushes the data of the next small files of a
	// directory into the kernel's page cache when one of them is read
	// whole (see dirReadAhead), and parses the next directories of a
	// walk when one is listed (see dirPreload).
	DirReadAhead bool
	// Xattr answers getxattr/listxattr (user.isofsd.lba …). Off, the
	// kernel learns at the first call that there are none and stops
	// asking: `ls -l` asks twice per file, which tripled its time.
	Xattr bool
	// MaxRequest is the largest request the kernel sends, reads
	// included (0: MaxRequest). Every reader waiting for the kernel keeps
	// a buffer of this size, which the kernel insists on even for a
	// read-only file system, so a daemon serving many mounts makes it
	// smaller (FleetMaxRequest).
	MaxRequest int
	// Readers bounds the requests served at once, and so the readers
	// waiting for the kernel — each with its buffer and, blocked in
	// read(2), an OS thread (0: go-fuse's choice, one per CPU and at
	// least 2). An idle mount keeps up to this many.
	Readers int
	// ExtraOptions are passed to the kernel as -o options ("ro" is
	// always added).
	ExtraOptions []string
	// Debug logs every FUSE request.
	Debug bool
	// Log receives go-fuse's diagnostics.
	Log logrus.FieldLogger
}

// Serve serves t on a kernel connection the caller mounted itself
// (package mounter does, so that every mount gets its safety options in
// one place): fdPath is libfuse's "/dev/fd/N" form, and go-fuse owns
// descriptor N from then on. The mount options of o (AllowOther,
// ExtraOptions, Source) are the caller's business then.
func Serve(fdPath string, t *isofs.FS, o Options) (*Server, error) {
	srv, _, err := start(fdPath, t, o)
	return srv, err
}

// requestSize is the largest request of a mount with options o.
func requestSize(o Options) int {
	if o.MaxRequest > 0 {
		return max(o.MaxRequest, 16<<10)
	}
	return MaxRequest
}

// mountOptions are go-fuse's settings for o.
func mountOptions(o Options) *fuse.MountOptions {
	maxReq := requestSize(o)
	mo := &fuse.MountOptions{
		AllowOther:           o.AllowOther,
		FsName:               o.Source,
		Name:                 "isofsd",
		Options:              append([]string{"ro", "default_permissions"}, o.ExtraOptions...),
		MaxReadAhead:         maxReq,
		MaxWrite:             maxReq,
		MaxBackground:        MaxBackground,
		EnableSymlinkCaching: true,
		DisableXAttrs:        !o.Xattr,
		// Directories need no OPENDIR either (see Open).
		// Files read with direct I/O may still be mapped shared (kernel
		// 6.6 and later; older kernels map them private only).
		ExtraCapabilities: fuse.CAP_NO_OPENDIR_SUPPORT | fuse.CAP_DIRECT_IO_ALLOW_MMAP,
		// The data never changes: the kernel need not check attributes
		// on every cached read to decide whether to drop its pages.
		ExplicitDataCacheControl: true,
		Debug:                    o.Debug,
	}
	if o.Readers > 0 {
		// go-fuse counts a reader as its request and buffer; below one
		// request's worth it still lets one through.
		mo.MaxInflightRequestBytes = 1
		if o.Readers > 1 {
			mo.MaxInflightRequestBytes = o.Readers * (maxReq + 16<<10)
		}
	}
	if o.Log != nil {
		lvl := logrus.DebugLevel
		if o.Debug {
			lvl = logrus.InfoLevel
		}
		mo.Logger = log.New(logWriter{o.Log.WithField("component", "go-fuse"), lvl}, "", 0)
	}
	return mo
}

// start creates the server for mountpoint (a directory go-fuse mounts
// through fusermount3, in this package's tests, or a "/dev/fd/N"
// connection) and serves it.
func start(mountpoint string, t *isofs.FS, o Options) (*Server, *raw, error) {
	r := newRaw(t, o)
	srv, err := fuse.NewServer(r, mountpoint, mountOptions(o))
	if err != nil {
		return nil, nil, err
	}
	if o.DirReadAhead {
		r.ra, r.pl = newDirReadAhead(r, srv), newDirPreload(r)
		r.ra.w.start()
		r.pl.w.start()
	}
	go srv.Serve()
	s := &Server{Server: srv, r: r}
	if err := srv.WaitMount(); err != nil {
		srv.Unmount()
		s.stopReadAhead()
		return nil, nil, err
	}
	return s, r, nil
}

// Server is a mount being served: go-fuse's server, whose Wait also ends
// the mount's read-ahead.
type Server struct {
	*fuse.Server
	r *raw
}

// Wait serves until the file system is unmounted.
func (s *Server) Wait() {
	s.Server.Wait()
	s.stopReadAhead()
}

func (s *Server) stopReadAhead() {
	if s.r.ra != nil {
		s.r.ra.stop()
		s.r.pl.stop()
	}
}

// logWriter hands each line go-fuse logs to logrus. logrus's own
// WriterLevel runs a pipe and a goroutine with a 64 KiB buffer per
// writer: per mount, in a daemon serving a thousand.
type logWriter struct {
	log logrus.FieldLogger
	lvl logrus.Level
}

func (w logWriter) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	switch w.lvl {
	case logrus.InfoLevel:
		w.log.Info(msg)
	default:
		w.log.Debug(msg)
	}
	return len(p), nil
}

// rootID is the FUSE node ID of the root directory; inodeAlias stands in
// for a non-root entry whose inode number happens to be 1.
const (
	rootID     = fuse.FUSE_ROOT_ID
	inodeAlias = 1 << 61
)

// known is one inode the kernel holds a reference to. It is kept to 32
// bytes: after a walk of 100 000 files there is one for every file.
type known struct {
	n *isofmt.Node
	// aux is filled on first use: a zisofs file's reader, or a
	// directory's entries.
	aux atomic.Pointer[knownAux]
	// parent and idx place a node remembered from a directory listing:
	// it is entry idx of parent's entries (for dirReadAhead).
	parent  *known
	idx     int32
	lookups uint32 // saturates: a node looked up 2^32-1 times stays
}

type knownAux struct {
	h    *isofs.Handle  // a zisofs file's reader (holds its block table)
	list []*isofmt.Node // a directory's entries, as served
}

// raw implements fuse.RawFileSystem over an fs.FS.
type raw struct {
	fuse.RawFileSystem // ENOSYS for everything not below
	t                  *isofs.FS
	o                  Options

	mu    sync.RWMutex
	nodes map[uint64]*known

	// zc is the image source when it offers zero-copy reads and
	// Options.Splice asks for them, else nil.
	zc zeroCopySource

	ra *dirReadAhead // nil unless Options.DirReadAhead
	pl *dirPreload   // nil unless Options.DirReadAhead

	reads   atomic.Int64 // READ requests served
	spliced atomic.Int64 // of which served by splice
}

func newRaw(t *isofs.FS, o Options) *raw {
	r := &raw{RawFileSystem: fuse.NewDefaultRawFileSystem(), t: t, o: o,
		nodes: map[uint64]*known{}}
	r.nodes[rootID] = &known{n: t.Root(), lookups: 1}
	if zc, ok := t.Image().Source().(zeroCopySource); ok && o.Splice {
		r.zc = zc
	}
	return r
}

func (r *raw) String() string { return "isofsd" }

// nodeID is the FUSE node ID of n: its inode number.
func (r *raw) nodeID(n *isofmt.Node) uint64 {
	if n == r.t.Root() {
		return rootID
	}
	if id := n.Stat.Inode; id != rootID && id != 0 {
		return id
	}
	return inodeAlias
}

// node returns the node the kernel knows as id, or nil.
func (r *raw) node(id uint64) *isofmt.Node {
	if k := r.entry(id); k != nil {
		return k.n
	}
	return nil
}

// entry returns what is known of node id, or nil.
func (r *raw) entry(id uint64) *known {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.nodes[id]
}

// remember counts one kernel reference to n and fills out.
func (r *raw) remember(n *isofmt.Node, out *fuse.EntryOut) {
	r.mu.Lock()
	r.rememberLocked(n, out)
	r.mu.Unlock()
}

func (r *raw) rememberLocked(n *isofmt.Node, out *fuse.EntryOut) {
	r.rememberIn(n, out, nil, 0)
}

// rememberIn is rememberLocked for entry idx of directory parent's list.
func (r *raw) rememberIn(n *isofmt.Node, out *fuse.EntryOut, parent *known, idx int) {
	id := r.nodeID(n)
	if k := r.nodes[id]; k != nil {
		if k.lookups < math.MaxUint32 {
			k.lookups++
		}
		if k.parent == nil && parent != nil {
			k.parent, k.idx = parent, int32(idx)
		}
	} else {
		r.nodes[id] = &known{n: n, lookups: 1, parent: parent, idx: int32(idx)}
	}
	out.NodeId = id
	out.Generation = 1
	fillAttr(r.t.Attr(n), &out.Attr)
	out.SetEntryTimeout(Timeout)
	out.SetAttrTimeout(Timeout)
}

func (r *raw) Forget(id, nlookup uint64) {
	if id == rootID {
		return
	}
	r.mu.Lock()
	if k := r.nodes[id]; k != nil && k.lookups < math.MaxUint32 {
		if uint64(k.lookups) <= nlookup {
			delete(r.nodes, id)
		} else {
			k.lookups -= uint32(nlookup)
		}
	}
	r.mu.Unlock()
}

func fillAttr(a isofs.Attr, out *fuse.Attr) {
	out.Ino = a.Ino
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Owner = fuse.Owner{Uid: a.UID, Gid: a.GID}
	out.Rdev = a.Rdev
	out.Size = a.Size
	out.Blocks = a.Blocks
	out.Blksize = a.Blksize
	out.SetTimes(&a.Atime, &a.Mtime, &a.Ctime)
}

func status(errno syscall.Errno) fuse.Status { return fuse.ToStatus(errno) }

func (r *raw) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	dir := r.node(h.NodeId)
	if dir == nil {
		return fuse.ENOENT
	}
	n, errno := r.t.Lookup(dir, name)
	if errno == syscall.ENOENT {
		// A negative entry the kernel may cache: node ID 0 with a timeout.
		out.NodeId = 0
		out.SetEntryTimeout(Timeout)
		return fuse.OK
	}
	if errno != 0 {
		return status(errno)
	}
	r.remember(n, out)
	return fuse.OK
}

func (r *raw) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := r.node(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	fillAttr(r.t.Attr(n), &out.Attr)
	out.SetTimeout(Timeout)
	return fuse.OK
}

func (r *raw) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	if in.Mask&2 != 0 { // W_OK
		return fuse.Status(syscall.EROFS)
	}
	return fuse.OK
}

func (r *raw) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	n := r.node(h.NodeId)
	if n == nil {
		return nil, fuse.ENOENT
	}
	b, errno := r.t.Readlink(n)
	return b, status(errno)
}

func (r *raw) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	s := r.t.Statfs()
	out.Blocks = s.Blocks
	out.Bsize = s.Bsize
	out.Frsize = s.Bsize
	out.NameLen = s.NameLen
	out.Files = s.Files
	return fuse.OK
}

func (r *raw) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	n := r.node(h.NodeId)
	if n == nil {
		return 0, fuse.ENOENT
	}
	v, errno := r.t.Getxattr(n, attr)
	if errno != 0 {
		return 0, status(errno)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), fuse.ERANGE
	}
	return uint32(copy(dest, v)), fuse.OK
}

func (r *raw) ListXAttr(cancel <-chan struct{}, h *fuse.InHeader, dest []byte) (uint32, fuse.Status) {
	n := r.node(h.NodeId)
	if n == nil {
		return 0, fuse.ENOENT
	}
	var b []byte
	for _, name := range r.t.ListXattr(n) {
		b = append(append(b, name...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), fuse.ERANGE
	}
	return uint32(copy(dest, b)), fuse.OK
}

// Writes never reach us on a read-only mount, but say so if they do.
func (r *raw) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	return fuse.EROFS
}
func (r *raw) SetXAttr(cancel <-chan struct{}, in *fuse.SetXAttrIn, attr string, data []byte) fuse.Status {
	return fuse.EROFS
}
func (r *raw) RemoveXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string) fuse.Status {
	return fuse.EROFS
}

// Open and OpenDir answer ENOSYS on purpose: the kernel then stops
// sending OPEN/RELEASE (and OPENDIR/RELEASEDIR) for the whole mount and
// treats every file as opened with FOPEN_KEEP_CACHE and every directory
// with FOPEN_CACHE_DIR, which is what we would answer anyway. `tar` over
// 100 000 small files then costs one READ per file instead of three
// requests (1.9 s against 6.0 s). Writes are refused by the VFS (the
// mount is "ro") before they reach us. Reads find the file by node ID.
//
// The exception is a mount with direct I/O (fs.Options.DirectIO): Open
// then answers, FOPEN_DIRECT_IO for the files fs.FS.DirectIO names and
// FOPEN_KEEP_CACHE for the rest, and the kernel sends OPEN and RELEASE
// for every file.
// Flush answers ENOSYS once, after which the kernel stops sending FLUSH on
// every close(2) (fc->no_flush): a read-only file system has nothing to
// flush, and the round trip doubled the cost of reading small files.
func (r *raw) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status { return fuse.ENOSYS }

func (r *raw) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if !r.t.Options().DirectIO {
		return fuse.ENOSYS
	}
	k := r.entry(in.NodeId)
	if k == nil {
		return fuse.ENOENT
	}
	out.OpenFlags = fuse.FOPEN_KEEP_CACHE
	if r.t.DirectIO(k.n) {
		out.OpenFlags = fuse.FOPEN_DIRECT_IO
	}
	return fuse.OK
}

func (r *raw) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

// handle returns a reader of node id. Readers of plain files are
// stateless and cheap, so they are made per read rather than kept for
// every file ever read (10 MiB after a `tar` of 100 000 files); a zisofs
// reader holds the file's block table, so it is kept.
func (r *raw) handle(id uint64) (*known, *isofs.Handle, syscall.Errno) {
	k := r.entry(id)
	if k == nil {
		return nil, nil, syscall.ENOENT
	}
	h, errno := r.handleOf(k)
	return k, h, errno
}

// handleOf is handle for a node already looked up.
func (r *raw) handleOf(k *known) (*isofs.Handle, syscall.Errno) {
	if a := k.aux.Load(); a != nil && a.h != nil {
		return a.h, 0
	}
	h, errno := r.t.Open(k.n)
	if errno != 0 || k.n.Stat.Zisofs == nil {
		return h, errno
	}
	k.aux.CompareAndSwap(nil, &knownAux{h: h})
	return k.aux.Load().h, 0
}

// listing returns the entries of directory id, listed on first use.
func (r *raw) listing(id uint64) (*known, []*isofmt.Node, syscall.Errno) {
	k := r.entry(id)
	if k == nil {
		return nil, nil, syscall.ENOENT
	}
	if a := k.aux.Load(); a != nil {
		return k, a.list, 0
	}
	nodes, errno := r.t.ReadDir(k.n)
	if errno != 0 {
		return nil, nil, errno
	}
	k.aux.CompareAndSwap(nil, &knownAux{list: nodes})
	return k, k.aux.Load().list, 0
}

func (r *raw) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	r.reads.Add(1)
	k, h, errno := r.handle(in.NodeId)
	if errno != 0 {
		return nil, status(errno)
	}
	if r.ra != nil && in.Offset == 0 && h.Node().Stat.Size <= raMaxFile {
		r.ra.noteRead(k)
	}
	off := int64(in.Offset)
	size := min(int(in.Size), len(buf))
	// Decide on the bytes the file still has, not on the request: the
	// kernel asks for read-ahead sized chunks even for 2 KB files, and a
	// splice of a few KB costs more than a copy.
	if left := h.Node().Stat.Size - off; r.zc != nil && min(int64(size), left) >= spliceMin {
		if pair, n := r.splice(h, off, size); pair != nil {
			return fuse.ReadResultPipe(pair, n), fuse.OK
		}
	}
	n, errno := h.ReadAt(buf[:size], off)
	if errno != 0 {
		return nil, status(errno)
	}
	// A vector result is written with one writev. go-fuse's plain data
	// result first tries a splice (a pipe, a header written into it, a
	// drain) and only then falls back: four wasted system calls and
	// their garbage for every small file `tar` reads.
	return fuse.ReadResultVector([][]byte{buf[:n]}), fuse.OK
}

func (r *raw) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.readDir(in, out, false)
}

func (r *raw) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return r.readDir(in, out, true)
}

// readDir lists from the offset the kernel asks for (entry index + 1
// is each entry's offset). With plus, each entry carries its attributes
// and counts as a lookup, so `ls -l` needs no further requests.
func (r *raw) readDir(in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	k, nodes, errno := r.listing(in.NodeId)
	if errno != 0 {
		return status(errno)
	}
	if r.pl != nil && in.Offset == 0 {
		r.pl.noteList(k, nodes)
	}
	if plus {
		// One lock for the whole batch of entries.
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	for i := int(min(in.Offset, uint64(len(nodes)+2))); i < len(nodes)+2; i++ {
		de := fuse.DirEntry{Off: uint64(i + 1), Mode: syscall.S_IFDIR}
		var n *isofmt.Node
		switch i {
		case 0:
			de.Name, de.Ino = ".", k.n.Stat.Inode
		case 1:
			de.Name = ".."
		default:
			n = nodes[i-2]
			de.Name, de.Ino, de.Mode = n.Name, n.Stat.Inode, isofmt.UnixMode(n.Stat.Mode)&syscall.S_IFMT
		}
		if !plus {
			if !out.AddDirEntry(de) {
				break
			}
			continue
		}
		eo := out.AddDirLookupEntry(de)
		if eo == nil {
			break
		}
		// The kernel ignores the entry of "." and ".." (node ID 0).
		if n != nil {
			r.rememberIn(n, eo, k, i-2)
		}
	}
	return fuse.OK
}

// zeroCopySource is an image source whose bytes can be spliced from a
// file descriptor: filesrc.File, the local image file.
type zeroCopySource interface {
	// Region offers image bytes [off, off+n) at a descriptor if the
	// source is (still) the opened image and holds them all.
	Region(off int64, n int) (filesrc.Region, bool)
	// Intact reports whether the source is still as Region saw it.
	Intact(filesrc.Region) bool
}

// splice loads the read of size bytes at off of h into a pipe straight
// from the image file when the bytes are stored there as they are; it
// returns nil when they are not, or when the splice came up short or the
// image changed meanwhile: the copying path then reads them, and reports
// what went wrong.
func (r *raw) splice(h *isofs.Handle, off int64, size int) (*splice.Pair, int) {
	src, n, ok := h.Stored(off, size)
	if !ok {
		return nil, 0
	}
	reg, ok := r.zc.Region(src, n)
	if !ok {
		return nil, 0 // an image that shrank or was rewritten under the mount
	}
	pair := loadPipe(reg.FD, reg.Offset, reg.N)
	if pair == nil {
		// A short splice: a sector the disk cannot read, or an image cut
		// short since Region looked.
		return nil, 0
	}
	if !r.zc.Intact(reg) {
		// The image changed while the pipe was loaded: its bytes may be
		// the new file's.
		splice.Drop(pair)
		return nil, 0
	}
	h.Served(n)
	r.spliced.Add(1)
	return pair, n
}

// loadPipe splices n bytes of fd at off into a pipe and returns it, or
// nil if the splice came up short. go-fuse's own ReadResultFd treats a
// short splice as the end of the file and replies with fewer bytes,
// which the kernel takes for EOF: a bad sector under the image would
// silently cut the file short. Loading the pipe here lets a short count
// become an error instead, and lets the image be checked again once the
// bytes are in the pipe.
func loadPipe(fd uintptr, off int64, n int) *splice.Pair {
	pair, err := splice.Get()
	if err != nil {
		return nil
	}
	if err := pair.Grow(n + os.Getpagesize()); err != nil {
		splice.Drop(pair)
		return nil
	}
	got := 0
	for got < n {
		k, err := pair.LoadFromAt(fd, n-got, off+int64(got))
		if err != nil || k <= 0 {
			splice.Drop(pair) // holds part of the data: never reuse it
			return nil
		}
		got += k
	}
	return pair
}
