package extract

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/isofsd/isofsd/isofmt"
)

// The destination is written through dirHandles: one open directory
// each, with names that are single path elements. Two implementations
// exist: the Linux one on directory file descriptors and *at calls
// (dest_linux.go), which can also create FIFOs and devices and set the
// metadata of symlinks, and the portable one on os.Root (dest_root.go),
// used on every other system and, in tests, on Linux too.
//
// Every implementation keeps these rules, on which the safety of
// extraction rests:
//   - no method follows a symlink at the name it is given, nor anywhere
//     else: a directory is entered only by opening it without following
//     and checking it is the directory met before (dirHandle.id);
//   - entries are created only where nothing is (EEXIST otherwise), so
//     an existing entry is replaced only by an explicit rename;
//   - metadata is set on an open file, or on an object opened without
//     following its name and checked to be the one just created — never
//     by a name that another user could swap for a symlink in between.
type dirHandle interface {
	// openDir opens the subdirectory name; a symlink or anything but a
	// directory is refused.
	openDir(name string) (dirHandle, error)
	// id identifies the directory (see sameID).
	id() fileID
	// mkdir creates name with mode 0700 (it is filled, then finished).
	mkdir(name string) error
	// lstat describes name without following it.
	lstat(name string) (typ fs.FileMode, id fileID, err error)
	// create makes a new regular file, open for writing.
	create(name string, perm fs.FileMode) (outFile, error)
	symlink(target, name string) error
	// mknod makes a FIFO or a device node (typ is fs.ModeNamedPipe,
	// fs.ModeDevice or fs.ModeDevice|fs.ModeCharDevice).
	mknod(name string, typ fs.FileMode, perm fs.FileMode, major, minor uint32) error
	// link makes name a hard link to src's entry srcName, which must be
	// the file want; a link to anything else is undone and refused.
	link(src dirHandle, srcName string, want fileID, name string) error
	// remove removes a file, a symlink or an empty directory.
	remove(name string) error
	// rename renames from to to inside this directory; with !replace it
	// fails with EEXIST when to exists.
	rename(from, to string, replace bool) error
	// setMeta sets the metadata of the symlink, FIFO or device name,
	// which must be of type typ and just created by this process.
	setMeta(name string, typ fs.FileMode, m meta) error
	// setDirMeta sets this directory's own metadata.
	setDirMeta(m meta) error
	// names lists the directory's entries.
	names() ([]string, error)
	// removeStale removes name if it is a temporary file an interrupted
	// run of this user left: a regular file of this process's user, with
	// one name, not locked (lockTemp) by a run still writing it. It
	// reports whether it removed it; nothing else is touched.
	removeStale(name string) (bool, error)
	close() error
}

// outFile is a regular file being written.
type outFile interface {
	io.WriterAt
	truncate(size int64) error
	setMeta(m meta) error
	id() (fileID, error)
	// lockTemp marks a file written under a temporary name as in use
	// (an advisory lock the system drops when the process dies), so that
	// another run cleaning up leaves it alone.
	lockTemp()
	close() error
}

// meta is what to set on an entry, already decided by the policy.
type meta struct {
	// perm holds the permission bits and ModeSetuid/ModeSetgid/ModeSticky.
	perm  fs.FileMode
	chmod bool
	owner bool
	uid   int
	gid   int
	times bool
	atime int64 // Unix nanoseconds
	mtime int64
}

// fileID identifies a file on the destination; compare with sameID.
type fileID any

// errNotHere is returned by operations a destination cannot do on this
// system (device nodes and FIFOs with os.Root).
var errNotHere = errors.New("not supported by this system's writer")

// errReplaced means an entry changed under the extraction: another
// process swapped it between its creation and its use.
var errReplaced = errors.New("replaced by another process while being extracted; left alone")

// tempName returns a fresh hidden name for an entry that will replace
// an existing one once complete.
func tempName() string {
	return fmt.Sprintf("%s%016x%s", tempPrefix, rand.Uint64(), tempSuffix)
}

const tempPrefix, tempSuffix = ".isofsd-", ".tmp"

// isTempName reports whether name is exactly what tempName makes.
func isTempName(name string) bool {
	hex, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return false
	}
	if hex, ok = strings.CutSuffix(hex, tempSuffix); !ok || len(hex) != 16 {
		return false
	}
	for _, c := range hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hostName refuses a name that cannot be one entry of a directory on this
// system: isofmt's check, and on Windows also "\", ":" and device names
// (NUL, COM1, ...), which filepath.IsLocal knows.
func hostName(name string) error {
	if err := isofmt.CheckName(name); err != nil {
		return err
	}
	if strings.ContainsRune(name, filepath.Separator) || !filepath.IsLocal(name) {
		return fmt.Errorf("name %q cannot be a file name on this system", name)
	}
	return nil
}

// renamed is the n-th free-name candidate for name: a_1.txt, a_2.txt ...
func renamed(name string, n int) string {
	ext := filepath.Ext(name)
	if ext == name || strings.HasPrefix(ext, ". ") {
		ext = ""
	}
	return fmt.Sprintf("%s_%d%s", strings.TrimSuffix(name, ext), n, ext)
}

// maxRename caps the free-name search of Rename.
const maxRename = 10000

func isExist(err error) bool { return errors.Is(err, fs.ErrExist) }

// unwrapPathErr returns the error inside a PathError, for a caller that
// names the path itself.
func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// withFd runs fn on f's descriptor (handle on Windows).
func withFd(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

// openDest opens DIR, creating it (and its parents) when missing; how
// its path is followed is openDestDir's (per system).
func openDest(dir string, portable bool) (dirHandle, error) {
	d, err := openDestDir(dir, true, portable)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDestination, err)
	}
	return d, nil
}

// lookDest opens DIR if it exists, for a dry run: nil when it does not.
func lookDest(dir string, portable bool) (dirHandle, error) {
	d, err := openDestDir(dir, false, portable)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDestination, err)
	}
	return d, nil
}
