//go:build linux

package mounter

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred returns the credentials of the process at the other end of c
// (SO_PEERCRED: taken by the kernel at connect/listen time, not claimed
// by the peer).
func peerCred(c *net.UnixConn) (PeerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return PeerCred{}, err
	}
	if cerr != nil {
		return PeerCred{}, cerr
	}
	return PeerCred{UID: cred.Uid, GID: cred.Gid, PID: int(cred.Pid)}, nil
}
