//go:build linux

package automp

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxSuffix caps the "-N" suffixes tried when the name is taken.
const maxSuffix = 1000

// lockWait bounds the wait for another isofsd process making or removing
// a mountpoint in the same place (see Create). A place kept locked longer
// (someone who may read it holding the lock) is skipped.
const lockWait = 30 * time.Second

// RuntimeSubdir is the directory under $XDG_RUNTIME_DIR holding automatic
// mountpoints when /media/USER is not writable.
const RuntimeSubdir = "isofsd"

// Errors callers branch on.
var (
	// ErrNoPlace means no candidate parent directory could take a
	// mountpoint (see Config.Create for the reasons joined to it).
	ErrNoPlace = errors.New("automp: no place for an automatic mountpoint")
	// ErrUnsafe means a parent directory is a symlink, belongs to
	// someone else, or may be written by others.
	ErrUnsafe = errors.New("automp: unsafe directory")
	// ErrChanged means the mountpoint is no longer the directory Create
	// made (replaced, moved, or its parent swapped): it is left alone.
	ErrChanged = errors.New("automp: not the directory we created")
	// ErrNotEmpty means the mountpoint has entries (something was put in
	// it, or it is still mounted over): it is left alone.
	ErrNotEmpty = errors.New("automp: directory not empty")
)

// Config says where automatic mountpoints go.
type Config struct {
	// MediaDir is the parent of the per-user media directory ("/media").
	MediaDir string
	// User names the per-user media directory: MediaDir/User.
	User string
	// RuntimeDir is $XDG_RUNTIME_DIR ("" skips that place).
	RuntimeDir string
	// UID is the user the directories must belong to (the effective uid).
	UID int
}

// DefaultConfig is the configuration of the calling process: the user
// name from the password database (not $USER, which the environment can
// get wrong under sudo), /media and $XDG_RUNTIME_DIR.
func DefaultConfig() Config {
	c := Config{MediaDir: "/media", UID: os.Geteuid(), RuntimeDir: os.Getenv("XDG_RUNTIME_DIR")}
	if u, err := user.LookupId(strconv.Itoa(c.UID)); err == nil {
		c.User = u.Username
	}
	if !filepath.IsAbs(c.RuntimeDir) {
		c.RuntimeDir = ""
	}
	return c
}

// Dir is a mountpoint directory made by Create.
type Dir struct {
	// Path is the mountpoint.
	Path string
	// Parent and Name split Path.
	Parent, Name string
	// Reused says that Path was a leftover of an earlier automatic
	// mount (see Create), not made now.
	Reused   bool
	dev, ino uint64
	// reopen opens Parent again with the checks it was created with.
	reopen func() (int, error)
	// lock is the parent, open and locked from Create until Release.
	lock *os.File
}

// Create makes a directory for an image with volume label label (the
// image's path names it when the label is unusable): MediaDir/User/NAME
// when the user may create it there, else RuntimeDir/isofsd/NAME. NAME
// is Name(label, imagePath), with "-2", "-3"… appended while it is
// taken.
//
// A name is taken unless it is free or holds a leftover of an earlier
// automatic mount whose process died before removing it: a directory
// (not a symlink) owned by the user, mode 0700 as Create makes them,
// empty, and with nothing mounted on it. Such a directory is reused
// (Dir.Reused), so that a crash does not push later mounts to LABEL-2,
// LABEL-3… for ever; mounting on it hides nothing and Remove deletes
// only an empty directory. Anything else there — a file, a symlink,
// someone else's or a non-empty directory, a live or dead mount — is
// left alone.
//
// The place stays locked (flock on the parent) from the choice of the
// name until Release, so that two isofsd processes mounting images of
// the same label at once cannot both pick the one free or leftover
// directory: the caller releases it once the mount is up (or failed).
func (c Config) Create(label, imagePath string) (*Dir, error) {
	name := Name(label, imagePath)
	var errs []error
	for _, p := range c.places() {
		fd, err := p.open()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := lockDir(fd, p.path); err != nil {
			unix.Close(fd)
			errs = append(errs, err)
			continue
		}
		d, err := c.mkUnique(fd, p, name)
		if err == nil {
			d.lock = os.NewFile(uintptr(fd), p.path)
			return d, nil
		}
		unix.Close(fd)
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoPlace, errors.Join(errs...))
}

