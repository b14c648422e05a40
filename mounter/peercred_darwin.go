//go:build darwin

package mounter

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred returns the credentials of the process at the other end of c
// (LOCAL_PEERCRED and LOCAL_PEERPID: taken by the kernel at connect
// time, not claimed by the peer).
func peerCred(c *net.UnixConn) (PeerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var cred *unix.Xucred
	var pid int
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if cerr == nil {
			pid, _ = unix.GetsockoptInt(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERPID)
		}
	}); err != nil {
		return PeerCred{}, err
	}
	if cerr != nil {
		return PeerCred{}, cerr
	}
	pc := PeerCred{UID: cred.Uid, PID: pid}
	if cred.Ngroups > 0 {
		pc.GID = cred.Groups[0]
	}
	return pc, nil
}
