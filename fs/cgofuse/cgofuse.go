//go:build cgofuse || windows

// Package cgofuse serves an isofsd fs.FS through github.com/winfsp/cgofuse:
// WinFsp on Windows (built with CGO_ENABLED=0; WinFsp's DLL is loaded at
// run time), libfuse elsewhere (cgo; add the fuse3 tag for libfuse3).
//
// Like fs/gofuse it only adapts. cgofuse speaks the path-based high-level
// FUSE API, so every call names a path: paths are resolved from the root
// through fs.FS.Lookup and remembered in a bounded cache (the image never
// changes, so a resolved path stays right). Writes of any kind get EROFS.
package cgofuse

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/winfsp/cgofuse/fuse"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/isofmt"
)

// Available reports that this build has the cgofuse backend.
const Available = true

// Timeout is the kernel's entry and attribute cache lifetime in seconds
// (libfuse's high-level options): the image never changes.
const Timeout = 86400

// maxPathCache bounds the resolved-path cache; beyond it lookups walk the
// tree (isofmt's directory cache keeps that cheap).
const maxPathCache = 1 << 16

// maxHandles bounds open files: a runaway client cannot grow the table
// without limit.
const maxHandles = 1 << 16

// mountTimeout bounds the wait for the file system's Init callback.
const mountTimeout = 20 * time.Second

// FileSystemName is what Windows shows as the file system type.
const FileSystemName = "isofsd"

// Options configure the mount.
type Options struct {
	// Source is the image path: the mount's fsname on Unix.
	Source string
	// VolumeLabel is the Windows volume label (default: the image's
	// volume identifier).
	VolumeLabel string
	// AllowOther lets other users see the mount (Unix).
	AllowOther bool
	// ExtraOptions are further -o options for the FUSE implementation.
	ExtraOptions []string
	// Debug logs every FUSE request (libfuse/WinFsp debug output).
	Debug bool
	Log   logrus.FieldLogger
}

// Server is a live cgofuse mount.
type Server struct {
	host   *fuse.FileSystemHost
	fs     *fileSystem
	done   chan struct{}
	ok     bool // host.Mount's result, valid once done is closed
	mp     string
	unmnt  sync.Once
	unmErr error
}

// Mount serves t at mountpoint (a directory, or on Windows a drive
// letter such as "X:") and returns once the file system is initialised.
func Mount(mountpoint string, t *isofs.FS, o Options) (*Server, error) {
	f := &fileSystem{t: t, paths: map[string]*isofmt.Node{"/": t.Root()}, handles: map[uint64]*isofs.Handle{},
		ready: make(chan struct{}), log: o.Log}
	if f.log == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		f.log = l
	}
	host := fuse.NewFileSystemHost(f)
	// Inode numbers from the image (stable, shared by hard links).
	host.SetUseIno(true)
	host.SetCapReaddirPlus(true)
	s := &Server{host: host, fs: f, done: make(chan struct{}), mp: mountpoint}
	opts := mountOptions(t, o)
	go func() {
		defer close(s.done)
		s.ok = host.Mount(mountpoint, opts)
	}()
	select {
	case <-f.ready:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("cgofuse: mounting %s failed (see the FUSE messages above)", mountpoint)
	case <-time.After(mountTimeout):
		host.Unmount()
		return nil, fmt.Errorf("cgofuse: %s not initialised within %v", mountpoint, mountTimeout)
	}
}

// mountOptions builds the -o options for the platform.
func mountOptions(t *isofs.FS, o Options) []string {
	var opts []string
	if runtime.GOOS == "windows" {
		label := o.VolumeLabel
		if label == "" {
			label = t.Image().Info().VolumeID
		}
		// uid/gid -1: files belong to the user who mounts (WinFsp maps
		// them to that SID); the volume is named for Explorer.
		opts = append(opts, "-o", "uid=-1,gid=-1", "-o", "FileSystemName="+FileSystemName)
		if label = strings.Map(func(r rune) rune {
			if r == ',' || r < ' ' {
				return '_'
			}
			return r
		}, strings.TrimSpace(label)); label != "" {
			opts = append(opts, "-o", "volname="+label)
		}
	} else {
		o2 := []string{"ro", "subtype=isofsd", "default_permissions",
			fmt.Sprintf("attr_timeout=%d", Timeout), fmt.Sprintf("entry_timeout=%d", Timeout),
			fmt.Sprintf("negative_timeout=%d", Timeout)}
		if o.Source != "" {
			o2 = append(o2, "fsname="+strings.ReplaceAll(o.Source, ",", "\\,"))
		}
		if o.AllowOther {
			o2 = append(o2, "allow_other")
		}
		opts = append(opts, "-o", strings.Join(o2, ","))
	}
	for _, e := range o.ExtraOptions {
		opts = append(opts, "-o", e)
	}
	if o.Debug {
		opts = append(opts, "-d")
	}
	return opts
}

// Wait blocks until the file system is unmounted.
func (s *Server) Wait() { <-s.done }