// lockDir takes the exclusive flock of the directory open on fd, waiting
// at most lockWait.
func lockDir(fd int, path string) error {
	deadline := time.Now().Add(lockWait)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("%s: lock: %w", path, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still locked by another process after %v", path, lockWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Release unlocks the place Create locked; the caller calls it once the
// mount is up or has failed. Remove releases too.
func (d *Dir) Release() {
	if d == nil || d.lock == nil {
		return
	}
	d.lock.Close() // closing the descriptor drops its flock
	d.lock = nil
}

// Create makes an automatic mountpoint with DefaultConfig.
func Create(label, imagePath string) (*Dir, error) { return DefaultConfig().Create(label, imagePath) }

// place is one candidate parent of automatic mountpoints.
type place struct {
	path string
	open func() (int, error)
}

// places lists the parents to try, in order.
func (c Config) places() []place {
	var out []place
	if c.MediaDir != "" && c.User != "" && Sanitize(c.User) == c.User {
		out = append(out, place{filepath.Join(c.MediaDir, c.User), c.openMedia})
	}
	if c.RuntimeDir != "" {
		out = append(out, place{filepath.Join(c.RuntimeDir, RuntimeSubdir), c.openRuntime})
	}
	return out
}

// openMedia opens MediaDir/User, creating it when MediaDir lets us
// (root, as udisks does). MediaDir is a system directory: it must belong
// to root and not be writable by others, and is opened as the system
// has it (it may be a symlink, to /run/media say); its User entry must
// not be a symlink.
func (c Config) openMedia() (int, error) {
	top, err := openDir(unix.AT_FDCWD, c.MediaDir, false)
	if err != nil {
		return -1, err
	}
	defer unix.Close(top)
	if err := c.checkDir(top, c.MediaDir, true); err != nil {
		return -1, err
	}
	fd, err := openDir(top, c.User, true)
	if errors.Is(err, unix.ENOENT) {
		// udisks makes MediaDir/USER 0700 (plus an ACL for the user); as
		// root we may make our own.
		if merr := unix.Mkdirat(top, c.User, 0o700); merr != nil && !errors.Is(merr, unix.EEXIST) {
			return -1, fmt.Errorf("%s: %w", filepath.Join(c.MediaDir, c.User), merr)
		}
		fd, err = openDir(top, c.User, true)
	}
	if err != nil {
		return -1, fmt.Errorf("%s: %w", filepath.Join(c.MediaDir, c.User), err)
	}
	if err := c.checkDir(fd, filepath.Join(c.MediaDir, c.User), true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openRuntime opens RuntimeDir/isofsd, creating it (0700). The runtime
// directory must be the user's own and private, as the XDG base
// directory specification requires; the subdirectory is never a symlink.
func (c Config) openRuntime() (int, error) {
	top, err := openDir(unix.AT_FDCWD, c.RuntimeDir, false)
	if err != nil {
		return -1, err
	}
	defer unix.Close(top)
	if err := c.checkDir(top, c.RuntimeDir, false); err != nil {
		return -1, err
	}
	if err := unix.Mkdirat(top, RuntimeSubdir, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("%s: %w", filepath.Join(c.RuntimeDir, RuntimeSubdir), err)
	}
	path := filepath.Join(c.RuntimeDir, RuntimeSubdir)
	fd, err := openDir(top, RuntimeSubdir, true)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.checkDir(fd, path, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openDir opens name relative to dirfd as a directory; with noFollow a
// symlink there is an error (ErrUnsafe) instead of being followed.
func openDir(dirfd int, name string, noFollow bool) (int, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if noFollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if err == nil {
		return fd, nil
	}
	if noFollow && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)) {
		var st unix.Stat_t
		if unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return -1, fmt.Errorf("%w: %s is a symbolic link", ErrUnsafe, name)
		}
	}
	return -1, fmt.Errorf("%s: %w", name, err)
}

// checkDir refuses a parent directory that others could use to swap our
// mountpoint: it must belong to us (or root, when rootOK) and must not
// be writable by others, unless the sticky bit keeps them from renaming
// our entries. Group write is accepted on a root-owned directory only
// through an access ACL that grants write to nobody but the user and
// root (the mode's group bits are then the ACL mask, which is how
// administrators grant one user write access to /media/USER).
func (c Config) checkDir(fd int, path string, rootOK bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if int(st.Uid) != c.UID && !(rootOK && st.Uid == 0) {
		return fmt.Errorf("%w: %s belongs to uid %d", ErrUnsafe, path, st.Uid)
	}
	sticky := st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o002 != 0 && !sticky {
		return fmt.Errorf("%w: %s is writable by everyone", ErrUnsafe, path)
	}
	if st.Mode&0o020 != 0 && !sticky {
		acl, err := accessACL(fd)
		if err != nil || acl == nil || st.Uid != 0 {
			return fmt.Errorf("%w: %s is writable by its group", ErrUnsafe, path)
		}
		who, err := aclOtherWriters(acl, c.UID)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnsafe, path, err)
		}
		if who != "" {
			return fmt.Errorf("%w: %s: its ACL lets %s write to it", ErrUnsafe, path, who)
		}
	}
	return nil
}

// accessACL reads the POSIX access ACL of the directory open on fd (nil
// when it has none).
func accessACL(fd int) ([]byte, error) {
	buf := make([]byte, aclHeader+maxACLEntries*aclEntrySize)
	n, err := unix.Fgetxattr(fd, "system.posix_acl_access", buf)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// mkUnique creates name (or name-2, name-3…) in the parent open on fd.
func (c Config) mkUnique(fd int, p place, name string) (*Dir, error) {
	for i := 1; i <= maxSuffix; i++ {
		cand := name
		if i > 1 {
			cand = name + "-" + strconv.Itoa(i)
		}
		err := unix.Mkdirat(fd, cand, 0o700)
		if errors.Is(err, unix.EEXIST) {
			if st, ok := c.leftover(fd, cand); ok {
				return &Dir{Path: filepath.Join(p.path, cand), Parent: p.path, Name: cand, Reused: true,
					dev: uint64(st.Dev), ino: st.Ino, reopen: p.open}, nil
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(p.path, cand), err)
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, cand, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(p.path, cand), err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != c.UID {
			unix.Unlinkat(fd, cand, unix.AT_REMOVEDIR)
			return nil, fmt.Errorf("%w: %s changed right after it was created", ErrUnsafe, filepath.Join(p.path, cand))
		}
		return &Dir{Path: filepath.Join(p.path, cand), Parent: p.path, Name: cand,
			dev: uint64(st.Dev), ino: st.Ino, reopen: p.open}, nil
	}
	return nil, fmt.Errorf("%s: no free name after %d tries", filepath.Join(p.path, name), maxSuffix)
}

// leftover reports whether the existing entry name in the parent open on
// fd is a directory an earlier automatic mount left (see Create), and
// returns its stat.
func (c Config) leftover(fd int, name string) (unix.Stat_t, bool) {
	var st, parent unix.Stat_t
	// O_NOFOLLOW: a symlink is never a leftover. A dead FUSE mount fails
	// here (ENOTCONN) and a live one of another user (EACCES).
	dfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, false
	}
	dir := os.NewFile(uintptr(dfd), name)
	defer dir.Close()
	if unix.Fstat(dfd, &st) != nil || unix.Fstat(fd, &parent) != nil {
		return st, false
	}
	if int(st.Uid) != c.UID || st.Mode&0o7777 != 0o700 || st.Dev != parent.Dev {
		return st, false
	}
	// A bind mount of the same file system keeps the device number: the
	// kernel says whether the directory is the root of a mount.
	var sx unix.Statx_t
	if err := unix.Statx(dfd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &sx); err != nil ||
		sx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 || sx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return st, false
	}
	if names, err := dir.Readdirnames(1); len(names) > 0 || (err != nil && !errors.Is(err, io.EOF)) {
		return st, false
	}
	return st, true
}

// Remove deletes the directory once it is unmounted: only if its parent
// is reached the way Create reached it, the entry is still the directory
// Create made, and it is empty. A directory already gone, or mounted on
// again (another mount of the same label reused it; that mount removes
// it), is not an error. Remove releases the place's lock.
func (d *Dir) Remove() error {
	if d == nil || d.reopen == nil {
		return nil
	}
	defer d.Release()
	fd, err := d.reopen()
	if err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	defer unix.Close(fd)
	if d.lock == nil {
		// Not between Create and Release: wait for anyone choosing a
		// mountpoint here, who might be about to reuse this one.
		if err := lockDir(fd, d.Parent); err != nil {
			return fmt.Errorf("%s: %w", d.Path, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd, d.Name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || uint64(st.Dev) != d.dev || st.Ino != d.ino {
		return fmt.Errorf("%w: %s", ErrChanged, d.Path)
	}
	if err := unix.Unlinkat(fd, d.Name, unix.AT_REMOVEDIR); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return nil
		}
		if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %s", ErrNotEmpty, d.Path)
		}
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	return nil
}
