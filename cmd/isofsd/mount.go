package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/mounter"
	"github.com/isofsd/isofsd/mounter/ctlproto"
)

// defaultSplice is the read path `isofsd mount` uses unless --splice says
// otherwise: splice made first reads of big files faster than copying
// through user space, and re-reads come from the page cache either way
// (.ci/bench-mount.sh; numbers in docs/benchmarks.md).
const defaultSplice = "on"

// defaultPrefetch is whether `isofsd mount` reads ahead as tree walks go:
// it stores the next small files of a directory in the kernel's page
// cache when one is read, and parses the next directories when one is
// listed (see fs/gofuse's read-ahead): walks of many small files need far
// fewer round trips (docs/benchmarks.md).
const defaultPrefetch = "on"

// mountGCPercent is the mount daemon's garbage collector target (GOGC
// overrides it). Its live heap is mostly parsed directory entries, and
// serving allocates small short-lived objects per request: with Go's
// default of 100 the process held twice its live heap; 25 keeps it near
// the live heap at little CPU cost (docs/benchmarks.md).
// Below gcHeapFloor the heap may grow further (see tuneGC).
const mountGCPercent = 25

type mountFlags struct {
	foreground bool
	tree       string
	cacheSize  string
	uid, gid   uint32
	umask      string
	options    []string
	boot       bool
	splice     string
	prefetch   string
	logFile    string
	xattr      bool
	directIO   bool
	readAhead  int
	daemon     daemonMountFlags
	backend    string
	// trustImageSuid lifts nosuid,nodev (mount only).
	trustImageSuid bool
	// src holds --header and --cache-dir for remote images, and the S3
	// flags.
	src sourceFlags
}

func newMountCmd(a *app) *cobra.Command {
	var f mountFlags
	cmd := &cobra.Command{
		Use:   "mount [flags] IMAGE [MOUNTPOINT]",
		Short: "Mount an image read-only with FUSE",
		Long: `Mount IMAGE read-only on MOUNTPOINT (on Windows a drive such as X:, or *
for the first free one, which is printed).

By default isofsd detaches and returns once the mount is ready (exit 0), or
exits non-zero with the reason. With -f it stays in the foreground until
unmounted, SIGTERM or SIGINT. A stale mount left by a killed isofsd on
MOUNTPOINT is cleared first. Detached daemons log to --log-file, or to
syslog when it is available.

Without MOUNTPOINT, a new directory named after the image's volume label is
made under /media/$USER when you may create one there, else under
$XDG_RUNTIME_DIR/isofsd, and printed; it is removed after unmounting. If the
image is mounted already, its mountpoint is printed instead.`,
		Args:        cobra.RangeArgs(1, 2),
		Annotations: notifyAnnotation,
		RunE: func(cmd *cobra.Command, args []string) error {
			mountpoint := ""
			if len(args) == 2 {
				mountpoint = args[1]
			}
			return runMount(cmd.Context(), a, &f, args[0], mountpoint, os.Args[1:], func(mp string, fresh bool) {
				if mountpoint == "" || mountpoint == mounter.AnyDrive {
					fmt.Fprintln(cmd.OutOrStdout(), mp)
				}
				a.succeeded(mountedNotice(args[0], mp, fresh))
			})
		},
	}
	addMountFlags(cmd, &f)
	return cmd
}

