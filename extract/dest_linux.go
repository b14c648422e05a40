package extract

// The Linux writer: directory file descriptors and *at calls, which can
// do what os.Root cannot — FIFOs and device nodes, the owner and times of
// a symlink, a no-replace rename — and set metadata without a name
// lookup: on the descriptor of a file just created, or on an O_PATH
// descriptor opened with O_NOFOLLOW and checked to be the object this
// process just created. It does the common operations too, on raw
// descriptors: the os.Root writer took twice the CPU time per file (an
// *os.File, a poller registration attempt and path handling per file;
// figures in README.md, bench), and extracting many small files is the
// project's speed target.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// devIno identifies a file on Linux.
type devIno struct{ dev, ino uint64 }

type linuxDir struct {
	fd   int
	st   unix.Stat_t
	euid int
}

// systemDest is the writer on DIR, opened as fd at path p: the *at
// writer, or the portable one when asked.
func systemDest(fd int, p string, portable bool) (dirHandle, error) {
	if portable {
		return rootAt(fd, p)
	}
	return newLinuxDir(fd, unix.Geteuid())
}

func newLinuxDir(fd, euid int) (*linuxDir, error) {
	d := &linuxDir{fd: fd, euid: euid}
	if err := unix.Fstat(fd, &d.st); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return d, nil
}

func (d *linuxDir) openDir(name string) (dirHandle, error) {
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			if typ, _, serr := d.lstat(name); serr == nil {
				return nil, notDir(name, typ)
			}
		}
		return nil, err
	}
	return newLinuxDir(fd, d.euid)
}

func (d *linuxDir) id() fileID { return devIno{d.st.Dev, d.st.Ino} }

func (d *linuxDir) mkdir(name string) error {
	return pathErr("mkdirat", name, unix.Mkdirat(d.fd, name, 0o700))
}

func (d *linuxDir) lstat(name string) (fs.FileMode, fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, nil, pathErr("fstatat", name, err)
	}
	return typeOf(st.Mode), devIno{st.Dev, st.Ino}, nil
}

// typeOf converts the type bits of st_mode.
func typeOf(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFLNK:
		return fs.ModeSymlink
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return 0
}

// unixMode converts permission and set-id/sticky bits for chmod(2).
func unixMode(m fs.FileMode) uint32 {
	perm := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		perm |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		perm |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		perm |= unix.S_ISVTX
	}
	return perm
}

func (d *linuxDir) create(name string, perm fs.FileMode) (outFile, error) {
	fd, err := openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, err
	}
	return &linuxFile{fd}, nil
}

func (d *linuxDir) symlink(target, name string) error {
	return pathErr("symlinkat", name, unix.Symlinkat(target, d.fd, name))
}

func (d *linuxDir) mknod(name string, typ, perm fs.FileMode, major, minor uint32) error {
	var t uint32
	switch typ {
	case fs.ModeNamedPipe:
		t = unix.S_IFIFO
	case fs.ModeDevice:
		t = unix.S_IFBLK
	case fs.ModeDevice | fs.ModeCharDevice:
		t = unix.S_IFCHR
	default:
		return errNotHere
	}
	return pathErr("mknodat", name, unix.Mknodat(d.fd, name, t|uint32(perm.Perm()), int(unix.Mkdev(major, minor))))
}

func (d *linuxDir) link(src dirHandle, srcName string, want fileID, name string) error {
	s, ok := src.(*linuxDir)
	if !ok {
		return fmt.Errorf("link across writers")
	}
	// flags 0: linkat never follows a symlink at srcName. Should another
	// process have put something else there, the check undoes the link;
	// nothing is ever set on a link, so nothing else can go wrong.
	if err := unix.Linkat(s.fd, srcName, d.fd, name, 0); err != nil {
		return pathErr("linkat", name, err)
	}
	if _, got, err := d.lstat(name); err != nil || got != want {
		unix.Unlinkat(d.fd, name, 0)
		return fmt.Errorf("%s: %w", srcName, errReplaced)
	}
	return nil
}

func (d *linuxDir) remove(name string) error {
	err := unix.Unlinkat(d.fd, name, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	}
	return pathErr("unlinkat", name, err)
}

func (d *linuxDir) rename(from, to string, replace bool) error {
	if replace {
		return pathErr("renameat", to, unix.Renameat(d.fd, from, d.fd, to))
	}
	err := unix.Renameat2(d.fd, from, d.fd, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// A file system without RENAME_NOREPLACE: check, then rename.
		if _, _, serr := d.lstat(to); serr == nil {
			return pathErr("renameat", to, unix.EEXIST)
		}
		err = unix.Renameat(d.fd, from, d.fd, to)
	}
	return pathErr("renameat", to, err)
}

