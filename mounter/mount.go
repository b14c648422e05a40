//go:build linux

// Package mounter owns the life of an isofsd mount: the checks made
// before anything is mounted (image, mountpoint, /dev/fuse), clearing a
// stale mount left by a killed daemon, mounting through fs/gofuse,
// confirming the mount in /proc/self/mountinfo, daemonizing with a READY
// handshake, unmounting on SIGTERM/SIGINT, and `isofsd unmount`.
//
// The functions here are the building blocks of both `isofsd mount` and
// the long-running daemon: Mount returns a *Mount that can be waited on
// and unmounted from any goroutine.
package mounter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/fs/gofuse"
	"github.com/isofsd/isofsd/internal/mountinfo"
	"github.com/isofsd/isofsd/isofmt"
)

// FSType is the file system type the kernel shows for our mounts.
const FSType = "fuse.isofsd"

// DefaultReadAheadKB is the read-ahead set on the mount's backing device
// when we may (root): FUSE starts at 128 KiB; 1 MiB matched the largest
// request size and took first reads from ~2 to ~3 GB/s here (4 MiB was
// slower).
const DefaultReadAheadKB = 1024

// mountConfirmTimeout bounds the wait for the mount to show up in
// /proc/self/mountinfo after the kernel accepted it.
const mountConfirmTimeout = 5 * time.Second

// Options configure one mount.
type Options struct {
	Image      string
	Mountpoint string
	// Tree forces a tree ("udf", "rockridge", "joliet", "iso9660").
	Tree string
	// CacheSize bounds the metadata sector cache in bytes (0: default).
	CacheSize int64
	// UID, GID and Umask apply to trees without ownership/permissions.
	UID, GID uint32
	Umask    uint32
	// AllowOther lets other users use the mount. The kernel still
	// checks every access against the owners and modes the image
	// records (default_permissions is always on).
	AllowOther bool
	// MountOptions are per-mount kernel options (noexec, noatime, …).
	// Every mount is ro,nosuid,nodev whatever they say: suid and dev,
	// which mount(8) adds by itself to fstab mounts made by root, are
	// dropped.
	MountOptions []string
	// TrustImageSuid mounts without nosuid,nodev, so that setuid and
	// setgid programs and device nodes in the image take effect. Images
	// are untrusted input: only an explicit, loudly named flag sets it.
	TrustImageSuid bool
	// Nonempty allows mounting over a directory that has entries (they
	// are hidden while mounted); without it such a mount is refused.
	Nonempty bool
	// MountpointDir, when set, is the mountpoint already opened (O_PATH)
	// by a caller that resolved it without following symlinks (the watch
	// directory); Mountpoint then only names it.
	MountpointDir *os.File
	// ImageFile, when set, is the image already opened by a caller that
	// checked it (the watch directory opens with O_NOFOLLOW and checks
	// the owner); Image then only names it.
	ImageFile *os.File
	// Boot shows El Torito images under fs.BootDirName.
	Boot bool
	// Splice serves plain extents by splice (zero copy).
	Splice bool
	// Prefetch reads ahead as tree walks go: it stores the next small
	// files of a directory in the kernel's page cache when one of them
	// is read, and parses the next directories when one is listed
	// (gofuse only).
	Prefetch bool
	// Xattr answers extended attribute requests (user.isofsd.lba).
	Xattr bool
	// DirectIO reads files of fs.DirectIOMin bytes or more past the
	// kernel's page cache (see fs.Options.DirectIO).
	DirectIO bool
	// ReadAheadKB sets the mount's read-ahead when permitted (0: leave).
	ReadAheadKB int
	// Debug logs every FUSE request.
	Debug bool
	// OpenImage, when set, opens the image instead of isofmt.OpenFile (a
	// remote image over HTTP, say); the function it returns closes the
	// image and its source at unmount. Such sources are never spliced.
	OpenImage func(*isofmt.Options) (*isofmt.Image, func() error, error)
	// Backend is the FUSE library: "" or "gofuse", or "cgofuse".
	Backend string
	Log     logrus.FieldLogger
}

// Mount is a live mount.
type Mount struct {
	opts       Options
	mountpoint string
	img        *isofmt.Image
	closeImg   func() error
	tree       *isofs.FS
	server     fuseServer
	info       MountInfo

	waitOnce sync.Once
	waitErr  error
}

