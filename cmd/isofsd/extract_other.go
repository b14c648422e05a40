//go:build !linux

package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newExtractCmd: extraction writes only through directory descriptors
// opened with O_NOFOLLOW (openat and friends), which this system lacks, so
// rather than a weaker extractor this build refuses; `isofsd mount` serves
// the same files.
func newExtractCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "extract IMAGE [PATH|GLOB...] -C DIR",
		Short: "Copy files out of an image (Unix systems only; use mount here)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCode(exitUsage, errors.New("extract: not available on this system: its symlink-safe writer needs openat(2); mount the image and copy from it instead"))
		},
	}
}
