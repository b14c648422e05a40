package fetch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// ErrUnsafe means the target file or its mapfile is not one fetch can
// trust: a symbolic link, not a regular file, another user's, hard-linked,
// or (to resume) writable by others. It may have been planted in a shared
// directory to make fetch write elsewhere or resume onto foreign bytes.
var ErrUnsafe = errors.New("fetch: refusing the target")

// ErrNoSpace means the object is larger than the free space of the file
// system the file is to be written to.
var ErrNoSpace = errors.New("fetch: not enough free space")

// checkOurs looks at path without following a symbolic link: nil when
// nothing is there; ErrUnsafe unless it is a regular file of the
// effective user with one link; with resume, also unless nobody else can
// write it (what fetch resumes onto must be bytes only we wrote).
func checkOurs(path string, resume bool) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return fi, vetOurs(path, fi, resume)
}

func vetOurs(path string, fi fs.FileInfo, resume bool) error {
	why := ""
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		why = "is a symbolic link"
	case !fi.Mode().IsRegular():
		why = "is not a regular file"
	default:
		why = notOwned(fi)
		if why == "" && resume && fi.Mode().Perm()&0o022 != 0 {
			why = fmt.Sprintf("is writable by group or others (mode %v), so its bytes may not be ours to resume", fi.Mode().Perm())
		}
	}
	if why != "" {
		return fmt.Errorf("%w: %s %s: remove it or choose another -o", ErrUnsafe, path, why)
	}
	return nil
}

// openTarget opens path for writing without following a symbolic link:
// the existing file was (a non-nil was, as checkOurs saw it) or a new one
// (O_EXCL). The opened file is checked to be the one looked at, so a file
// swapped in between is refused. created tells whether it was made here.
func openTarget(path string, was fs.FileInfo) (f *os.File, created bool, err error) {
	flags := os.O_RDWR | noFollow
	if was == nil {
		flags |= os.O_CREATE | os.O_EXCL
	}
	f, err = os.OpenFile(path, flags, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) || isLoop(err) {
			return nil, false, fmt.Errorf("%w: %s appeared (or was replaced) while fetch opened it: %v", ErrUnsafe, path, err)
		}
		return nil, false, fmt.Errorf("fetch: %w", err)
	}
	if was == nil {
		return f, true, nil
	}
	st, err := f.Stat()
	if err == nil && !os.SameFile(st, was) {
		err = fmt.Errorf("%w: %s was replaced while fetch opened it", ErrUnsafe, path)
	} else if err == nil {
		err = vetOurs(path, st, false)
	}
	if err != nil {
		f.Close()
		return nil, false, err
	}
	return f, false, nil
}

// loadOurMap reads the mapfile at path, which checkOurs accepted as fi,
// through a descriptor opened without following a link and checked again.
func loadOurMap(path string, fi fs.FileInfo) (*ddmap.Map, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnsafe, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && !os.SameFile(st, fi) {
		err = fmt.Errorf("%w: %s was replaced while fetch opened it", ErrUnsafe, path)
	} else if err == nil {
		err = vetOurs(path, st, true)
	}
	if err != nil {
		return nil, err
	}
	m, err := ddmap.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// checkSpace refuses to write need more bytes beside path when its file
// system has less free space (freed: bytes a file being replaced gives
// back). A server's size is taken on trust otherwise: a sparse file
// accepts any size (tmpfs up to 8 EiB) and fails only when full.
func checkSpace(path string, need, freed int64) error {
	if need <= 0 {
		return nil
	}
	dir := filepath.Dir(path)
	free, err := freeSpace(dir)
	if err != nil {
		// No statfs here (an unusual file system): the write fails when
		// the space runs out, with the map saved.
		return nil
	}
	if free > uint64(1<<62) {
		free = 1 << 62
	}
	if avail := int64(free) + freed; need > avail {
		return fmt.Errorf("%w: %s needs %d bytes (%s), the file system of %s has %d bytes (%s) free", ErrNoSpace, path, need, units.Bytes(need), dir, avail, units.Bytes(avail))
	}
	return nil
}