// FuseDevice is the kernel device FUSE mounts need.
const FuseDevice = "/dev/fuse"

// New checks everything, clears a stale mount at the mountpoint, mounts
// the image and returns once /proc/self/mountinfo shows the mount with
// the options asked for.
func New(ctx context.Context, o Options) (*Mount, error) {
	log := o.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		log = l
	}
	o.Log = log
	if _, err := os.Stat(FuseDevice); err != nil {
		return nil, ErrNoFUSE
	}
	flags, dropped, err := sanitizeKernelOptions(o.MountOptions)
	if err != nil {
		return nil, err
	}
	if o.TrustImageSuid {
		log.WithField("image", o.Image).Warn("--trust-image-suid: setuid/setgid programs and device nodes in this image take effect on the mount")
	} else if len(dropped) > 0 {
		log.WithField("image", o.Image).Infof("ignoring -o %s: images are untrusted, so isofsd mounts are nosuid,nodev (--trust-image-suid lifts that)", strings.Join(dropped, ","))
	}
	dir, mp, err := openMountpoint(o, log)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	imgPath, img, closeImg, err := openImage(o)
	if err != nil {
		return nil, err
	}
	fsOpts := isofs.Options{ImagePath: imgPath, UID: o.UID, GID: o.GID, Umask: o.Umask, DirectIO: o.DirectIO, Log: log}
	if o.Boot {
		fsOpts.Boot = BootImages(img)
	}
	tree, err := isofs.New(img, fsOpts)
	if err != nil {
		closeImg()
		return nil, fmt.Errorf("%w: %s: %v", ErrImage, imgPath, err)
	}
	if !o.Nonempty {
		if err := checkEmpty(dir, mp); err != nil {
			closeImg()
			return nil, err
		}
	}
	for _, w := range img.Warnings() {
		log.WithField("image", imgPath).Warn(w)
	}
	if err := ctx.Err(); err != nil {
		closeImg()
		return nil, err
	}
	req := kernelRequest{Source: imgPath, AllowOther: o.AllowOther, TrustImageSuid: o.TrustImageSuid, Flags: flags}
	switch o.Backend {
	case "", "gofuse":
		req.MaxRead = gofuse.MaxRequest
	case "cgofuse":
		if !cgofuse.Available {
			closeImg()
			return nil, fmt.Errorf("%w: %v", ErrBadOption, cgofuse.ErrUnsupported)
		}
	default:
		closeImg()
		return nil, fmt.Errorf("%w: unknown backend %q", ErrBadOption, o.Backend)
	}
	dev, err := mountKernel(dir, mp, req)
	if err != nil {
		closeImg()
		return nil, fmt.Errorf("mount %s on %s: %w", imgPath, mp, err)
	}
	server, err := serve(dev, tree, imgPath, o)
	dev.Close() // the backend serves its own copy
	if err != nil {
		unmountKernel(mp, true)
		closeImg()
		return nil, fmt.Errorf("mount %s on %s: %w", imgPath, mp, err)
	}
	m := &Mount{opts: o, mountpoint: mp, img: img, closeImg: closeImg, tree: tree, server: server}
	info, err := confirmMount(ctx, mp, o.TrustImageSuid)
	if err != nil {
		unmountKernel(mp, true)
		m.Wait()
		return nil, err
	}
	m.info = info
	if o.ReadAheadKB > 0 {
		m.setReadAhead(o.ReadAheadKB)
	}
	log.WithFields(logrus.Fields{"image": imgPath, "mountpoint": mp, "tree": img.Tree(), "splice": o.Splice, "prefetch": o.Prefetch, "direct_io": o.DirectIO}).Info("mounted")
	return m, nil
}

// serve starts the backend on the kernel connection dev.
func serve(dev *os.File, tree *isofs.FS, imgPath string, o Options) (fuseServer, error) {
	fdPath, err := serveFD(dev)
	if err != nil {
		return nil, err
	}
	if o.Backend == "cgofuse" {
		return cgofuse.Mount(fdPath, tree, cgofuse.Options{Source: imgPath, Debug: o.Debug, Log: o.Log})
	}
	return gofuse.Serve(fdPath, tree, gofuse.Options{
		Source: imgPath, Splice: o.Splice, Xattr: o.Xattr, DirReadAhead: o.Prefetch, Debug: o.Debug, Log: o.Log,
	})
}

