//go:build unix

package extract

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// maxDestHops caps the symlinks followed on the way to DIR (the kernel's
// own limit is 40).
const maxDestHops = 40

// errUntrustedLink is why a symlink on the way to DIR is not followed.
var errUntrustedLink = errors.New("not followed")

// openDestDir opens DIR: resolveDest walks to it, and the writer works on
// the directory found.
func openDestDir(dir string, create, portable bool) (dirHandle, error) {
	fd, p, err := resolveDest(dir, create, unix.Geteuid())
	if err != nil {
		return nil, err
	}
	return systemDest(fd, p, portable)
}

// resolveDest opens DIR one component at a time, each with O_NOFOLLOW,
// creating missing ones when create is set, and returns the open
// directory and its path without symlinks. A symlink on the way is
// followed only when it belongs to the caller or to root and has one
// name: DIR may well lie in a directory others can write (/tmp), where
// another user could plant "/tmp/out -> /etc" for root's `-C /tmp/out`
// (fs.protected_symlinks, which stops that in sticky directories, is a
// setting, and off on some systems). Its owner is read from the symlink
// itself, its target read, and the symlink checked again to be the same
// one, so a swap in between is caught. A relative DIR starts in the
// working directory, which the caller chose.
//
// internal/safepath walks paths for root the same way but trusts a
// directory only when others cannot write to it, and is absolute and
// Linux-only: DIR is the user's choice, may be relative, may sit in a
// group-writable project directory, and extract runs on every Unix —
// what must not be followed here are others' symlinks, not directories.
func resolveDest(dir string, create bool, euid int) (fd int, real string, err error) {
	if dir == "" {
		return -1, "", errors.New("empty directory name")
	}
	abs := strings.HasPrefix(dir, "/")
	var stack []string // the path so far, physical: no symlinks, ".." only leading
	start := "."
	if abs {
		start = "/"
	}
	if fd, err = unix.Open(start, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return -1, "", &fs.PathError{Op: "open", Path: start, Err: err}
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	shown := func(name string) string {
		p := path.Join(append(append([]string{start}, stack...), name)...)
		return p
	}
	rest := splitPath(dir)
	hops, mkdirs := 0, 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		nfd, oerr := openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case oerr == nil:
			unix.Close(fd)
			fd = nfd
			if c != ".." {
				stack = append(stack, c)
			} else if len(stack) > 0 && stack[len(stack)-1] != ".." {
				stack = stack[:len(stack)-1]
			} else if !abs {
				stack = append(stack, "..")
			}
			continue
		case errors.Is(oerr, unix.ENOENT) && create && mkdirs < 1000:
			// Created, then opened like any other component; should
			// another user put something else there in between, that
			// is checked as anything met would be.
			mkdirs++
			if merr := unix.Mkdirat(fd, c, 0o755); merr != nil && !errors.Is(merr, unix.EEXIST) {
				return -1, "", &fs.PathError{Op: "mkdir", Path: shown(c), Err: merr}
			}
			rest = append([]string{c}, rest...)
			continue
		case !errors.Is(oerr, unix.ELOOP) && !errors.Is(oerr, unix.ENOTDIR):
			return -1, "", &fs.PathError{Op: "open", Path: shown(c), Err: unwrapPathErr(oerr)}
		}
		target, lerr := trustedLink(fd, c, euid)
		if lerr != nil {
			return -1, "", fmt.Errorf("%s: %w", shown(c), lerr)
		}
		if hops++; hops > maxDestHops {
			return -1, "", &fs.PathError{Op: "open", Path: dir, Err: unix.ELOOP}
		}
		if strings.HasPrefix(target, "/") {
			nfd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return -1, "", &fs.PathError{Op: "open", Path: "/", Err: err}
			}
			unix.Close(fd)
			fd, stack, abs, start = nfd, nil, true, "/"
		}
		rest = append(splitPath(target), rest...)
	}
	real = path.Join(append([]string{start}, stack...)...)
	return fd, real, nil
}

// trustedLink returns the target of the symlink name in dfd if it may be
// followed: owned by euid or root, one name (a hard link to someone
// else's symlink would carry its owner), the same symlink before and
// after its target is read. Anything else that is not a directory is an
// error saying what it is.
func trustedLink(dfd int, name string, euid int) (string, error) {
	var st, again unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", err
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFLNK:
		return "", errors.New("not a directory")
	case int(st.Uid) != euid && st.Uid != 0:
		return "", fmt.Errorf("a symlink owned by uid %d, neither yours nor root's: %w (give the directory's own path)", st.Uid, errUntrustedLink)
	case uint64(st.Nlink) != 1:
		return "", fmt.Errorf("a symlink with %d names (hard links): %w (give the directory's own path)", st.Nlink, errUntrustedLink)
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		if len(buf) >= 1<<16 {
			return "", errors.New("symlink target too long")
		}
		buf = make([]byte, 2*len(buf))
	}
	if err := unix.Fstatat(dfd, name, &again, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", err
	}
	if again.Dev != st.Dev || again.Ino != st.Ino || again.Uid != st.Uid || uint64(again.Nlink) != 1 {
		return "", errReplaced
	}
	if len(buf) == 0 {
		return "", errors.New("empty symlink")
	}
	return string(buf), nil
}

// splitPath splits a path into its elements, leaving out empty ones and
// ".".
func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// rootAt opens the portable writer on the directory resolveDest opened:
// os.Root takes a path, so the path found is opened and checked to be
// that very directory (a component swapped for a symlink since would
// lead elsewhere).
func rootAt(fd int, p string) (dirHandle, error) {
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	want, err := f.Stat()
	if err != nil {
		return nil, err
	}
	d, err := openRootDest(p)
	if err != nil {
		return nil, err
	}
	if !os.SameFile(want, d.(*rootDir).fi) {
		d.close()
		return nil, fmt.Errorf("%s: %w", p, errReplaced)
	}
	return d, nil
}

// openat retries on EINTR (a signal during an open on a slow file
// system) and names the entry in its error.
func openat(dfd int, name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, flags, perm)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, pathErr("openat", name, err)
	}
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}
