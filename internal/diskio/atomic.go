package diskio

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// PendingFile is the next version of a file, written under a temporary
// name in the same directory (so that the final rename never crosses file
// systems). Commit makes it the file; Cleanup throws it away.
//
// This is what github.com/google/renameio does, written out here because
// renameio does not build on Windows and does not sync the directory.
type PendingFile struct {
	*os.File
	path string
	done bool
}

// CreateAtomic starts a new version of path with mode perm. The temporary
// name is unpredictable and created exclusively (os.CreateTemp), so a
// symlink planted at a guessable name cannot redirect the write.
func CreateAtomic(path string, perm os.FileMode) (*PendingFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &PendingFile{File: f, path: path}, nil
}

// Commit flushes the data to the medium, renames the file over its final
// name and syncs the directory, so that after a crash the file is either
// the old version or the complete new one, never a torn mix.
func (p *PendingFile) Commit() error {
	if p.done {
		return fmt.Errorf("diskio: %s: already committed or cleaned up", p.path)
	}
	p.done = true
	err := p.File.Sync()
	if cerr := p.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.File.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.File.Name())
		return err
	}
	return syncDir(filepath.Dir(p.path))
}

// Cleanup removes the temporary file unless Commit ran; it is safe to
// defer right after CreateAtomic.
func (p *PendingFile) Cleanup() error {
	if p.done {
		return nil
	}
	p.done = true
	p.File.Close()
	return os.Remove(p.File.Name())
}

// WriteAtomic replaces path with what fill writes, with mode perm.
func WriteAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	p, err := CreateAtomic(path, perm)
	if err != nil {
		return err
	}
	defer p.Cleanup()
	if err := fill(p); err != nil {
		return err
	}
	return p.Commit()
}

// WriteFileAtomic replaces path with data, with mode perm.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return WriteAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