// openImage opens the image o names; closeImg closes it and its source.
func openImage(o Options) (imgPath string, img *isofmt.Image, closeImg func() error, err error) {
	isoOpts := &isofmt.Options{CacheSize: o.CacheSize, Tree: o.Tree}
	imgPath = o.Image
	switch {
	case o.ImageFile != nil:
		// Reopening the descriptor's /proc link opens the very file
		// the caller checked, whatever its name points to now.
		img, err = isofmt.OpenFile(fmt.Sprintf("/proc/self/fd/%d", o.ImageFile.Fd()), isoOpts)
		if err == nil {
			closeImg = img.Close
		}
	case o.OpenImage != nil:
		img, closeImg, err = o.OpenImage(isoOpts)
	default:
		if imgPath, err = filepath.Abs(o.Image); err != nil {
			return "", nil, nil, fmt.Errorf("%w: %s: %v", ErrImage, o.Image, err)
		}
		if img, err = isofmt.OpenFile(imgPath, isoOpts); err == nil {
			closeImg = img.Close
		}
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %v", ErrImage, err)
	}
	return imgPath, img, closeImg, nil
}

// openMountpoint opens the mountpoint (O_PATH) and returns it with its
// real path, after clearing a stale isofsd mount left there by a killed
// daemon (its directory fails with ENOTCONN) and checking that it is a
// directory nothing is mounted on.
func openMountpoint(o Options, log logrus.FieldLogger) (*os.File, string, error) {
	dir := o.MountpointDir
	if dir == nil {
		mp, err := filepath.Abs(o.Mountpoint)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
		}
		if isStale(mp) {
			log.WithField("mountpoint", mp).Warn("clearing a stale mount (transport endpoint is not connected)")
			if uerr := Unmount(mp, true); uerr != nil && !errors.Is(uerr, ErrNotMounted) {
				return nil, "", fmt.Errorf("%w: %s: stale mount could not be cleared: %v", ErrBusy, mp, uerr)
			}
		}
		fd, err := unix.Open(mp, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", ErrMountpoint, &os.PathError{Op: "open", Path: mp, Err: err})
		}
		dir = os.NewFile(uintptr(fd), mp)
	} else {
		// The caller keeps its descriptor; we close ours.
		fd, err := unix.FcntlInt(o.MountpointDir.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
		}
		dir = os.NewFile(uintptr(fd), o.Mountpoint)
	}
	mp, err := checkMountpoint(dir)
	if err != nil {
		dir.Close()
		return nil, "", err
	}
	return dir, mp, nil
}

// checkMountpoint checks the opened mountpoint and returns its real path.
func checkMountpoint(dir *os.File) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(dir.Fd()), &st); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMountpoint, dir.Name(), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", fmt.Errorf("%w: %s is not a directory", ErrMountpoint, dir.Name())
	}
	mp, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", dir.Fd()))
	if err != nil || !filepath.IsAbs(mp) {
		return "", fmt.Errorf("%w: %s: cannot tell its path (%v)", ErrMountpoint, dir.Name(), err)
	}
	if mi, ok, err := FindMount(mp); err == nil && ok {
		return "", fmt.Errorf("%w: %s already has %s (%s) mounted on it; unmount it first", ErrBusy, mp, mi.Source, mi.FSType)
	}
	return mp, nil
}

// checkEmpty refuses a mountpoint that has entries: the mount would hide
// them, silently. It reads one entry (bounded however big the
// directory); a directory we may not read is left to the mount.
func checkEmpty(dir *os.File, mp string) error {
	fd, err := unix.Openat(int(dir.Fd()), ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), mp)
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("%w: %s is not empty (it holds %q…): mounting would hide what is there; use -o nonempty to mount over it anyway", ErrMountpoint, mp, names[0])
	}
	return nil
}

