//go:build linux

package safepath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinks caps the symbolic links one walk follows, as the kernel's
// MAXSYMLINKS (40) does.
const maxLinks = 40

// ErrUntrusted is wrapped by every refusal: an element belongs to a user
// the policy does not trust, or a directory lets others replace entries.
var ErrUntrusted = errors.New("untrusted path")

// Policy says which files and directories may be relied on.
type Policy struct {
	// Trusted reports whether what uid owns may be relied on.
	Trusted func(uid uint32) bool
	// GroupWrite accepts a directory its group may write to when it
	// belongs to the caller and to the caller's own group (the private
	// group of distributions whose users' umask is 002); any other
	// group-writable directory is refused.
	GroupWrite bool
	// Sticky accepts a directory everyone may write to when it has the
	// sticky bit (/tmp): there nobody renames or removes what is not
	// theirs, and the element below is checked like any other.
	Sticky bool
}

// Mine trusts the caller and root, as a user's own files: the policy for
// what a command does in its user's home.
func Mine() Policy {
	euid := uint32(os.Geteuid())
	return Policy{Trusted: func(uid uint32) bool { return uid == 0 || uid == euid }, GroupWrite: true, Sticky: true}
}

// RootOnly trusts root alone, and no directory others may write to
// except a sticky one (where nobody but root may rename or remove root's
// entries): the policy for a file every user relies on (a binary a
// system-wide entry or unit runs).
func RootOnly() Policy {
	return Policy{Trusted: func(uid uint32) bool { return uid == 0 }, Sticky: true}
}

// check refuses a directory or link the policy does not trust.
func (p Policy) check(st *unix.Stat_t, path string) error {
	if !p.Trusted(st.Uid) {
		return fmt.Errorf("%w: %s belongs to uid %d", ErrUntrusted, path, st.Uid)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	sticky := p.Sticky && st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o002 != 0 && !sticky {
		return fmt.Errorf("%w: %s is writable by everyone", ErrUntrusted, path)
	}
	private := p.GroupWrite && int(st.Uid) == os.Geteuid() && int(st.Gid) == os.Getegid()
	if st.Mode&0o020 != 0 && !sticky && !private {
		return fmt.Errorf("%w: %s is writable by its group (gid %d)", ErrUntrusted, path, st.Gid)
	}
	return nil
}

// Dir is a directory a walk reached, held open (O_PATH).
type Dir struct {
	f *os.File
	// path is where it really is (no symlinks).
	path string
}

// Fd is the directory's descriptor, for the *at system calls.
func (d *Dir) Fd() int { return int(d.f.Fd()) }

// Path is the directory's real path (no symlinks in it).
func (d *Dir) Path() string { return d.path }

// Close releases the directory.
func (d *Dir) Close() error { return d.f.Close() }

// ProcPath is a path naming name in this very directory, through its
// descriptor (/proc/self/fd/N/name), for functions that take paths: the
// kernel resolves /proc/self/fd/N to the directory held, whatever its
// path has become.
func (d *Dir) ProcPath(name string) string {
	return fmt.Sprintf("/proc/self/fd/%d/%s", d.f.Fd(), name)
}

// Open opens the regular file name in the directory for reading, never
// through a symbolic link.
func (d *Dir) Open(name string) (*os.File, error) {
	fd, err := unix.Openat(d.Fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Join(d.path, name), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(d.path, name))
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, f.Name())
	}
	return f, nil
}

// Lstat describes the entry name of the directory (a link as itself).
func (d *Dir) Lstat(name string) (os.FileInfo, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: filepath.Join(d.path, name), Err: err}
	}
	return os.Lstat(d.ProcPath(name))
}

// Remove removes the entry name of the directory — a file or link as
// itself, or an empty directory — as os.Remove does.
func (d *Dir) Remove(name string) error {
	err := unix.Unlinkat(d.Fd(), name, 0)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EPERM) {
		if rerr := unix.Unlinkat(d.Fd(), name, unix.AT_REMOVEDIR); rerr == nil || !errors.Is(rerr, unix.ENOTDIR) {
			err = rerr
		}
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: filepath.Join(d.path, name), Err: err}
	}
	return nil
}

// Options of a walk.
type Options struct {
	// FollowLast follows a symbolic link as the last element too
	// (under the same rule); otherwise the last element is returned as
	// it is, whatever it is or whether it exists.
	FollowLast bool
	// Create makes the missing directories of the path (not the last
	// element), 0755. Only elements of the path itself are made, never
	// one a symbolic link's target names (mkdir(2) does not follow a
	// dangling link either).
	Create bool
}

// step is one element still to walk: of the path given (whose prefix so
// far is lexical) or of a link's target.
type step struct {
	name    string
	lexical string // "" for elements of a link's target
}

// Walk resolves the absolute path and returns the directory that holds
// its last element, open, and that element's name; created lists the
// directories Create made, as the path names them, parents first. The
// directory is the caller's to Close.
func Walk(path string, p Policy, o Options) (dir *Dir, name string, created []string, err error) {
	dir, last, created, err := walk(path, p, o)
	return dir, last.name, created, err
}

