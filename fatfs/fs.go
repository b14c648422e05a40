package fatfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// Limits of the reader.
const (
	// MaxDirEntries is the most entries a FAT directory may hold.
	MaxDirEntries = 65536
	// MaxDepth caps directory nesting on path walks (FAT paths are at most
	// 260 characters, so real trees stay far below).
	MaxDepth = 128
)

// FS is an opened FAT volume. It implements fs.FS, fs.ReadDirFS and
// fs.StatFS and is safe for concurrent use.
type FS struct {
	Geometry
	r    io.ReaderAt
	size int64
	fat  *fatTable
}

// Open reads the boot sector of the FAT volume in r (size bytes).
func Open(r io.ReaderAt, size int64) (*FS, error) {
	b := make([]byte, 512)
	if n, err := r.ReadAt(b, 0); n < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, &FormatError{Structure: "boot sector", Offset: 0, Err: fmt.Errorf("%w: %v", ErrNotFAT, err)}
	}
	g, err := ParseBootSector(b, size)
	if err != nil {
		return nil, err
	}
	f := &FS{Geometry: *g, r: r, size: size}
	fatOff := g.FATOffset + int64(g.ActiveFAT)*g.FATSectors*int64(g.BytesPerSector)
	f.fat = &fatTable{r: r, off: fatOff, bytes: g.FATSectors * int64(g.BytesPerSector), typ: g.Type, pages: map[int64][]byte{}}
	return f, nil
}

// VolumeSize is the size of what the volume was opened on.
func (f *FS) VolumeSize() int64 { return f.size }

// Label is the volume label: the root directory's label entry (what
// Windows shows), else the boot sector's.
func (f *FS) Label() (string, error) {
	_, label, err := f.readDir(nil, false)
	if err != nil {
		return "", err
	}
	if label != "" {
		return label, nil
	}
	if f.BPBLabel == "NO NAME" {
		return "", nil
	}
	return f.BPBLabel, nil
}

// readDir reads the directory of dir (nil for the root).
func (f *FS) readDir(dir *Entry, deleted bool) ([]Entry, string, error) {
	return f.readDirSeen(dir, deleted, nil)
}

// readDirSeen reads the directory of dir (nil for the root) through its
// chain; with seen, a cluster already set there is a loop, and the
// chain's clusters are set.
func (f *FS) readDirSeen(dir *Entry, deleted bool, seen *Bitmap) ([]Entry, string, error) {
	if dir == nil && f.Type != 32 {
		n := int64(f.RootEntries) * 32
		if f.RootDirOffset+n > f.size {
			return nil, "", errorf("root directory", f.RootDirOffset, ErrCorrupt, "%d bytes run past the volume end %d", n, f.size)
		}
		buf := make([]byte, n)
		if err := f.read(buf, f.RootDirOffset, "root directory"); err != nil {
			return nil, "", err
		}
		ents, label := parseDir(buf, func(i int) int64 { return f.RootDirOffset + int64(i) }, deleted)
		return ents, label, nil
	}
	first, what := f.RootCluster, "root directory"
	if dir != nil {
		first, what = dir.FirstCluster, "directory "+dir.Name
		if first == 0 {
			// ".." of a first-level directory names the root as 0; a
			// directory entry never should.
			return nil, "", errorf(what, dir.Offset, ErrCorrupt, "no first cluster")
		}
	}
	maxClusters := f.maxDirClusters()
	runs, err := f.chain(first, maxClusters+1, seen)
	if err != nil {
		return nil, "", fmt.Errorf("fatfs: %s: %w", what, err)
	}
	var total int64
	for _, r := range runs {
		total += int64(r.Count)
	}
	if total > maxClusters {
		return nil, "", errorf(what, f.ClusterOffset(first), ErrLimit, "more than %d entries", MaxDirEntries)
	}
	buf := make([]byte, total*f.ClusterSize)
	var at int64
	for _, r := range runs {
		n := int64(r.Count) * f.ClusterSize
		if err := f.read(buf[at:at+n], f.ClusterOffset(r.First), what); err != nil {
			return nil, "", err
		}
		at += n
	}
	ents, label := f.parseRuns(buf, runs, deleted)
	return ents, label, nil
}

