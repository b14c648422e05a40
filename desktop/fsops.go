package desktop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/isofsd/isofsd/internal/diskio"
	"github.com/isofsd/isofsd/internal/safepath"
)

// Every path Install and Uninstall touch is reached through
// safepath: nothing on the way — directory, symbolic link, the file
// itself — may belong to anyone but the caller and root. Root running
// `desktop install --user` with another user's HOME (sudo -E, su without
// "-") is thereby refused instead of writing wherever that user's links
// point; the caller's own links (dotfiles kept in a repository) are
// still followed.

// policy is whose files may be relied on: the caller's and root's.
func policy() safepath.Policy { return safepath.Mine() }

// writeFile replaces path with data through a temporary file and a
// rename in the same directory, creating the missing directories (made
// is what was created, as path names it). With follow a symbolic link
// at path (the caller's own) is written through, so a linked dotfile
// stays linked; without, a link there is replaced.
func writeFile(path string, data []byte, mode os.FileMode, follow bool) (made []string, err error) {
	d, name, made, err := safepath.Walk(path, policy(), safepath.Options{FollowLast: follow, Create: true})
	if err != nil {
		return made, fmt.Errorf("desktop: %w", err)
	}
	defer d.Close()
	if err := writeAtomic(d, name, data, mode); err != nil {
		return made, err
	}
	return made, nil
}

// writeAtomic replaces name in d with data (diskio.WriteFileAtomic: a
// temporary file in the same directory, synced, then renamed), so that
// readers never see half a file and a symlink at name is replaced, not
// followed. The path it is given goes through d's descriptor, so the
// temporary file and the rename are in the very directory the walk
// checked, whatever its path has become.
func writeAtomic(d *safepath.Dir, name string, data []byte, mode os.FileMode) error {
	if err := diskio.WriteFileAtomic(d.ProcPath(name), data, mode); err != nil {
		return fmt.Errorf("desktop: %s/%s: %w", d.Path(), name, err)
	}
	return nil
}

// readFile reads a file to be edited (following the caller's own
// links), up to limit bytes; exists is false when there is none, and
// mode is its permissions (0644 for a file yet to be made).
func readFile(path string, limit int64) (data []byte, mode os.FileMode, exists bool, err error) {
	mode = 0o644
	d, name, _, err := safepath.Walk(path, policy(), safepath.Options{FollowLast: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, mode, false, nil
	}
	if err != nil {
		return nil, mode, false, fmt.Errorf("desktop: %w", err)
	}
	defer d.Close()
	f, err := d.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, mode, false, nil
	}
	if err != nil {
		return nil, mode, true, fmt.Errorf("desktop: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		mode = st.Mode().Perm()
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, mode, true, fmt.Errorf("desktop: %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, mode, true, fmt.Errorf("desktop: %s: over %d bytes; not edited", path, limit)
	}
	return b, mode, true, nil
}

// removePath removes the last element of path — a file, a link as
// itself, or an empty directory; one already gone is not an error.
func removePath(path string) error {
	d, name, _, err := safepath.Walk(path, policy(), safepath.Options{})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("desktop: %w", err)
	}
	defer d.Close()
	if err := d.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("desktop: %w", err)
	}
	return nil
}

// realDir is the real path of the directory path, for the cache tools.
func realDir(path string) (string, error) {
	d, _, err := safepath.OpenDir(path, policy(), safepath.Options{})
	if err != nil {
		return "", fmt.Errorf("desktop: %w", err)
	}
	defer d.Close()
	return d.Path(), nil
}

// isDir reports whether path is a directory (not a link to one).
func isDir(path string) bool {
	d, name, _, err := safepath.Walk(path, policy(), safepath.Options{})
	if err != nil {
		return false
	}
	defer d.Close()
	st, err := d.Lstat(name)
	return err == nil && st.IsDir()
}
