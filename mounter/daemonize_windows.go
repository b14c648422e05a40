//go:build windows

package mounter

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/windows"
)

// detach starts cmd without a console, in its own process group, so that
// it outlives the console `isofsd mount` ran in; it inherits only the
// ready pipe, whose handle EnvReadyFD names.
func detach(cmd *exec.Cmd, ready *os.File) {
	h := syscall.Handle(ready.Fd())
	cmd.Env = append(os.Environ(), EnvReadyFD+"="+strconv.FormatUint(uint64(h), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags:              windows.DETACHED_PROCESS | windows.CREATE_NEW_PROCESS_GROUP,
		HideWindow:                 true,
		AdditionalInheritedHandles: []syscall.Handle{h},
	}
}

// readyFile opens the handle EnvReadyFD names.
func readyFile(s string) *os.File {
	h, err := strconv.ParseUint(s, 10, 64)
	if err != nil || h == 0 {
		return nil
	}
	return os.NewFile(uintptr(h), "ready-pipe")
}