// maxDirClusters is how many clusters MaxDirEntries fill.
func (f *FS) maxDirClusters() int64 {
	return (MaxDirEntries*32 + f.ClusterSize - 1) / f.ClusterSize
}

// parseRuns decodes a directory read from runs into buf (the runs' bytes
// one after the other), with the entries' offsets in the volume.
func (f *FS) parseRuns(buf []byte, runs []Run, deleted bool) ([]Entry, string) {
	pos := make([]int64, len(runs)) // buffer position of each run
	var at int64
	for i, r := range runs {
		pos[i] = at
		at += int64(r.Count) * f.ClusterSize
	}
	offset := func(i int) int64 {
		k := len(pos) - 1
		for k > 0 && pos[k] > int64(i) {
			k--
		}
		return f.ClusterOffset(runs[k].First) + int64(i) - pos[k]
	}
	return parseDir(buf, offset, deleted)
}

func (f *FS) read(b []byte, off int64, what string) error {
	if off < 0 || off > f.size || int64(len(b)) > f.size-off {
		return errorf(what, off, ErrCorrupt, "%d bytes run past the volume end %d", len(b), f.size)
	}
	n, err := f.r.ReadAt(b, off)
	if n < len(b) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return &FormatError{Structure: what, Offset: off + int64(n), Err: err}
	}
	return nil
}

// ReadDirEntries lists the directory at name ("." for the root) as raw
// entries, with deleted ones when deleted is set.
func (f *FS) ReadDirEntries(name string, deleted bool) ([]Entry, error) {
	dir, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if dir != nil && !dir.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	ents, _, err := f.readDir(dir, deleted)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return ents, nil
}

// lookup resolves name to its entry (nil for the root). Names match
// case-insensitively, long or short, as FAT does.
func (f *FS) lookup(op, name string) (*Entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, nil
	}
	parts := strings.Split(name, "/")
	if len(parts) > MaxDepth {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("%w: deeper than %d directories", ErrLimit, MaxDepth)}
	}
	var cur *Entry
	seen := map[uint32]bool{f.RootCluster: true}
	for i, p := range parts {
		ents, _, err := f.readDir(cur, false)
		if err != nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		var found *Entry
		for k := range ents {
			if strings.EqualFold(ents[k].Name, p) || strings.EqualFold(ents[k].ShortName, p) {
				found = &ents[k]
				break
			}
		}
		if found == nil {
			return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
		}
		if found.IsDir() {
			if seen[found.FirstCluster] {
				return nil, &fs.PathError{Op: op, Path: name, Err: errorf("directory "+path.Join(parts[:i+1]...), found.Offset, ErrLoop, "its cluster %d is also one of its parent directories'", found.FirstCluster)}
			}
			seen[found.FirstCluster] = true
		} else if i < len(parts)-1 {
			return nil, &fs.PathError{Op: op, Path: name, Err: errors.New("not a directory")}
		}
		cur = found
	}
	return cur, nil
}

// Stat implements fs.StatFS.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	e, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info(e, name), nil
}

func (f *FS) info(e *Entry, name string) fs.FileInfo {
	if e == nil {
		return &fileInfo{e: Entry{Name: ".", Attr: AttrDirectory, FirstCluster: f.RootCluster}}
	}
	return &fileInfo{e: *e}
}

// ReadDir implements fs.ReadDirFS: live entries, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := f.ReadDirEntries(name, false)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, len(ents))
	for i := range ents {
		out[i] = fs.FileInfoToDirEntry(&fileInfo{e: ents[i]})
	}
	sortDirEntries(out)
	return out, nil
}

