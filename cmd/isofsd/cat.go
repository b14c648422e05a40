package main

// `isofsd cat`: files of an image to stdout, through extract.Stream (the
// code behind extract -O).

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/extract"
)

func newCatCmd(a *app) *cobra.Command {
	var sf sourceFlags
	var tree string
	cmd := &cobra.Command{
		Use:   "cat IMAGE PATH...",
		Short: "Write files of an image to stdout",
		Long: `cat writes the contents of each PATH of IMAGE to stdout, one after the
other (like isoinfo -x, 7z e -so or bsdtar -xOf). A PATH is taken as
written (no wildcards) and symlinks on it are followed inside the image.
Every PATH is checked before anything is written. A file that cannot be
read to its end is written up to the damage and reported with its sector;
the next PATH follows.

Exit status: 0 ok, 1 a file or the image is damaged, 2 usage, a PATH not
found, a directory, or without content (a FIFO, device or socket, a
symlink leading nowhere), or the image cannot be opened.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], tree)
			if err != nil {
				return err
			}
			defer closeImg()
			rep := &reporter{w: cmd.ErrOrStderr(), what: "cat: " + args[0]}
			var pats []string
			for _, p := range args[1:] {
				if fi, err := img.Stat(extract.CleanPath(p)); err == nil && fi.IsDir() {
					return withCode(exitUsage, fmt.Errorf("cat: %s: %s is a directory", args[0], termSafe(p)))
				}
				pats = append(pats, extract.LiteralPattern(p))
			}
			// Every PATH first, writing nothing: a typo in the third one
			// writes nothing at all. Only the refusals are said then;
			// damage met on the way is said when the PATH is written.
			check := func(ev extract.Event) {
				if errors.Is(ev.Err, extract.ErrNotFound) || errors.Is(ev.Err, extract.ErrNoContent) {
					rep.event(ev)
				}
			}
			if _, err := extract.Stream(cmd.Context(), img, io.Discard, extract.Options{Include: pats, DryRun: true, Report: check}); err != nil {
				return withCode(exitUsage, fmt.Errorf("cat: %s: %w", args[0], err))
			}
			// Then each PATH in the order given. What concerns the image
			// as a whole (truncation) is said once, not once per PATH.
			said := map[string]bool{}
			imageBad := false
			report := func(ev extract.Event) {
				if ev.Path == "" {
					if said[ev.Err.Error()] {
						return
					}
					said[ev.Err.Error()] = true
					imageBad = imageBad || ev.Kind == extract.Failed
				}
				rep.event(ev)
			}
			bad := 0
			for _, p := range pats {
				res, err := extract.Stream(cmd.Context(), img, cmd.OutOrStdout(), extract.Options{Include: []string{p}, Report: report})
				if err != nil {
					code := exitDamaged
					if res == nil {
						code = exitUsage
					}
					return withCode(code, fmt.Errorf("cat: %s: %w", args[0], err))
				}
				bad += res.FailedEntries
			}
			switch {
			case bad > 0:
				return withCode(exitDamaged, fmt.Errorf("cat: %s: %s damaged (reported above)", args[0], plural(bad, "file", "files")))
			case imageBad:
				return withCode(exitDamaged, fmt.Errorf("cat: %s: the image is damaged (reported above)", args[0]))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tree, "tree", "", treeFlagHelp)
	addSourceFlags(cmd, &sf)
	return cmd
}