// Unmount unmounts and waits for the serving loop to end. cgofuse also
// unmounts by itself on SIGINT/SIGTERM, so a failed unmount call is an
// error only if the file system keeps serving.
func (s *Server) Unmount() error {
	s.unmnt.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		ok := s.host.Unmount()
		select {
		case <-s.done:
		case <-time.After(mountTimeout):
			s.unmErr = fmt.Errorf("cgofuse: %s still serving %v after unmount (unmount call ok: %v)", s.mp, mountTimeout, ok)
		}
	})
	return s.unmErr
}

// fileSystem implements cgofuse's FileSystemInterface.
type fileSystem struct {
	fuse.FileSystemBase
	t   *isofs.FS
	log logrus.FieldLogger

	mu      sync.Mutex
	paths   map[string]*isofmt.Node
	handles map[uint64]*isofs.Handle
	nextFh  uint64

	readyOnce sync.Once
	ready     chan struct{}
}

// errc maps an errno of package fs onto cgofuse's negative error codes,
// which follow the platform's (WinFsp's own on Windows), by name.
func errc(e syscall.Errno) int {
	switch e {
	case 0:
		return 0
	case syscall.ENOENT:
		return -fuse.ENOENT
	case syscall.ENOTDIR:
		return -fuse.ENOTDIR
	case syscall.EISDIR:
		return -fuse.EISDIR
	case syscall.EINVAL:
		return -fuse.EINVAL
	case syscall.EACCES:
		return -fuse.EACCES
	case syscall.EROFS:
		return -fuse.EROFS
	case syscall.ENODATA:
		return -fuse.ENOATTR
	case syscall.ERANGE:
		return -fuse.ERANGE
	case syscall.EBADF:
		return -fuse.EBADF
	case syscall.ENAMETOOLONG:
		return -fuse.ENAMETOOLONG
	case syscall.ENOMEM:
		return -fuse.ENOMEM
	}
	return -fuse.EIO
}

func (f *fileSystem) Init() { f.readyOnce.Do(func() { close(f.ready) }) }

// resolve walks path from the root.
func (f *fileSystem) resolve(path string) (*isofmt.Node, syscall.Errno) {
	if path == "" {
		path = "/"
	}
	f.mu.Lock()
	n, ok := f.paths[path]
	f.mu.Unlock()
	if ok {
		return n, 0
	}
	// Resolve the parent (usually cached: the kernel looks up parents
	// first), then the last element.
	i := strings.LastIndexByte(path, '/')
	if i < 0 {
		return nil, syscall.ENOENT
	}
	parentPath, name := path[:i], path[i+1:]
	if parentPath == "" {
		parentPath = "/"
	}
	if name == "" {
		return f.resolve(parentPath)
	}
	parent, errno := f.resolve(parentPath)
	if errno != 0 {
		return nil, errno
	}
	n, errno = f.t.Lookup(parent, name)
	if errno != 0 {
		return nil, errno
	}
	f.mu.Lock()
	if len(f.paths) < maxPathCache {
		f.paths[path] = n
	}
	f.mu.Unlock()
	return n, 0
}

func fillStat(a isofs.Attr, st *fuse.Stat_t) {
	*st = fuse.Stat_t{
		Ino: a.Ino, Mode: a.Mode, Nlink: a.Nlink, Uid: a.UID, Gid: a.GID, Rdev: uint64(a.Rdev),
		Size: int64(a.Size), Blocks: int64(a.Blocks), Blksize: int64(a.Blksize),
		Atim: fuse.NewTimespec(a.Atime), Mtim: fuse.NewTimespec(a.Mtime), Ctim: fuse.NewTimespec(a.Ctime),
		Birthtim: fuse.NewTimespec(a.Mtime),
	}
}

func (f *fileSystem) Getattr(path string, st *fuse.Stat_t, fh uint64) int {
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno)
	}
	fillStat(f.t.Attr(n), st)
	return 0
}

func (f *fileSystem) Readlink(path string) (int, string) {
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno), ""
	}
	target, errno := f.t.Readlink(n)
	if errno != 0 {
		return errc(errno), ""
	}
	return 0, string(target)
}

func (f *fileSystem) Statfs(path string, st *fuse.Statfs_t) int {
	s := f.t.Statfs()
	*st = fuse.Statfs_t{Bsize: uint64(s.Bsize), Frsize: uint64(s.Bsize), Blocks: s.Blocks, Files: s.Files, Namemax: uint64(s.NameLen)}
	return 0
}

func (f *fileSystem) Access(path string, mask uint32) int {
	if _, errno := f.resolve(path); errno != 0 {
		return errc(errno)
	}
	if mask&2 != 0 { // W_OK
		return -fuse.EROFS
	}
	return 0
}

// OpenEx opens like Open and keeps the kernel's page cache across opens:
// the data never changes. (cgofuse copies FileInfo_t.KeepCache over
// libfuse's kernel_cache option, so it has to be set here.) Files that
// fs.FS.DirectIO names are read with direct I/O instead.
func (f *fileSystem) OpenEx(path string, fi *fuse.FileInfo_t) int {
	rc, fh := f.Open(path, fi.Flags)
	if rc == 0 {
		fi.Fh, fi.KeepCache = fh, true
		f.mu.Lock()
		h := f.handles[fh]
		f.mu.Unlock()
		if h != nil && f.t.DirectIO(h.Node()) {
			fi.KeepCache, fi.DirectIo = false, true
		}
	}
	return rc
}

