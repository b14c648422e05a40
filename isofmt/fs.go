package isofmt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

var (
	_ fs.FS         = (*Image)(nil)
	_ fs.ReadDirFS  = (*Image)(nil)
	_ fs.StatFS     = (*Image)(nil)
	_ fs.ReadLinkFS = (*Image)(nil)
)

// Root returns the root directory of the selected tree.
func (img *Image) Root() (*Node, error) { return img.tree.Root() }

// listing returns the cached, parsed directory, parsing it on first use
// (once, however many callers ask at the same time).
func (img *Image) listing(dir *Node) *listing {
	l := img.dirs.get(dir.Stat.Inode)
	l.load.Do(func() {
		l.nodes, l.err = img.tree.ReadDir(dir)
		uniqueNames(l.nodes)
		img.dirs.loaded(dir.Stat.Inode, l)
	})
	return l
}

// DirsParsed is the number of directory parses so far: the first listing
// of a directory parses it, later ones reuse the parsed entries while
// the bounded directory cache keeps them.
func (img *Image) DirsParsed() int64 {
	img.dirs.mu.Lock()
	defer img.dirs.mu.Unlock()
	return img.dirs.parsed
}

// ReadDirNode returns the entries of dir in on-disk order. Their names are
// unique: a name the directory repeats is given a suffix ("_", "__",
// "___", then "_4", "_5", ...) on its later entries. On a damaged
// directory it returns the entries parsed before the damage and an error.
func (img *Image) ReadDirNode(dir *Node) ([]*Node, error) {
	if !dir.IsDir() {
		return nil, fmt.Errorf("isofmt: %q is not a directory", dir.Name)
	}
	if dir.Err != nil {
		return nil, dir.Err
	}
	l := img.listing(dir)
	return l.nodes, l.err
}

// Lookup finds name in dir (the first entry of that name).
func (img *Image) Lookup(dir *Node, name string) (*Node, error) {
	if !dir.IsDir() {
		return nil, fs.ErrInvalid
	}
	if dir.Err != nil {
		return nil, dir.Err
	}
	l := img.listing(dir)
	if n, ok := l.lookup(name); ok {
		return n, nil
	}
	if l.err != nil {
		return nil, l.err
	}
	return nil, fs.ErrNotExist
}

