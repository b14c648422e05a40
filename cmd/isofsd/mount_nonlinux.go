//go:build !linux

package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"

	"github.com/spf13/cobra"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/mounter"
)

// newMountCmd mounts through cgofuse: WinFsp on Windows (loaded at run
// time, no cgo needed), macFUSE/libfuse elsewhere in builds made with
// -tags cgofuse. The mount stays in the foreground; Ctrl-C unmounts.
func newMountCmd(a *app) *cobra.Command {
	var (
		tree, cacheSize, umask string
		boot, directIO         bool
		src                    sourceFlags
	)
	cmd := &cobra.Command{
		Use:   "mount [flags] IMAGE MOUNTPOINT",
		Short: "Mount an image read-only (WinFsp: MOUNTPOINT may be a drive letter such as X:)",
		Long: `Mount IMAGE read-only on MOUNTPOINT and serve it until Ctrl-C (or the
file system is unmounted). On Windows this needs WinFsp; MOUNTPOINT is a
free drive letter (X:) or a directory that does not exist yet.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			image, mp := args[0], args[1]
			size, err := parseCacheSize(cacheSize)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("--cache-size: %w", err))
			}
			um, err := strconv.ParseUint(umask, 8, 32)
			if err != nil || um > 0o777 {
				return withCode(exitUsage, fmt.Errorf("--umask %q: want an octal mask such as 022", umask))
			}
			img, closeImg, err := openImageSized(cmd.Context(), a, image, &isofmt.Options{Tree: tree, CacheSize: size},
				src.headers, src.cacheDir, src.cacheSize)
			if err != nil {
				return err
			}
			defer closeImg()
			fo := isofs.Options{ImagePath: image, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Umask: uint32(um), DirectIO: directIO, Log: a.log}
			if boot {
				fo.Boot = mounter.BootImages(img)
			}
			t, err := isofs.New(img, fo)
			if err != nil {
				return withCode(exitUsage, fmt.Errorf("%s: %w", image, err))
			}
			srv, err := cgofuse.Mount(mp, t, cgofuse.Options{Source: image, Log: a.log})
			if err != nil {
				if errors.Is(err, cgofuse.ErrUnsupported) {
					return withCode(exitUsage, err)
				}
				return withCode(exitInternal, err)
			}
			a.log.WithField("image", image).WithField("mountpoint", mp).Info("mounted; press Ctrl-C to unmount")
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			done := make(chan struct{})
			go func() { srv.Wait(); close(done) }()
			select {
			case <-sig:
				if err := srv.Unmount(); err != nil {
					return withCode(exitInternal, fmt.Errorf("unmount %s: %w", mp, err))
				}
				<-done
			case <-done:
			}
			a.log.WithField("mountpoint", mp).Info("unmounted")
			return nil
		},
	}
	fl := cmd.Flags()
	treeVar(fl, &tree, treeFlagHelp)
	fl.StringVar(&cacheSize, "cache-size", "2M", "metadata sector cache size (bytes; K, M, G suffixes)")
	fl.StringVar(&umask, "umask", "0", "octal mask cleared from permissions on trees without them")
	fl.BoolVar(&directIO, "direct-io", false, "read files of 1 MiB or more past the system's file cache: faster first reads, no data cached twice")
	fl.BoolVar(&boot, "boot", false, "show El Torito boot images under the hidden directory "+isofs.BootDirName)
	fl.StringArrayVar(&src.headers, "header", nil, `HTTP header for an http(s) IMAGE, "Name: value" (repeatable)`)
	fl.StringVar(&src.cacheDir, "cache-dir", "", "keep the parts of an http(s) IMAGE that were read in this directory")
	addCacheDirSizeFlag(fl, &src.cacheSize)
	return cmd
}

// newUnmountCmd: a cgofuse mount belongs to the process serving it.
func newUnmountCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unmount MOUNTPOINT",
		Short: "Unmount (on this system: stop the isofsd mount process with Ctrl-C)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCode(exitUsage, fmt.Errorf("unmount %s: on this system a mount ends with its isofsd process: press Ctrl-C in its console", args[0]))
		},
	}
}