// CreateEx refuses, as Create does.
func (f *fileSystem) CreateEx(path string, mode uint32, fi *fuse.FileInfo_t) int { return -fuse.EROFS }

func (f *fileSystem) Open(path string, flags int) (int, uint64) {
	if flags&fuse.O_ACCMODE != fuse.O_RDONLY || flags&fuse.O_TRUNC != 0 {
		return -fuse.EROFS, ^uint64(0)
	}
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno), ^uint64(0)
	}
	h, errno := f.t.Open(n)
	if errno != 0 {
		return errc(errno), ^uint64(0)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.handles) >= maxHandles {
		return -fuse.ENFILE, ^uint64(0)
	}
	f.nextFh++
	f.handles[f.nextFh] = h
	return 0, f.nextFh
}

func (f *fileSystem) Release(path string, fh uint64) int {
	f.mu.Lock()
	delete(f.handles, fh)
	f.mu.Unlock()
	return 0
}

func (f *fileSystem) Read(path string, buff []byte, ofst int64, fh uint64) int {
	f.mu.Lock()
	h := f.handles[fh]
	f.mu.Unlock()
	if h == nil {
		return -fuse.EBADF
	}
	n, errno := h.ReadAt(buff, ofst)
	if errno != 0 {
		return errc(errno)
	}
	return n
}

func (f *fileSystem) Opendir(path string) (int, uint64) {
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno), ^uint64(0)
	}
	if !n.IsDir() {
		return -fuse.ENOTDIR, ^uint64(0)
	}
	return 0, 0
}

// Readdir lists the directory in one pass (offsets 0): with stat data,
// so that readdirplus answers without a Getattr per entry.
func (f *fileSystem) Readdir(path string, fill func(name string, stat *fuse.Stat_t, ofst int64) bool, ofst int64, fh uint64) int {
	dir, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno)
	}
	nodes, errno := f.t.ReadDir(dir)
	if errno != 0 {
		return errc(errno)
	}
	var st fuse.Stat_t
	fillStat(f.t.Attr(dir), &st)
	if !fill(".", &st, 0) || !fill("..", nil, 0) {
		return 0
	}
	prefix := strings.TrimSuffix(path, "/") + "/"
	for _, n := range nodes {
		var cst fuse.Stat_t
		fillStat(f.t.Attr(n), &cst)
		f.mu.Lock()
		if len(f.paths) < maxPathCache {
			f.paths[prefix+n.Name] = n
		}
		f.mu.Unlock()
		if !fill(n.Name, &cst, 0) {
			break
		}
	}
	return 0
}

func (f *fileSystem) Getxattr(path string, name string) (int, []byte) {
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno), nil
	}
	v, errno := f.t.Getxattr(n, name)
	if errno != 0 {
		return errc(errno), nil
	}
	return 0, v
}

func (f *fileSystem) Listxattr(path string, fill func(name string) bool) int {
	n, errno := f.resolve(path)
	if errno != 0 {
		return errc(errno)
	}
	for _, name := range f.t.ListXattr(n) {
		if !fill(name) {
			return -fuse.ERANGE
		}
	}
	return 0
}

// Everything that would change the tree is refused: the image is
// read-only.
func (f *fileSystem) Mknod(string, uint32, uint64) int         { return -fuse.EROFS }
func (f *fileSystem) Mkdir(string, uint32) int                 { return -fuse.EROFS }
func (f *fileSystem) Unlink(string) int                        { return -fuse.EROFS }
func (f *fileSystem) Rmdir(string) int                         { return -fuse.EROFS }
func (f *fileSystem) Link(string, string) int                  { return -fuse.EROFS }
func (f *fileSystem) Symlink(string, string) int               { return -fuse.EROFS }
func (f *fileSystem) Rename(string, string) int                { return -fuse.EROFS }
func (f *fileSystem) Chmod(string, uint32) int                 { return -fuse.EROFS }
func (f *fileSystem) Chown(string, uint32, uint32) int         { return -fuse.EROFS }
func (f *fileSystem) Utimens(string, []fuse.Timespec) int      { return -fuse.EROFS }
func (f *fileSystem) Truncate(string, int64, uint64) int       { return -fuse.EROFS }
func (f *fileSystem) Setxattr(string, string, []byte, int) int { return -fuse.EROFS }
func (f *fileSystem) Removexattr(string, string) int           { return -fuse.EROFS }
func (f *fileSystem) Create(string, int, uint32) (int, uint64) {
	return -fuse.EROFS, ^uint64(0)
}
func (f *fileSystem) Write(string, []byte, int64, uint64) int { return -fuse.EROFS }

// ErrUnsupported is returned only by builds without the backend; it is
// declared here too so that callers compile with either build.
var ErrUnsupported = errors.New("cgofuse backend unsupported")

// The optional interfaces cgofuse looks for.
var _ fuse.FileSystemOpenEx = (*fileSystem)(nil)