func sortDirEntries(d []fs.DirEntry) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].Name() < d[j-1].Name(); j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// Open implements fs.FS.
func (f *FS) Open(name string) (fs.File, error) {
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	if e == nil || e.IsDir() {
		return &dirFile{f: f, name: name, e: e}, nil
	}
	r, err := f.OpenEntry(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &File{FileReader: r}, nil
}

// FileReader reads a file's data through its cluster chain.
type FileReader struct {
	f    *FS
	e    Entry
	runs []Run
}

// OpenEntry returns a reader of e's data: exactly the clusters its size
// needs, followed through the FAT. A chain shorter than the size, or one
// that loops, is an error here rather than wrong data later.
func (f *FS) OpenEntry(e *Entry) (*FileReader, error) {
	need := (int64(e.Size) + f.ClusterSize - 1) / f.ClusterSize
	r := &FileReader{f: f, e: *e}
	if need == 0 {
		return r, nil
	}
	if e.FirstCluster == 0 {
		return nil, errorf("file "+e.Name, e.Offset, ErrCorrupt, "%d bytes but no first cluster", e.Size)
	}
	runs, err := f.Chain(e.FirstCluster, need)
	if err != nil {
		return nil, fmt.Errorf("fatfs: file %s: %w", e.Name, err)
	}
	var got int64
	for _, x := range runs {
		got += int64(x.Count)
	}
	if got < need {
		return nil, errorf("file "+e.Name, e.Offset, ErrCorrupt, "its cluster chain ends after %d of the %d clusters its size needs", got, need)
	}
	r.runs = runs
	return r, nil
}

// Runs returns the file's clusters as runs.
func (r *FileReader) Runs() []Run { return r.runs }

// Size is the file size.
func (r *FileReader) Size() int64 { return int64(r.e.Size) }

// ReadAt implements io.ReaderAt over the file's data.
func (r *FileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("fatfs: negative offset %d", off)
	}
	size := int64(r.e.Size)
	if off >= size {
		return 0, io.EOF
	}
	want := p
	if int64(len(want)) > size-off {
		want = want[:size-off]
	}
	n := 0
	var pos int64 // file offset where the current run starts
	for _, x := range r.runs {
		runBytes := int64(x.Count) * r.f.ClusterSize
		if n == len(want) {
			break
		}
		at := off + int64(n)
		if at >= pos+runBytes {
			pos += runBytes
			continue
		}
		in := at - pos
		chunk := want[n:min(int64(len(want)), int64(n)+runBytes-in)]
		if err := r.f.read(chunk, r.f.ClusterOffset(x.First)+in, "file "+r.e.Name); err != nil {
			return n, err
		}
		n += len(chunk)
		pos += runBytes
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// File is an open regular file.
type File struct {
	*FileReader
	pos int64
}

// Stat returns the file's FileInfo.
func (f *File) Stat() (fs.FileInfo, error) { return &fileInfo{e: f.e}, nil }

// Read implements io.Reader.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Close releases nothing.
func (f *File) Close() error { return nil }

type dirFile struct {
	f    *FS
	name string
	e    *Entry
	ents []fs.DirEntry
	read bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.f.info(d.e, d.name), nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if !d.read {
		ents, err := d.f.ReadDir(d.name)
		if err != nil {
			return nil, err
		}
		d.ents, d.read = ents, true
	}
	if n <= 0 {
		out := d.ents
		d.ents = nil
		return out, nil
	}
	if len(d.ents) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.ents))
	out := d.ents[:k]
	d.ents = d.ents[k:]
	return out, nil
}

type fileInfo struct{ e Entry }

func (i *fileInfo) Name() string { return i.e.Name }
func (i *fileInfo) Size() int64 {
	if i.e.IsDir() {
		return 0
	}
	return int64(i.e.Size)
}
func (i *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(0o666)
	if i.e.Attr&AttrReadOnly != 0 {
		m = 0o444
	}
	if i.e.IsDir() {
		m |= fs.ModeDir | 0o111
	}
	return m
}
func (i *fileInfo) ModTime() time.Time { return i.e.Modified }
func (i *fileInfo) IsDir() bool        { return i.e.IsDir() }

// Sys returns the *Entry.
func (i *fileInfo) Sys() any { return &i.e }
