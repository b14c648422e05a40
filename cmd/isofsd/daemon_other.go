//go:build !linux

package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// The daemon needs Linux (SO_PEERCRED, inotify, /proc/self/mountinfo);
// elsewhere its subcommands exist and say so.
func unsupportedCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short + " (Linux only)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCode(exitUsage, fmt.Errorf("%s: the isofsd daemon is not supported on %s", cmd.Name(), runtime.GOOS))
		},
	}
}

func newDaemonCmd(a *app) *cobra.Command {
	return unsupportedCmd("daemon", "Run the long-lived daemon serving many mounts")
}

func newListCmd(a *app) *cobra.Command {
	return unsupportedCmd("list", "List the mounts served by the isofsd daemon")
}

func newStatusCmd(a *app) *cobra.Command {
	return unsupportedCmd("status", "Report whether the isofsd daemon runs")
}