// addMountFlags registers the flags of `isofsd mount` (and `open`).
func addMountFlags(cmd *cobra.Command, f *mountFlags) {
	fl := cmd.Flags()
	fl.BoolVarP(&f.foreground, "foreground", "f", false, "stay in the foreground")
	treeVar(fl, &f.tree, "tree to mount: udf, rockridge, joliet or iso9660 (default: the richest present)")
	fl.StringVar(&f.cacheSize, "cache-size", "2M", "metadata sector cache size (bytes; K, M, G suffixes); parsed directories are kept apart from it")
	fl.Uint32Var(&f.uid, "uid", uint32(os.Getuid()), "owner of files on trees without ownership (Joliet, plain ISO 9660)")
	fl.Uint32Var(&f.gid, "gid", uint32(os.Getgid()), "group of files on trees without ownership")
	fl.StringVar(&f.umask, "umask", "0", "octal mask cleared from permissions (0444 files, 0555 dirs) on trees without them")
	fl.StringSliceVarP(&f.options, "options", "o", nil, "mount options, comma-separated: allow_other, nonempty, xattr, direct_io, uid=N, gid=N, umask=M, tree=T, cache_size=S, debug, noexec, noatime (every mount is ro,nosuid,nodev)")
	fl.BoolVar(&f.trustImageSuid, "trust-image-suid", false, "DANGEROUS: honour setuid/setgid bits and device nodes of the image (mount without nosuid,nodev); only for images you trust as much as root")
	fl.BoolVar(&f.boot, "boot", false, "show El Torito boot images under the hidden directory "+".isofsd-boot")
	enumVar(fl, &f.splice, "splice", defaultSplice, onOffValues, "serve plain file data with splice (zero copy): on or off")
	enumVar(fl, &f.prefetch, "prefetch", defaultPrefetch, onOffValues, "read ahead as tree walks go (the next small files of a directory into the page cache, the next directories parsed): on or off")
	fl.BoolVar(&f.xattr, "xattr", false, "answer extended attributes (user.isofsd.lba: a file's first sector); off, ls -l runs ~3x faster")
	fl.BoolVar(&f.directIO, "direct-io", false, "read files of 1 MiB or more past the kernel's page cache: first reads ~2x faster and no data cached twice, but re-reads and opens go to the daemon")
	fl.StringVar(&f.logFile, "log-file", "", "log file of the detached daemon")
	addDaemonMountFlags(fl, &f.daemon)
	enumVar(fl, &f.backend, "backend", mounter.DefaultBackend, []string{"gofuse", "cgofuse"}, "FUSE library: gofuse (Linux) or cgofuse (macFUSE, WinFsp; on Linux in builds with -tags cgofuse,fuse3)")
	fl.IntVar(&f.readAhead, "read-ahead-kb", mounter.DefaultReadAheadKB, "read-ahead of the mount in KiB when running as root (0 leaves the kernel's)")
	// --cache-size is the sector cache here, so the remote disk cache
	// bound of other commands is --cache-dir-size.
	fl.StringArrayVar(&f.src.headers, "header", nil, `HTTP header for an http(s) IMAGE, "Name: value" (repeatable)`)
	fl.StringVar(&f.src.cacheDir, "cache-dir", "", "keep the parts of a remote IMAGE that were read in this directory")
	addCacheDirSizeFlag(fl, &f.src.cacheSize)
	addS3Flags(fl, &f.src.s3)
}

// onOff parses the value of an on|off flag.
func onOff(flag, v string) (bool, error) {
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("--%s %q: want on or off", flag, v)
}

// mountOptions turns flags into mounter.Options.
func (f *mountFlags) mountOptions(image, mountpoint string) (mounter.Options, error) {
	o := mounter.Options{Backend: f.backend, Image: image, Mountpoint: mountpoint, Tree: f.tree, UID: f.uid, GID: f.gid, Boot: f.boot,
		ReadAheadKB: f.readAhead, Xattr: f.xattr, DirectIO: f.directIO, TrustImageSuid: f.trustImageSuid}
	var err error
	if o.CacheSize, err = parseCacheSize(f.cacheSize); err != nil {
		return o, fmt.Errorf("--cache-size: %w", err)
	}
	um, err := strconv.ParseUint(f.umask, 8, 32)
	if err != nil || um > 0o777 {
		return o, fmt.Errorf("--umask %q: want an octal mask such as 022", f.umask)
	}
	o.Umask = uint32(um)
	if o.Splice, err = onOff("splice", f.splice); err != nil {
		return o, err
	}
	if o.Prefetch, err = onOff("prefetch", f.prefetch); err != nil {
		return o, err
	}
	switch f.tree {
	case "", "udf", "rockridge", "joliet", "iso9660":
	default:
		return o, fmt.Errorf("--tree %q: want udf, rockridge, joliet or iso9660", f.tree)
	}
	// -o takes what an fstab line takes: one parser for both.
	fo, err := mounter.ParseFstabOptions(strings.Join(f.options, ","))
	if err != nil {
		return o, fmt.Errorf("-o: %w", err)
	}
	if len(fo.Unknown) > 0 {
		return o, fmt.Errorf("-o %s: unknown mount option", strings.Join(fo.Unknown, ","))
	}
	if fo.Tree != "" {
		o.Tree = fo.Tree
	}
	if fo.CacheSize != "" {
		if o.CacheSize, err = parseCacheSize(fo.CacheSize); err != nil {
			return o, fmt.Errorf("-o cache_size: %w", err)
		}
	}
	if fo.UID != nil {
		o.UID = *fo.UID
	}
	if fo.GID != nil {
		o.GID = *fo.GID
	}
	if fo.Umask != nil {
		o.Umask = *fo.Umask
	}
	o.AllowOther = o.AllowOther || fo.AllowOther
	o.Debug = o.Debug || fo.Debug
	o.Xattr = o.Xattr || fo.Xattr
	o.DirectIO = o.DirectIO || fo.DirectIO
	o.Nonempty = o.Nonempty || fo.Nonempty
	o.TrustImageSuid = o.TrustImageSuid || fo.TrustImageSuid
	o.MountOptions = fo.Kernel
	return o, nil
}