// walk resolves name to a node, following symlinks in every element but
// the last, and in the last too when follow is set. Symlinks resolve
// inside the image: ".." and absolute targets never leave its root.
func (img *Image) walk(op, name string, follow bool) (*Node, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	root, err := img.tree.Root()
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	hops := 0
	p := name
restart:
	if p == "." {
		return root, nil
	}
	parts := strings.Split(p, "/")
	if len(parts) > MaxDepth {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: more than %d path elements", ErrLimit, MaxDepth)}
	}
	cur := root
	for i, part := range parts {
		if !cur.IsDir() {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		n, err := img.Lookup(cur, part)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		last := i == len(parts)-1
		if n.Stat.Mode&fs.ModeSymlink != 0 && (!last || follow) {
			if n.Err != nil {
				return nil, &fs.PathError{Op: op, Path: name, Err: n.Err}
			}
			hops++
			if hops > MaxSymlinkHops {
				return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: too many levels of symbolic links", ErrLimit)}
			}
			base := path.Join(parts[:i]...)
			t := n.Stat.Target
			if strings.HasPrefix(t, "/") {
				base = ""
			}
			rest := path.Join(parts[i+1:]...)
			p = strings.TrimPrefix(path.Clean("/"+path.Join(base, t, rest)), "/")
			if p == "" {
				p = "."
			}
			goto restart
		}
		cur = n
	}
	return cur, nil
}

// LookupPath returns the node at name without following a final symlink
// (symlinks in earlier elements are followed, inside the image).
func (img *Image) LookupPath(name string) (*Node, error) {
	return img.walk("lookup", name, false)
}

// Resolve returns the node at name, following symlinks in every element,
// the last one too (inside the image), as Stat does.
func (img *Image) Resolve(name string) (*Node, error) {
	return img.walk("stat", name, true)
}

// Open opens the named file or directory (symlinks are followed).
func (img *Image) Open(name string) (fs.File, error) {
	n, err := img.walk("open", name, true)
	if err != nil {
		return nil, err
	}
	return img.openNode(n, name), nil
}

func (img *Image) openNode(n *Node, name string) fs.File {
	if n.IsDir() {
		return &dirFile{img: img, node: n, name: name}
	}
	return &File{FileReader: img.OpenNode(n), name: name}
}

// Stat returns the FileInfo of name, following symlinks.
func (img *Image) Stat(name string) (fs.FileInfo, error) {
	n, err := img.walk("stat", name, true)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// Lstat returns the FileInfo of name without following a final symlink.
func (img *Image) Lstat(name string) (fs.FileInfo, error) {
	n, err := img.walk("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return &fileInfo{n}, nil
}

// ReadLink returns the target of the symlink name.
func (img *Image) ReadLink(name string) (string, error) {
	n, err := img.walk("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.Stat.Mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	if n.Err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: n.Err}
	}
	return n.Stat.Target, nil
}

// ReadDir returns the entries of the named directory sorted by name (as
// fs.ReadDirFS requires). Entries whose names cannot be path elements
// (containing "/" or NUL) are included; callers writing files must check.
func (img *Image) ReadDir(name string) ([]fs.DirEntry, error) {
	n, err := img.walk("readdir", name, true)
	if err != nil {
		return nil, err
	}
	if !n.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	nodes, rerr := img.ReadDirNode(n)
	out := make([]fs.DirEntry, 0, len(nodes))
	for _, c := range nodes {
		out = append(out, &dirEntry{c})
	}
	slices.SortStableFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	if rerr != nil {
		return out, &fs.PathError{Op: "readdir", Path: name, Err: rerr}
	}
	return out, nil
}

// FileInfoOf returns the fs.FileInfo of a node.
func FileInfoOf(n *Node) fs.FileInfo { return &fileInfo{n} }

type fileInfo struct{ n *Node }

func (fi *fileInfo) Name() string {
	if fi.n.Name == "" {
		return "."
	}
	return fi.n.Name
}
func (fi *fileInfo) Size() int64        { return fi.n.Stat.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fi.n.Stat.Mode }
func (fi *fileInfo) ModTime() time.Time { return fi.n.Stat.ModTime.Time() }
func (fi *fileInfo) IsDir() bool        { return fi.n.IsDir() }
func (fi *fileInfo) Sys() any           { return &fi.n.Stat }

type dirEntry struct{ n *Node }

func (d *dirEntry) Name() string               { return d.n.Name }
func (d *dirEntry) IsDir() bool                { return d.n.IsDir() }
func (d *dirEntry) Type() fs.FileMode          { return d.n.Stat.Mode.Type() }
func (d *dirEntry) Info() (fs.FileInfo, error) { return &fileInfo{d.n}, nil }
func (d *dirEntry) String() string             { return fs.FormatDirEntry(d) }

// dirFile is an open directory.
type dirFile struct {
	img     *Image
	node    *Node
	name    string
	entries []fs.DirEntry
	read    bool
	pos     int
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return &fileInfo{d.node}, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		d.read = true
		nodes, err := d.img.ReadDirNode(d.node)
		for _, c := range nodes {
			d.entries = append(d.entries, &dirEntry{c})
		}
		slices.SortStableFunc(d.entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		if err != nil && len(d.entries) == 0 {
			return nil, &fs.PathError{Op: "readdir", Path: d.name, Err: err}
		}
	}
	rest := d.entries[d.pos:]
	if n <= 0 {
		d.pos = len(d.entries)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.pos += n
	return rest[:n], nil
}

// File is an open regular file (or symlink/device, which read as empty).
// It is an io.ReaderAt, io.Reader and io.Seeker.
type File struct {
	*FileReader
	name string
	pos  int64
}

// Stat returns the file's FileInfo.
func (f *File) Stat() (fs.FileInfo, error) { return &fileInfo{f.node}, nil }

// Close releases nothing: the image owns all resources.
func (f *File) Close() error { return nil }

func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err != nil && err != io.EOF {
		err = &fs.PathError{Op: "read", Path: f.name, Err: err}
	}
	return n, err
}

// Seek implements io.Seeker.
func (f *File) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += f.pos
	case io.SeekEnd:
		off += f.Size()
	default:
		return 0, fmt.Errorf("isofmt: seek: bad whence %d", whence)
	}
	if off < 0 {
		return 0, fmt.Errorf("isofmt: seek: negative position %d", off)
	}
	f.pos = off
	return off, nil
}

// ReadFile reads the named file whole (fs.ReadFileFS). Unlike the generic
// fs.ReadFile it does not trust the recorded size for its first
// allocation: a hostile image can claim 4 GiB for a file it does not
// hold, so the buffer grows only with the bytes actually read.
func (img *Image) ReadFile(name string) ([]byte, error) {
	f, err := img.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(int(min(fi.Size(), 1<<20)))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
