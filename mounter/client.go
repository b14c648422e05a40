package mounter

import (
	"bufio"
	"errors"
	"fmt"
	"net"
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
	// ErrDaemonRefused means a daemon of yours or root's may serve the
	// socket but will not serve you: it turned you away (you are neither
	// its user nor root), or the system does not let you connect to the
	// socket or reach its directory. Its messages read "isofsd daemon on
	// SOCKET will not serve you: REASON".
	ErrDaemonRefused = errors.New("will not serve you")
)

// refused builds the one ErrDaemonRefused message.
func refused(socket, format string, args ...any) error {
	return fmt.Errorf("isofsd daemon on %s %w: %s", socket, ErrDaemonRefused, fmt.Sprintf(format, args...))
}

// PeerCred is who is at the other end of a unix socket, as the kernel
// says: a uid and gid on Unix, an account SID on Windows.
type PeerCred struct {
	UID, GID uint32
	SID      string
	PID      int
}

// Client is a connection to a running daemon.
type Client struct {
	c      *net.UnixConn
	br     *bufio.Reader
	socket string
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
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return nil, refused(socket, "connecting is not permitted (%s)", socketOwner(socket))
	}
	if err != nil {
		return nil, fmt.Errorf("%w on %s: %v", ErrNoDaemon, socket, err)
	}
	uc := c.(*net.UnixConn)
	cred, err := peerCred(uc)
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("%w: %s: cannot tell who serves it: %v", ErrUntrustedSocket, socket, err)
	}
	if ok, who := trustedPeer(cred); !ok {
		uc.Close()
		return nil, fmt.Errorf("%w: %s is served by %s (pid %d), not by you or %s", ErrUntrustedSocket, socket, who, cred.PID, adminName)
	}
	return &Client{c: uc, br: bufio.NewReader(uc), socket: socket}, nil
}

// Call sends one request and returns the response; a daemon's refusal of
// the request is a *ctlproto.Error, its refusal of the caller
// ErrDaemonRefused.
func (c *Client) Call(req *ctlproto.Request) (*ctlproto.Response, error) {
	c.c.SetDeadline(time.Now().Add(callTimeout))
	resp, err := ctlproto.Call(c.c, c.br, req)
	if err != nil && resp == nil {
		// A daemon that turns a peer away answers at once and hangs up:
		// our request then fails to go out (EPIPE) or its answer is
		// cut off (ECONNRESET), but the refusal is still there to read.
		c.c.SetReadDeadline(time.Now().Add(time.Second))
		if line, rerr := ctlproto.ReadLine(c.br, ctlproto.MaxMessage); rerr == nil {
			if r, derr := ctlproto.DecodeResponse(line); derr == nil && r.Error != nil {
				resp, err = r, r.Error
			}
		}
	}
	var pe *ctlproto.Error
	if errors.As(err, &pe) && pe.Code == ctlproto.CodePermission {
		return nil, refused(c.socket, "%s", pe.Message)
	}
	return resp, err
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
