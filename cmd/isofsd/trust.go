package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/isofsd/isofsd/internal/safepath"
)

// checkSystemBinary refuses to point a system-wide installation (a
// desktop entry for every user, a systemd unit run as root) at a binary
// anyone but root could replace: the binary, every directory above it
// and every link on the way must be root's and not writable by others.
// flag names the option that picks another binary.
func checkSystemBinary(bin, flag string) error {
	if runtime.GOOS == "windows" {
		// The Windows service runs as LocalSystem. Reading the ACLs of
		// every directory on the way is what the Unix check does with
		// owners and modes; on Windows the folders whose default ACL lets
		// only Administrators create or change anything below them are
		// the Program Files folders (not the Windows folder: Users may
		// create files in Windows\Temp, Tasks, tracing...), so the binary
		// must live below one of them.
		roots := []string{os.Getenv("ProgramFiles"), os.Getenv("ProgramW6432"), os.Getenv("ProgramFiles(x86)")}
		if !underWindowsDir(bin, roots) {
			return withCode(exitUsage, fmt.Errorf("%s: the service runs it as LocalSystem, so only Administrators may be able to change it, and that holds below Program Files; copy it to %s\\isofsd\\isofsd.exe and pass %s with that path", bin, os.Getenv("ProgramFiles"), flag))
		}
		return nil
	}
	if runtime.GOOS != "linux" {
		return nil // systemd units and freedesktop entries are Linux's
	}
	if _, err := safepath.CheckFile(bin, safepath.RootOnly()); err != nil {
		return withCode(exitUsage, fmt.Errorf("%s: a system-wide installation runs it for every user, so only root may be able to change it, but %w; install it where only root can change it (install -m755 %s /usr/local/bin/isofsd) and pass %s /usr/local/bin/isofsd", bin, err, bin, flag))
	}
	return nil
}

// installBinary is the absolute path of the binary an installation points
// at: the --binary flag's value, else this running executable.
func installBinary(binary string) (string, error) {
	if binary == "" {
		self, err := os.Executable()
		if err != nil {
			return "", withCode(exitInternal, fmt.Errorf("finding this executable: %w", err))
		}
		binary = self
	}
	bin, err := filepath.Abs(binary)
	if err != nil {
		return "", withCode(exitUsage, fmt.Errorf("--binary %s: %w", binary, err))
	}
	return bin, nil
}

// underWindowsDir reports whether the Windows path bin lies strictly
// below one of roots (empty roots ignored), compared as Windows does:
// case-insensitively, "/" read as "\\", "." and ".." elements resolved.
// Pure string work, so that it is tested on every system.
func underWindowsDir(bin string, roots []string) bool {
	b := cleanWindowsPath(bin)
	if b == "" {
		return false
	}
	for _, r := range roots {
		if r = cleanWindowsPath(r); r != "" && len(b) > len(r)+1 && strings.EqualFold(b[:len(r)+1], r+`\`) {
			return true
		}
	}
	return false
}

// cleanWindowsPath returns the absolute drive path p (C:\...) with "/" as
// "\\", no empty, "." or ".." elements and no trailing separator, or ""
// when p is not such a path (relative, UNC, device namespace, or ".."
// above the drive's root).
func cleanWindowsPath(p string) string {
	p = strings.ReplaceAll(p, "/", `\`)
	if len(p) < 3 || p[1] != ':' || p[2] != '\\' || !('a' <= p[0]|32 && p[0]|32 <= 'z') {
		return ""
	}
	var out []string
	for _, e := range strings.Split(p[3:], `\`) {
		switch e {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return ""
			}
			out = out[:len(out)-1]
		default:
			out = append(out, e)
		}
	}
	return strings.Join(append([]string{p[:2]}, out...), `\`)
}
