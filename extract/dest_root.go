package extract

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"time"
)

// rootDir is the portable writer: one os.Root per directory, so that
// every name it is given is a single element and os.Root's own symlink
// following (inside the root) never comes into play: subdirectories
// are opened only after Lstat says they are directories, and checked
// to be that directory once open. What os.Root cannot do — FIFOs, device
// nodes, the owner and times of a symlink — is not done on this path.
type rootDir struct {
	top *os.Root // DIR, for hard links between directories
	r   *os.Root // this directory
	rel string   // its path below DIR, "." for DIR
	fi  fs.FileInfo
}

func openRootDest(dir string) (dirHandle, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	fi, err := r.Stat(".")
	if err != nil {
		r.Close()
		return nil, err
	}
	return &rootDir{top: r, r: r, rel: ".", fi: fi}, nil
}

func (d *rootDir) openDir(name string) (dirHandle, error) {
	fi, err := d.r.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, notDir(name, fi.Mode())
	}
	sub, err := d.r.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	sfi, err := sub.Stat(".")
	if err == nil && !os.SameFile(fi, sfi) {
		err = fmt.Errorf("%s: %w", name, errReplaced)
	}
	if err != nil {
		sub.Close()
		return nil, err
	}
	return &rootDir{top: d.top, r: sub, rel: path.Join(d.rel, name), fi: sfi}, nil
}

// notDir is the error for a name that is not a directory where one is
// needed; a symlink is named as such, since it is never followed.
func notDir(name string, m fs.FileMode) error {
	if m&fs.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symlink (never followed)", name)
	}
	return fmt.Errorf("%s is not a directory", name)
}

func (d *rootDir) id() fileID              { return d.fi }
func (d *rootDir) mkdir(name string) error { return d.r.Mkdir(name, 0o700) }

func (d *rootDir) lstat(name string) (fs.FileMode, fileID, error) {
	fi, err := d.r.Lstat(name)
	if err != nil {
		return 0, nil, err
	}
	return fi.Mode().Type(), fi, nil
}

func (d *rootDir) create(name string, perm fs.FileMode) (outFile, error) {
	// O_EXCL: os.Root never follows a symlink at name then, whatever
	// the system.
	f, err := d.r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm&fs.ModePerm)
	if err != nil {
		return nil, err
	}
	return &rootFile{f}, nil
}

func (d *rootDir) symlink(target, name string) error { return d.r.Symlink(target, name) }

func (d *rootDir) mknod(string, fs.FileMode, fs.FileMode, uint32, uint32) error {
	return errNotHere
}

func (d *rootDir) link(src dirHandle, srcName string, want fileID, name string) error {
	s, ok := src.(*rootDir)
	if !ok {
		return fmt.Errorf("link across writers")
	}
	// Through DIR's root the paths have several elements; os.Root keeps
	// the link inside DIR whatever they meet, and the check below undoes
	// a link to anything but the file created earlier.
	if err := d.top.Link(path.Join(s.rel, srcName), path.Join(d.rel, name)); err != nil {
		return err
	}
	if _, got, err := d.lstat(name); err != nil || !sameID(got, want) {
		d.r.Remove(name)
		return fmt.Errorf("%s: %w", srcName, errReplaced)
	}
	return nil
}

func (d *rootDir) remove(name string) error { return d.r.Remove(name) }

func (d *rootDir) rename(from, to string, replace bool) error {
	if !replace {
		// os.Root has no no-replace rename: check first. Another process
		// creating the name in between loses its entry, never more.
		if _, err := d.r.Lstat(to); err == nil {
			return &fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist}
		}
	}
	return d.r.Rename(from, to)
}

// setMeta: os.Root sets metadata by name, following a final symlink, and
// its Lchown is by name too: nothing is set on symlinks on this path.
func (d *rootDir) setMeta(string, fs.FileMode, meta) error { return nil }

// setDirMeta works on ".", the directory this root holds open: no name
// that anyone could swap is involved.
func (d *rootDir) setDirMeta(m meta) error {
	if m.owner && !hasIDs(d.fi, m.uid, m.gid) {
		if err := d.r.Chown(".", m.uid, m.gid); err != nil {
			return err
		}
	}
	if m.chmod {
		if err := d.r.Chmod(".", m.perm); err != nil {
			return err
		}
	}
	if m.times {
		return d.r.Chtimes(".", time.Unix(0, m.atime), time.Unix(0, m.mtime))
	}
	return nil
}

func (d *rootDir) close() error { return d.r.Close() }

func (d *rootDir) names() ([]string, error) {
	f, err := d.r.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeStale: Lstat says what name is (os.Root would follow a symlink
// inside DIR on open), the file opened is checked to be that one, then
// it must be ours (where the system has owners) and not locked.
func (d *rootDir) removeStale(name string) (bool, error) {
	fi, err := d.r.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || !ownedByMe(fi) {
		return false, err
	}
	f, err := d.r.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return false, err
	}
	ofi, err := f.Stat()
	if err != nil || !os.SameFile(fi, ofi) || !tryLock(f) {
		f.Close()
		return false, err
	}
	// Closed before the removal: Windows removes no open file.
	f.Close()
	return true, d.r.Remove(name)
}

// rootFile is a file created through os.Root: metadata is set on the
// open file.
type rootFile struct{ f *os.File }

func (f *rootFile) WriteAt(b []byte, off int64) (int, error) { return f.f.WriteAt(b, off) }
func (f *rootFile) truncate(size int64) error                { return f.f.Truncate(size) }
func (f *rootFile) close() error                             { return f.f.Close() }
func (f *rootFile) lockTemp()                                { tryLock(f.f) }

func (f *rootFile) id() (fileID, error) {
	fi, err := f.f.Stat()
	return fi, err
}

func (f *rootFile) setMeta(m meta) error {
	if m.owner {
		fi, err := f.f.Stat()
		if err != nil {
			return err
		}
		if !hasIDs(fi, m.uid, m.gid) {
			if err := f.f.Chown(m.uid, m.gid); err != nil {
				return fmt.Errorf("chown: %w", err)
			}
		}
	}
	if m.chmod {
		if err := f.f.Chmod(m.perm); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if m.times {
		if err := setFileTimes(f.f, m.atime, m.mtime); err != nil {
			return fmt.Errorf("setting times: %w", err)
		}
	}
	return nil
}

// sameID reports whether two fileIDs name one file.
func sameID(a, b fileID) bool {
	if x, ok := a.(fs.FileInfo); ok {
		y, ok := b.(fs.FileInfo)
		return ok && os.SameFile(x, y)
	}
	return a != nil && a == b
}