// setMeta opens name with O_PATH|O_NOFOLLOW — a symlink is opened as
// itself, a device is not opened at all — checks that it is what this
// process just created (its type, owned by us, one link), then sets the
// metadata through that descriptor. Between the creation and the open
// another user who can write the directory may swap the name; then the
// check fails and nothing is set.
func (d *linuxDir) setMeta(name string, typ fs.FileMode, m meta) error {
	fd, err := openat(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if typeOf(st.Mode) != typ || int(st.Uid) != d.euid || st.Nlink != 1 {
		return fmt.Errorf("%s: %w", name, errReplaced)
	}
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	if m.owner && (int(st.Uid) != m.uid || int(st.Gid) != m.gid) {
		if err := unix.Fchownat(fd, "", m.uid, m.gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if m.chmod && typ != fs.ModeSymlink {
		// fchmodat2 (Linux 6.6) takes the O_PATH descriptor; before it,
		// /proc/self/fd/N leads to the very inode, as glibc's lchmod does
		// (the object is no symlink, so nothing is followed beyond it).
		err := unix.Fchmodat(fd, "", unixMode(m.perm), unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
			err = unix.Fchmodat(unix.AT_FDCWD, proc, unixMode(m.perm), 0)
		}
		if err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if m.times {
		ts := timespecs(m)
		err := unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			// Kernels before AT_EMPTY_PATH in utimensat: through /proc
			// for what is no symlink; a symlink keeps the current time.
			err = nil
			if typ != fs.ModeSymlink {
				err = unix.UtimesNanoAt(unix.AT_FDCWD, proc, ts, 0)
			}
		}
		if err != nil {
			return fmt.Errorf("setting times: %w", err)
		}
	}
	return nil
}

func (d *linuxDir) setDirMeta(m meta) error { return fdMeta(d.fd, &d.st, m) }

func (d *linuxDir) close() error { return unix.Close(d.fd) }

func (d *linuxDir) names() ([]string, error) {
	fd, err := openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeStale opens name without following it and without blocking on a
// FIFO, checks the open file (regular, ours, one name), takes its lock —
// which a live run writing it holds — and removes the name only if it
// still leads to that file.
func (d *linuxDir) removeStale(name string) (bool, error) {
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	var st, now unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != d.euid || st.Nlink != 1 {
		return false, nil
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return false, nil // in use, or no locks here: left alone
	}
	if err := unix.Fstatat(d.fd, name, &now, unix.AT_SYMLINK_NOFOLLOW); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		return false, err
	}
	return true, pathErr("unlinkat", name, unix.Unlinkat(d.fd, name, 0))
}

// fdMeta sets owner, mode and times through an open descriptor; st,
// when not nil, is its stat (else it is read when an owner is to be set,
// to skip a chown to the ids it has).
func fdMeta(fd int, st *unix.Stat_t, m meta) error {
	if m.owner {
		if st == nil {
			st = new(unix.Stat_t)
			if err := unix.Fstat(fd, st); err != nil {
				return err
			}
		}
		if int(st.Uid) != m.uid || int(st.Gid) != m.gid {
			if err := unix.Fchown(fd, m.uid, m.gid); err != nil {
				return fmt.Errorf("chown: %w", err)
			}
		}
	}
	if m.chmod {
		if err := unix.Fchmod(fd, unixMode(m.perm)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if m.times {
		if err := futimens(fd, timespecs(m)); err != nil {
			return fmt.Errorf("setting times: %w", err)
		}
	}
	return nil
}

func timespecs(m meta) []unix.Timespec {
	return []unix.Timespec{unix.NsecToTimespec(m.atime), unix.NsecToTimespec(m.mtime)}
}

// futimens sets the times of an open file: utimensat(fd, NULL, ...), which
// x/sys/unix does not wrap; it saves a path lookup per file and works on
// every kernel (AT_EMPTY_PATH came later).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// linuxFile is a regular file being written through its descriptor.
type linuxFile struct{ fd int }

func (f *linuxFile) WriteAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n, err := unix.Pwrite(f.fd, b[done:], off+int64(done))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}

func (f *linuxFile) truncate(size int64) error { return unix.Ftruncate(f.fd, size) }
func (f *linuxFile) setMeta(m meta) error      { return fdMeta(f.fd, nil, m) }
func (f *linuxFile) close() error              { return unix.Close(f.fd) }

// lockTemp: flock(2), dropped by the kernel when the process dies.
// Where there are no locks the file stays unlocked; removeStale then
// cannot lock it either and leaves it.
func (f *linuxFile) lockTemp() { unix.Flock(f.fd, unix.LOCK_EX|unix.LOCK_NB) }

func (f *linuxFile) id() (fileID, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, err
	}
	return devIno{st.Dev, st.Ino}, nil
}

// processUmask reads the umask (setting it back at once): files are
// created with their final permissions and chmod is called only where
// the umask removed bits. It runs before any worker creates a file.
func processUmask() (fs.FileMode, bool) {
	u := unix.Umask(0o022)
	unix.Umask(u)
	return fs.FileMode(u), true
}
