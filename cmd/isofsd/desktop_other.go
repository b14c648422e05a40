//go:build !linux

package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// open and desktop are built on freedesktop.org conventions and on the
// Linux mount lifecycle (automatic mountpoints); elsewhere they say so.
func linuxOnlyCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short + " (Linux only)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCode(exitUsage, fmt.Errorf("%s is not supported on %s", cmd.Name(), runtime.GOOS))
		},
	}
}

func newOpenCmd(a *app) *cobra.Command {
	return linuxOnlyCmd("open", "Mount an image at an automatic mountpoint and show it in the file manager")
}

func newDesktopCmd(a *app) *cobra.Command {
	return linuxOnlyCmd("desktop", "Integrate isofsd with the Linux desktop")
}
