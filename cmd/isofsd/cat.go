package main

// `isofsd cat`: files of an image to stdout.

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/isofmt"
)

func newCatCmd(a *app) *cobra.Command {
	var sf sourceFlags
	var tree string
	cmd := &cobra.Command{
		Use:   "cat IMAGE PATH...",
		Short: "Write files of an image to stdout",
		Long: `cat writes the contents of each PATH of IMAGE to stdout, one after the
other (like isoinfo -x, 7z e -so or bsdtar -xOf). Symlinks are followed
inside the image. A file that cannot be read to its end is written up to
the damage and reported with its sector; the next PATH follows.

Exit status: 0 ok, 1 a file is damaged, 2 usage, PATH not found or not a
regular file, or the image cannot be opened.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			img, closeImg, err := sf.open(cmd.Context(), a, args[0], tree)
			if err != nil {
				return err
			}
			defer closeImg()
			// Check every path first: a typo in the third path writes
			// nothing at all.
			for _, p := range args[1:] {
				fi, err := img.Stat(extract.CleanPath(p))
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("cat: %s: %w", args[0], err))
				}
				if !fi.Mode().IsRegular() {
					return withCode(exitUsage, fmt.Errorf("cat: %s: %s is not a regular file (type %s)", args[0], termSafe(p), extract.TypeLetter(fi.Mode())))
				}
			}
			buf := make([]byte, 1<<20)
			bad := 0
			for _, p := range args[1:] {
				f, err := img.Open(extract.CleanPath(p))
				if err != nil {
					return withCode(exitUsage, fmt.Errorf("cat: %s: %w", args[0], err))
				}
				fi, _ := f.Stat()
				var n int64
				for {
					k, rerr := f.Read(buf)
					if k > 0 {
						if _, werr := cmd.OutOrStdout().Write(buf[:k]); werr != nil {
							f.Close()
							return withCode(exitDamaged, fmt.Errorf("cat: writing: %w", werr))
						}
						n += int64(k)
					}
					if rerr == io.EOF {
						break
					}
					if rerr != nil {
						bad++
						fmt.Fprintf(cmd.ErrOrStderr(), "isofsd: cat: %s: %s (sector %d): %v (%d of %d bytes written)\n",
							args[0], termSafe(p), extract.Sector(fi.Sys().(*isofmt.Stat)), rerr, n, fi.Size())
						break
					}
				}
				f.Close()
			}
			if bad > 0 {
				return withCode(exitDamaged, fmt.Errorf("cat: %s: %d files damaged (reported above)", args[0], bad))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&tree, "tree", "", treeFlagHelp)
	addSourceFlags(cmd, &sf)
	return cmd
}
