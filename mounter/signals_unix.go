//go:build unix

package mounter

import (
	"os"
	"syscall"
)

// StopSignals end a mount or the daemon.
var StopSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP}