// walk is Walk, returning the last step (whose lexical path is "" when
// it comes from a link's target).
func walk(path string, p Policy, o Options) (dir *Dir, lastStep step, created []string, err error) {
	if !filepath.IsAbs(path) {
		return nil, step{}, nil, fmt.Errorf("safepath: %q is not absolute", path)
	}
	path = filepath.Clean(path)
	if path == "/" {
		return nil, step{}, nil, fmt.Errorf("safepath: %q has no last element", path)
	}
	var todo []step
	lex := ""
	for _, e := range strings.Split(path[1:], "/") {
		lex += "/" + e
		todo = append(todo, step{e, lex})
	}
	cur, err := openRoot(p)
	if err != nil {
		return nil, step{}, nil, err
	}
	defer func() {
		if err != nil {
			cur.Close()
		}
	}()
	links := 0
	for len(todo) > 0 {
		s := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		switch s.name {
		case "", ".":
			if last {
				return nil, step{}, nil, fmt.Errorf("safepath: %s: ends in a directory", path)
			}
			continue
		case "..":
			if err := cur.enter(p, ".."); err != nil {
				return nil, step{}, nil, err
			}
			continue
		}
		var st unix.Stat_t
		serr := unix.Fstatat(cur.Fd(), s.name, &st, unix.AT_SYMLINK_NOFOLLOW)
		isLink := serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
		if last && (!isLink || !o.FollowLast) {
			return cur, s, created, nil
		}
		switch {
		case errors.Is(serr, unix.ENOENT) && o.Create && s.lexical != "":
			if err := unix.Mkdirat(cur.Fd(), s.name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, step{}, nil, fmt.Errorf("safepath: %s: %w", filepath.Join(cur.path, s.name), err)
			}
			created = append(created, s.lexical)
			if err := cur.enter(p, s.name); err != nil {
				return nil, step{}, nil, err
			}
		case serr != nil:
			return nil, step{}, nil, fmt.Errorf("safepath: %s: %w", filepath.Join(cur.path, s.name), serr)
		case isLink:
			at := filepath.Join(cur.path, s.name)
			if err := p.check(&st, at); err != nil {
				return nil, step{}, nil, fmt.Errorf("%w (a symbolic link)", err)
			}
			if links++; links > maxLinks {
				return nil, step{}, nil, fmt.Errorf("safepath: %s: %w", path, unix.ELOOP)
			}
			target, err := readlinkat(cur.Fd(), s.name)
			if err != nil {
				return nil, step{}, nil, fmt.Errorf("safepath: %s: %w", at, err)
			}
			var more []step
			for _, e := range strings.Split(target, "/") {
				more = append(more, step{name: e})
			}
			if last {
				// The link's target ends the walk: its last element is
				// the one returned (a link to a directory returns that
				// directory's parent and name).
				more = trimTrailing(more)
			}
			todo = append(more, todo...)
			if strings.HasPrefix(target, "/") {
				root, err := openRoot(p)
				if err != nil {
					return nil, step{}, nil, err
				}
				cur.Close()
				cur = root
			}
		default:
			if err := cur.enter(p, s.name); err != nil {
				return nil, step{}, nil, err
			}
		}
	}
	return nil, step{}, nil, fmt.Errorf("safepath: %s: nothing left to walk", path)
}

// trimTrailing drops the empty and "." elements at the end of a link's
// target (a target "dir/" names dir).
func trimTrailing(s []step) []step {
	for len(s) > 1 && (s[len(s)-1].name == "" || s[len(s)-1].name == ".") {
		s = s[:len(s)-1]
	}
	return s
}

// OpenDir walks to the directory path (following a link as its last
// element) and opens it, creating it and its parents with Create; created
// lists what was made, parents first.
func OpenDir(path string, p Policy, o Options) (*Dir, []string, error) {
	d, last, created, err := walk(path, p, Options{FollowLast: true, Create: o.Create})
	if err != nil {
		return nil, nil, err
	}
	if o.Create && last.lexical != "" {
		if err := unix.Mkdirat(d.Fd(), last.name, 0o755); err == nil {
			created = append(created, last.lexical)
		} else if !errors.Is(err, unix.EEXIST) {
			d.Close()
			return nil, nil, fmt.Errorf("safepath: %s: %w", filepath.Join(d.path, last.name), err)
		}
	}
	if err := d.enter(p, last.name); err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, created, nil
}

// CheckFile checks that path, followed to the file it names, is a
// regular file that it and every directory and link on the way are
// trusted, and that nobody else may write to it. It returns the file's
// real path.
func CheckFile(path string, p Policy) (string, error) {
	d, name, _, err := Walk(path, p, Options{FollowLast: true})
	if err != nil {
		return "", err
	}
	defer d.Close()
	real := filepath.Join(d.path, name)
	var st unix.Stat_t
	if err := unix.Fstatat(d.Fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", fmt.Errorf("safepath: %s: %w", real, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrUntrusted, real)
	}
	if err := p.check(&st, real); err != nil {
		return "", err
	}
	if st.Mode&0o022 != 0 {
		return "", fmt.Errorf("%w: %s may be written by others (mode %04o)", ErrUntrusted, real, st.Mode&0o7777)
	}
	return real, nil
}

// openRoot opens "/" as a walk's start.
func openRoot(p Policy) (*Dir, error) {
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("safepath: /: %w", err)
	}
	d := &Dir{f: os.NewFile(uintptr(fd), "/"), path: "/"}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		d.Close()
		return nil, fmt.Errorf("safepath: /: %w", err)
	}
	if err := p.check(&st, "/"); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// enter moves d to its entry name (a directory, never through a link),
// checked on the opened descriptor: what is checked is what is used.
func (d *Dir) enter(p Policy, name string) error {
	next := filepath.Join(d.path, name)
	fd, err := unix.Openat(d.Fd(), name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("safepath: %s: %w", next, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return fmt.Errorf("safepath: %s: %w", next, err)
	}
	if err := p.check(&st, next); err != nil {
		unix.Close(fd)
		return err
	}
	d.f.Close()
	d.f, d.path = os.NewFile(uintptr(fd), next), next
	return nil
}

// readlinkat reads the link name in the directory dirfd.
func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; size <= 1<<16; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
	return "", unix.ENAMETOOLONG
}
