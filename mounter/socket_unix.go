//go:build unix

package mounter

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"syscall"
)

// DefaultSocket is the control socket path: $ISOFSD_SOCKET if set; else
// /run/isofsd/isofsd.sock for root (/var/run on macOS); else
// $XDG_RUNTIME_DIR/isofsd.sock; else /run/user/UID/isofsd.sock when that directory is the user's own
// and private; else $XDG_STATE_HOME/isofsd/isofsd.sock (by default
// ~/.local/state/isofsd/isofsd.sock). Never a world-writable directory
// such as /tmp: another user could create the directory first and
// receive every request (su, cron and ssh without logind leave
// XDG_RUNTIME_DIR unset).
func DefaultSocket() string {
	if s := os.Getenv(EnvSocket); s != "" {
		return s
	}
	euid := os.Geteuid()
	if euid == 0 {
		return ServiceSocket()
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, SocketName)
	}
	run := fmt.Sprintf("/run/user/%d", euid)
	if st, err := os.Stat(run); err == nil && st.IsDir() && st.Mode().Perm()&0o077 == 0 && fileUID(st) == uint32(euid) {
		return filepath.Join(run, SocketName)
	}
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home := os.Getenv("HOME")
		if home == "" {
			if u, err := user.Current(); err == nil {
				home = u.HomeDir
			}
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "isofsd", SocketName)
}

// fileUID is the owner of the file st describes.
func fileUID(st os.FileInfo) uint32 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Uid
	}
	return ^uint32(0)
}

// trusted reports whether uid may run a daemon we talk to, or talk to
// our daemon: ourselves or root.
func trusted(uid uint32) bool { return uid == 0 || uid == uint32(os.Geteuid()) }

// adminName names the account always trusted besides oneself.
const adminName = "root"

// trustedPeer reports whether the peer is ourselves or root, and names
// it.
func trustedPeer(c PeerCred) (bool, string) { return trusted(c.UID), fmt.Sprintf("uid %d", c.UID) }

// CheckSocket checks, before anything is sent, that socket can only be
// ours or root's: its directory belongs to us or root and only they may
// write to it — or, in a shared sticky directory such as /tmp, the
// socket file itself is ours or root's. A missing socket is ErrNoDaemon.
func CheckSocket(socket string) error {
	dir := filepath.Dir(socket)
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w on %s", ErrNoDaemon, socket)
	}
	if errors.Is(err, os.ErrPermission) {
		return refused(socket, "its directory cannot be reached (%v)", err)
	}
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if uid := fileUID(st); !trusted(uid) {
		return fmt.Errorf("%w: the directory %s of %s belongs to uid %d, not to you (uid %d) or root", ErrUntrustedSocket, dir, socket, uid, os.Geteuid())
	}
	if st.Mode().Perm()&0o022 != 0 {
		if st.Mode()&os.ModeSticky == 0 {
			return fmt.Errorf("%w: the directory %s of %s is writable by others", ErrUntrustedSocket, dir, socket)
		}
		lst, err := os.Lstat(socket)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w on %s", ErrNoDaemon, socket)
		}
		if err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
		if uid := fileUID(lst); !trusted(uid) {
			return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d) or root", ErrUntrustedSocket, socket, uid, os.Geteuid())
		}
	}
	return nil
}

// socketOwner says whose the socket file is, for a refused connection.
func socketOwner(socket string) string {
	st, err := os.Lstat(socket)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("the socket belongs to uid %d, mode %04o; you are uid %d", fileUID(st), st.Mode().Perm(), os.Geteuid())
}

// ServiceSocket is the socket of the system-wide daemon (root's).
func ServiceSocket() string {
	if runtime.GOOS == "darwin" {
		return filepath.Join("/var/run/isofsd", SocketName)
	}
	return filepath.Join("/run/isofsd", SocketName)
}
