//go:build unix

package mounter

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// detach makes cmd a session leader that reports on descriptor 3.
func detach(cmd *exec.Cmd, ready *os.File) {
	cmd.Env = append(os.Environ(), EnvReadyFD+"=3")
	cmd.ExtraFiles = []*os.File{ready}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// readyFile opens the descriptor EnvReadyFD names.
func readyFile(s string) *os.File {
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return nil
	}
	return os.NewFile(uintptr(fd), "ready-pipe")
}
