//go:build unix

package mounter

import (
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// makeSocketDir creates the socket's directory (0700) and refuses one
// that someone else owns or may write to (a pre-created /tmp/isofsd-UID,
// say), where they could swap the socket under clients.
func makeSocketDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Errorf("socket directory %s belongs to uid %d, not to us", dir, st.Uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("socket directory %s is writable by others", dir)
	}
	return nil
}

// lockFile takes the daemon's lock without waiting.
func lockFile(f *os.File) error { return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) }

// listenPrivate creates the socket with mode 0600 from the start: no
// window in which another user could connect.
func listenPrivate(sock string) (*net.UnixListener, error) {
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket %s: %w", sock, err)
	}
	return ln, nil
}

// rmdir removes dir only if it is an empty directory (never a file or a
// symlink).
func rmdir(dir string) error { return unix.Rmdir(dir) }
