//go:build linux

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/desktop"
)

func newOpenCmd(a *app) *cobra.Command {
	var f mountFlags
	cmd := &cobra.Command{
		Use:   "open [flags] IMAGE|URL",
		Short: "Mount an image at an automatic mountpoint and show it in the file manager",
		Long: `Mount IMAGE read-only at an automatic mountpoint (as "isofsd mount IMAGE" does:
/media/$USER/LABEL, else $XDG_RUNTIME_DIR/isofsd/LABEL; through the isofsd
daemon when one runs), print the mountpoint and open it in the desktop's file
manager (gio open, else xdg-open). An image mounted already is just shown.
This is what a double-click on an image runs once "isofsd desktop install"
has made isofsd its handler. Unmount it from the file manager (eject) or with
"isofsd unmount"; the mountpoint is removed then.`,
		Args:        cobra.ExactArgs(1),
		Annotations: notifyAnnotation,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.foreground {
				return withCode(exitUsage, fmt.Errorf("open: --foreground makes no sense here (use mount -f)"))
			}
			var mp string
			var fresh bool
			err := runMount(cmd.Context(), a, &f, args[0], "", childMountArgs(cmd, args[0]), func(m string, isNew bool) {
				mp, fresh = m, isNew
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), mp)
			a.succeeded(mountedNotice(args[0], mp, fresh))
			if err := desktop.OpenFolder(mp); err != nil {
				return withCode(exitDamaged, fmt.Errorf("%s is mounted at %s, but the file manager did not start: %w", args[0], mp, err))
			}
			return nil
		},
	}
	addMountFlags(cmd, &f)
	return cmd
}

// childMountArgs is the command line of the daemon child that serves the
// mount of `isofsd open`: `isofsd mount` with the flags given to open
// (open itself must not run again in the child).
func childMountArgs(cmd *cobra.Command, image string) []string {
	args := []string{"mount"}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+fl.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+fl.Name+"="+fl.Value.String())
	})
	return append(args, "--", image)
}
