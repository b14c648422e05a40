//go:build windows

package mounter

import (
	"os"
	"syscall"
)

// StopSignals end a mount or the daemon: Ctrl-C and Ctrl-Break
// (os.Interrupt), and the console's close, logoff and shutdown events,
// which Go delivers as SIGTERM.
var StopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}