// mountExitCode maps a mount failure to the exit-code contract: problems
// found before anything was mounted are usage errors.
func mountExitCode(err error) int {
	for _, e := range []error{mounter.ErrNoFUSE, mounter.ErrBusy, mounter.ErrMountpoint, mounter.ErrImage, mounter.ErrRefused, mounter.ErrBadOption} {
		if errors.Is(err, e) {
			return exitUsage
		}
	}
	return exitInternal
}

// runMount mounts image on mountpoint ("": an automatic one) and calls
// mounted once the mount is up, with fresh false when an automatic mount
// found the image mounted already. Without -f the mount is served by a
// daemon (the running one, or a re-execution of this binary with
// childArgs); with -f runMount serves it until it is unmounted.
func runMount(ctx context.Context, a *app, f *mountFlags, image, mountpoint string, childArgs []string, mounted func(mp string, fresh bool)) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f.daemon.app = a
	o, err := f.mountOptions(image, mountpoint)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if o.TrustImageSuid {
		if err := mounter.CheckTrustImageSuid(); err != nil {
			return withCode(exitUsage, err)
		}
	}
	child := os.Getenv(mounter.EnvReadyFD) != ""
	if mountpoint == "" && !child {
		if ms, err := mounter.ImageMounts(image); err == nil && len(ms) > 0 {
			mp := ms[len(ms)-1].MountPoint
			a.notef("%s is already mounted on %s", image, mp)
			mounted(mp, false)
			return nil
		}
	}
	// A running daemon takes the mount unless we are the re-executed
	// child, in the foreground, or told --standalone.
	remote := isRemote(image)
	if remote {
		// The daemon cannot be handed auth headers or credentials:
		// remote mounts are served by their own process.
		o.OpenImage = func(io *isofmt.Options) (*isofmt.Image, func() error, error) {
			return f.src.openWith(ctx, a, image, io)
		}
	} else if !f.foreground && !child && !o.TrustImageSuid {
		// (A mount trusting the image's setuid bits is never handed to
		// the daemon: it is made by this user's own process.)
		mp, handled, err := f.daemon.tryDaemonMount(a, o)
		if !handled && autoStartDaemon && !f.daemon.standalone {
			// On Windows only the process serving a mount can end it:
			// the mount lives in the user's daemon, started now.
			if err := f.daemon.startDaemon(); err != nil {
				return withCode(exitInternal, fmt.Errorf("starting the isofsd daemon: %w", err))
			}
			f.daemon.daemon = true
			mp, handled, err = f.daemon.tryDaemonMount(a, o)
		}
		if handled {
			if err == nil {
				mounted(mp, true)
			}
			return err
		}
	}
	if autoStartDaemon && !f.foreground && !child {
		// A detached mount nobody could unmount: not on Windows.
		return withCode(exitUsage, errors.New("on Windows a mount the daemon does not serve (--standalone, an http(s) image) stays in the foreground: add -f (Ctrl-C unmounts)"))
	}
	if !f.foreground && !child {
		if o.TrustImageSuid {
			a.warnf("%s: --trust-image-suid: setuid/setgid programs and device nodes in this image will take effect on the mount", image)
		}
		// Check what can be checked here, so that obvious mistakes are
		// reported by this process, then let the child do the mount.
		if !remote {
			if _, err := os.Stat(image); err != nil {
				return withCode(exitUsage, fmt.Errorf("%w: %v", mounter.ErrImage, err))
			}
		}
	}
	o.Log = a.log
	if f.foreground || child {
		if os.Getenv("GOGC") == "" {
			tuneGC(mountGCPercent, gcHeapFloor)
		}
		startProfiler()
	}
	mp, err := mounter.Run(ctx, o, mounter.RunOptions{
		Foreground: f.foreground, Args: childArgs, LogFile: f.logFile, ExitCode: mountExitCode,
		InChild: func() {
			// The parent reports and notifies; this process only serves.
			a.quiet = true
			if f.logFile == "" {
				systemLog(a)
			}
		},
	}, func(m *mounter.Mount) {
		if f.foreground {
			mounted(m.Mountpoint(), true)
		}
	})
	var de *mounter.DaemonError
	switch {
	case err == nil:
		if !f.foreground && !child {
			// The detached child serves it; it told us where.
			if mp == "" {
				mp = mountpoint
			}
			mounted(mp, true)
		}
		return nil
	case errors.As(err, &de) && de.Code != 0:
		return withCode(de.Code, err)
	case errors.As(err, &de):
		return withCode(exitInternal, err)
	}
	return withCode(mountExitCode(err), err)
}

