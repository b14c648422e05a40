package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/isofsd/isofsd/internal/safepath"
)

// checkSystemBinary refuses to point a system-wide installation (a
// desktop entry for every user, a systemd unit run as root) at a binary
// anyone but root could replace: the binary, every directory above it
// and every link on the way must be root's and not writable by others.
// flag names the option that picks another binary.
func checkSystemBinary(bin, flag string) error {
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
