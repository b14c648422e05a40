//go:build windows

package mounter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// adminName names the accounts always trusted besides oneself.
const adminName = "SYSTEM"

// sioAFUnixGetPeerPID is SIO_AF_UNIX_GETPEERPID (_WSAIOR(IOC_VENDOR,
// 256)): the process id at the other end of an AF_UNIX connection.
const sioAFUnixGetPeerPID = 0x58000100

// DefaultSocket is the control socket path: %ISOFSD_SOCKET% if set; the
// service's (%ProgramData%\isofsd\isofsd.sock) when running as SYSTEM;
// else %LOCALAPPDATA%\isofsd\isofsd.sock, a directory only the user (and
// SYSTEM and the Administrators) may enter.
func DefaultSocket() string {
	if s := os.Getenv(EnvSocket); s != "" {
		return s
	}
	if self, err := currentSID(); err == nil && self.IsWellKnown(windows.WinLocalSystemSid) {
		return ServiceSocket()
	}
	dir, err := windows.KnownFolderPath(windows.FOLDERID_LocalAppData, 0)
	if err != nil {
		dir = os.Getenv("LOCALAPPDATA")
	}
	return filepath.Join(dir, "isofsd", SocketName)
}

// ServiceSocket is the socket of the daemon the Windows service runs.
func ServiceSocket() string {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil {
		dir = os.Getenv("ProgramData")
	}
	return filepath.Join(dir, "isofsd", SocketName)
}

// currentSID is the account this process runs as.
func currentSID() (*windows.SID, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, err
	}
	return u.User.Sid, nil
}

// socketOwner: the refusal of a connection says no more here.
func socketOwner(socket string) string { return "access denied" }

// CheckSocket checks, before anything is sent, that the socket's
// directory belongs to us, SYSTEM or the Administrators.
func CheckSocket(socket string) error {
	dir := filepath.Dir(socket)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w on %s", ErrNoDaemon, socket)
	}
	if _, err := os.Stat(socket); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w on %s", ErrNoDaemon, socket)
	}
	return checkDirOwner(dir)
}

// trustedPeer: ourselves and SYSTEM always; a daemon running as SYSTEM
// (the service) also serves the Administrators.
func trustedPeer(c PeerCred) (bool, string) {
	self, err := currentSID()
	if err != nil {
		return false, c.SID
	}
	if c.SID == self.String() || c.SID == "S-1-5-18" {
		return true, c.SID
	}
	return self.IsWellKnown(windows.WinLocalSystemSid) && c.UID == 0, c.SID
}

// peerCred asks Winsock for the peer's process id and reads that
// process's account from its token. UID is 0 when the account is an
// enabled member of the Administrators.
func peerCred(c *net.UnixConn) (PeerCred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return PeerCred{}, err
	}
	var pid, n uint32
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		ierr = windows.WSAIoctl(windows.Handle(fd), sioAFUnixGetPeerPID, nil, 0, (*byte)(unsafe.Pointer(&pid)), 4, &n, nil, 0)
	}); err != nil {
		return PeerCred{}, err
	}
	if ierr != nil {
		return PeerCred{}, ierr
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return PeerCred{}, err
	}
	defer windows.CloseHandle(h)
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return PeerCred{}, err
	}
	defer tok.Close()
	u, err := tok.GetTokenUser()
	if err != nil {
		return PeerCred{}, err
	}
	pc := PeerCred{SID: u.User.Sid.String(), PID: int(pid), UID: 1}
	if groups, err := tok.GetTokenGroups(); err == nil {
		for _, g := range groups.AllGroups() {
			if g.Sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) && g.Attributes&windows.SE_GROUP_ENABLED != 0 {
				pc.UID = 0
			}
		}
	}
	return pc, nil
}