// confirmMount waits until mountinfo shows our mount at mp and checks
// that it is read-only and, unless trusted, nosuid,nodev: READY is only
// ever reported for a mount that really is there as promised.
func confirmMount(ctx context.Context, mp string, trusted bool) (MountInfo, error) {
	deadline := time.Now().Add(mountConfirmTimeout)
	for delay := 200 * time.Microsecond; ; delay = min(delay*2, 50*time.Millisecond) {
		mi, ok, err := FindMount(mp)
		if err != nil {
			return MountInfo{}, fmt.Errorf("confirm mount: %w", err)
		}
		if ok && mi.FSType == FSType {
			want := []string{"ro"}
			if !trusted {
				want = append(want, "nosuid", "nodev")
			}
			for _, w := range want {
				if !mountinfo.HasOption(mi.Options, w) {
					return MountInfo{}, fmt.Errorf("mount on %s came up without %s (options %s); unmounted", mp, w, mi.Options)
				}
			}
			return mi, nil
		}
		if time.Now().After(deadline) {
			return MountInfo{}, fmt.Errorf("mount on %s did not appear in /proc/self/mountinfo within %v", mp, mountConfirmTimeout)
		}
		select {
		case <-ctx.Done():
			return MountInfo{}, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// setReadAhead raises the mount's read-ahead (root only: it is a sysfs
// knob of the mount's anonymous backing device).
func (m *Mount) setReadAhead(kb int) {
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", m.info.Major, m.info.Minor)
	if err := os.WriteFile(p, []byte(strconv.Itoa(kb)), 0); err != nil {
		m.opts.Log.WithField("mountpoint", m.mountpoint).Debugf("read-ahead left at the default: %v", err)
	}
}

// fuseServer is what both FUSE backends return: it serves until the
// kernel connection ends (the mount is unmounted).
type fuseServer interface {
	Wait()
}

// BytesRead is the file data served so far.
func (m *Mount) BytesRead() int64 { return m.tree.BytesRead() }

// Mountpoint is the absolute mountpoint.
func (m *Mount) Mountpoint() string { return m.mountpoint }

// Image is the mounted image.
func (m *Mount) Image() *isofmt.Image { return m.img }

// Device is the mount's device number as major, minor.
func (m *Mount) Device() (uint32, uint32) { return m.info.Major, m.info.Minor }

// Wait serves until the file system is unmounted, then closes the image.
func (m *Mount) Wait() error {
	m.waitOnce.Do(func() {
		m.server.Wait()
		m.waitErr = m.closeImg()
		m.opts.Log.WithField("mountpoint", m.mountpoint).Info("unmounted")
	})
	return m.waitErr
}

// Unmount unmounts; it fails (EBUSY, naming the processes) while files
// are open.
func (m *Mount) Unmount() error { return m.unmount(false) }

// Detach lazily unmounts: the mount disappears from the namespace now and
// is served until the last open file is closed.
func (m *Mount) Detach() error { return m.unmount(true) }

func (m *Mount) unmount(lazy bool) error {
	mi, ok, err := FindMount(m.mountpoint)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", m.mountpoint, ErrNotMounted)
	}
	if mi.ID != m.info.ID {
		return fmt.Errorf("unmount %s: %s (%s) is mounted on top of it; unmount that first", m.mountpoint, mi.Source, mi.FSType)
	}
	return unmountEntry(mi, lazy)
}

// Unmount unmounts the isofsd mount at mountpoint (lazily if asked). It
// refuses any other file system, and a busy mount's error names the
// processes holding it.
func Unmount(mountpoint string, lazy bool) error {
	mp, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(mp); err == nil {
		mp = real
	}
	mi, ok, err := FindMount(mp)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w", mp, ErrNotMounted)
	}
	if mi.FSType != FSType {
		return fmt.Errorf("%s: %w: it is %s (%s); refusing to unmount it", mp, ErrNotIsofsd, mi.FSType, mi.Source)
	}
	return unmountEntry(mi, lazy)
}

// unmountEntry unmounts the mount mi describes.
func unmountEntry(mi MountInfo, lazy bool) error {
	err := unmountKernel(mi.MountPoint, lazy)
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EBUSY) {
		return &BusyError{Mountpoint: mi.MountPoint, Holders: Holders(mi)}
	}
	return fmt.Errorf("unmount %s: %w", mi.MountPoint, err)
}