func newUnmountCmd(a *app) *cobra.Command {
	var lazy, all bool
	var df daemonMountFlags
	cmd := &cobra.Command{
		Use:     "unmount [--lazy] (MOUNTPOINT | IMAGE | --all)",
		Aliases: []string{"umount"},
		Short:   "Unmount an isofsd mount, or all of yours",
		Long: `Unmount the isofsd mount at MOUNTPOINT, through the daemon when it serves it,
or every isofsd mount of IMAGE that you can reach (an image file rather than
a directory).
Only isofsd mounts are unmounted: any other file system is refused (exit 2).
A busy mount is left mounted (exit 1) and the processes using it are named,
as fuser -m does; --lazy detaches it instead.

--all unmounts every isofsd mount you may unmount (all of them as root,
those you mounted otherwise), the daemon's included, nested ones first;
exit 1 if some could not be unmounted.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		Annotations: notifyAnnotation,
		RunE: func(cmd *cobra.Command, args []string) error {
			df.app = a
			if all {
				return unmountAll(a, &df, lazy)
			}
			targets := []string{args[0]}
			if st, err := os.Stat(args[0]); err == nil && st.Mode().IsRegular() {
				ms, err := mounter.ImageMounts(args[0])
				if err != nil {
					return withCode(exitInternal, err)
				}
				if len(ms) == 0 {
					if others, _ := mounter.OthersImageMounts(args[0]); len(others) > 0 {
						uid, _ := mounter.MountOwner(others[0])
						return withCode(exitUsage, fmt.Errorf("%s: %w: it is mounted on %s by uid %d; only that user or root may unmount it", args[0], mounter.ErrNotOwner, others[0].MountPoint, uid))
					}
					return withCode(exitUsage, fmt.Errorf("%s: %w", args[0], mounter.ErrNotMounted))
				}
				targets = targets[:0]
				for _, m := range ms {
					targets = append(targets, m.MountPoint)
				}
			}
			for _, mp := range targets {
				if err := unmountOne(a, &df, mp, lazy); err != nil {
					return err
				}
			}
			a.succeeded("Unmounted", strings.Join(targets, "\n"))
			return nil
		},
	}
	addDaemonMountFlags(cmd.Flags(), &df)
	cmd.Flags().BoolVarP(&lazy, "lazy", "z", false, "detach now even if files are open; the daemon exits when they are closed")
	cmd.Flags().BoolVar(&all, "all", false, "unmount every isofsd mount of yours (all of them as root)")
	return cmd
}

// unmountOne unmounts mp through the daemon that serves it, or directly.
func unmountOne(a *app, df *daemonMountFlags, mp string, lazy bool) error {
	if handled, err := df.tryDaemonUnmount(mp, lazy); handled {
		return err
	}
	if err := mounter.Unmount(mp, lazy); err != nil {
		return withCode(unmountExitCode(err), err)
	}
	a.log.WithField("mountpoint", mp).Debug("unmounted")
	return nil
}

// unmountExitCode: naming something that is not our mount (nothing
// mounted, another file system, another user's mount) is a usage error;
// a mount that stays (busy) is a partial failure.
func unmountExitCode(err error) int {
	if errors.Is(err, mounter.ErrNotMounted) || errors.Is(err, mounter.ErrNotIsofsd) || errors.Is(err, mounter.ErrNotOwner) {
		return exitUsage
	}
	return exitDamaged
}

// unmountAll unmounts the daemon's mounts through it, then every other
// isofsd mount the caller may unmount.
func unmountAll(a *app, df *daemonMountFlags, lazy bool) error {
	var failed []string
	done := 0
	use, err := df.useDaemon()
	if err != nil {
		return err
	}
	if use {
		resp, err := daemonCall(df.socket, &ctlproto.Request{Op: ctlproto.OpList})
		if err != nil {
			return withCode(daemonExitCode(err), err)
		}
		for _, m := range resp.Mounts {
			if err := daemonClientUnmount(df.socket, m.Mountpoint, lazy); err != nil {
				a.warnf("%s: %v", m.Mountpoint, err)
				failed = append(failed, m.Mountpoint)
				continue
			}
			a.notef("unmounted %s", m.Mountpoint)
			done++
		}
	}
	mounts, err := mounter.Mounts()
	if err != nil {
		return withCode(exitInternal, err)
	}
	for _, mi := range mounts {
		if slices.Contains(failed, mi.MountPoint) {
			continue
		}
		if err := mounter.Unmount(mi.MountPoint, lazy); err != nil {
			if errors.Is(err, mounter.ErrNotMounted) {
				continue // gone meanwhile (the daemon's, say)
			}
			a.warnf("%s: %v", mi.MountPoint, err)
			failed = append(failed, mi.MountPoint)
			continue
		}
		a.notef("unmounted %s", mi.MountPoint)
		done++
	}
	if len(failed) > 0 {
		return withCode(exitDamaged, fmt.Errorf("unmount --all: %d unmounted, %d still mounted: %s", done, len(failed), strings.Join(failed, ", ")))
	}
	a.notef("unmount --all: %d unmounted", done)
	return nil
}
