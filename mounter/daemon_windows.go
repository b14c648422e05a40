//go:build windows

package mounter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// makeSocketDir creates the socket's directory with a protected ACL that
// lets in only its creator, SYSTEM and the Administrators (connecting to
// an AF_UNIX socket needs write access to its file, which inherits this
// ACL), and refuses an existing one someone else owns.
func makeSocketDir(dir string) error {
	self, err := currentSID()
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		sd, err := windows.SecurityDescriptorFromString("O:" + self.String() + "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;" + self.String() + ")")
		if err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
		p, err := windows.UTF16PtrFromString(dir)
		if err != nil {
			return err
		}
		sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
		if err := windows.CreateDirectory(p, sa); err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
	}
	return checkDirOwner(dir)
}

// checkDirOwner refuses a directory owned by anyone but us, SYSTEM or the
// Administrators.
func checkDirOwner(dir string) error {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	self, err := currentSID()
	if err != nil {
		return err
	}
	if !owner.Equals(self) && !owner.IsWellKnown(windows.WinLocalSystemSid) && !owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) {
		return fmt.Errorf("%w: the directory %s belongs to %s, not to you or the Administrators", ErrUntrustedSocket, dir, owner)
	}
	return nil
}

// lockFile takes the daemon's lock without waiting.
func lockFile(f *os.File) error {
	var ol windows.Overlapped
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
}

// listenPrivate listens on sock; its directory's ACL keeps others out.
func listenPrivate(sock string) (*net.UnixListener, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

// rmdir removes dir only if it is an empty directory.
func rmdir(dir string) error {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	return windows.RemoveDirectory(p)
}
