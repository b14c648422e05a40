//go:build unix

package mounter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"time"

	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// EnvSocket overrides the default control socket (DefaultSocket) for
// every command, as DOCKER_HOST does for docker.
const EnvSocket = "ISOFSD_SOCKET"

// SocketName is the control socket's file name in its default directory.
const SocketName = "isofsd.sock"

// dialTimeout bounds connecting to the daemon: a socket that does not
// answer at once has no daemon behind it.
const dialTimeout = 2 * time.Second

// callTimeout bounds one request (a mount confirms within seconds).
const callTimeout = 2 * time.Minute

// Client errors callers branch on.
var (
	// ErrNoDaemon means no daemon answers on the socket.
	ErrNoDaemon = errors.New("no isofsd daemon")
	// ErrUntrustedSocket means the socket could be someone else's: its
	// directory or file belongs to another user, its directory is
	// writable by others, or another user's process answers on it.
	// Nothing is sent to such a socket.
	ErrUntrustedSocket = errors.New("untrusted control socket")
)

// PeerCred is who is at the other end of a unix socket, as the kernel
// says.
type PeerCred struct {
	UID, GID uint32
	PID      int
}

// DefaultSocket is the control socket path: $ISOFSD_SOCKET if set; else
// /run/isofsd/isofsd.sock for root; else $XDG_RUNTIME_DIR/isofsd.sock;
// else /run/user/UID/isofsd.sock when that directory is the user's own
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
		return filepath.Join("/run/isofsd", SocketName)
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

// trusted reports whether uid may run a daemon we talk to: ourselves or
// root.
func trusted(uid uint32) bool { return uid == 0 || uid == uint32(os.Geteuid()) }

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

// Client is a connection to a running daemon.
type Client struct {
	c  *net.UnixConn
	br *bufio.Reader
}

// Dial connects to the daemon at socket after CheckSocket, and checks
// that the process answering is ours or root's (SO_PEERCRED): a socket
// file can be made to look right, its peer cannot.
func Dial(socket string) (*Client, error) {
	if err := CheckSocket(socket); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %v", ErrNoDaemon, socket, err)
	}
	uc := c.(*net.UnixConn)
	cred, err := peerCred(uc)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("%w: %s: cannot tell who serves it: %v", ErrUntrustedSocket, socket, err)
	}
	if !trusted(cred.UID) {
		uc.Close()
		return nil, fmt.Errorf("%w: %s is served by uid %d (pid %d), not by you (uid %d) or root", ErrUntrustedSocket, socket, cred.UID, cred.PID, os.Geteuid())
	}
	return &Client{c: uc, br: bufio.NewReader(uc)}, nil
}

// Call sends one request and returns the response; a daemon's refusal is
// a *ctlproto.Error.
func (c *Client) Call(req *ctlproto.Request) (*ctlproto.Response, error) {
	c.c.SetDeadline(time.Now().Add(callTimeout))
	return ctlproto.Call(c.c, c.br, req)
}

// Close ends the connection.
func (c *Client) Close() error { return c.c.Close() }

// Call sends one request to the daemon at socket.
func Call(socket string, req *ctlproto.Request) (*ctlproto.Response, error) {
	c, err := Dial(socket)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Call(req)
}
