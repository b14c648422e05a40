// Package mounter owns the life of an isofsd mount on every system: the
// checks made before anything is mounted (image, mountpoint, options),
// clearing a stale mount left by a killed daemon, mounting, confirming
// that the mount is really there with the options promised, daemonizing
// with a READY handshake, unmounting on a signal, the long-running daemon
// with its control socket and watch directory, service definitions
// (systemd, launchd, a Windows service and Explorer verbs), and `isofsd
// unmount`.
//
// rclone's mountlib is the model: New mounts through a FUSE backend (a
// thin adapter in fs/gofuse or fs/cgofuse) and returns a *Mount that can
// be served, waited on and unmounted from any goroutine; Daemonize,
// Ready and Serve make the same lifecycle work in the foreground, in a
// detached child, under systemd, launchd or the Windows service manager.
// What differs per system sits in build-tagged files: on Linux mounter
// makes the kernel mount itself (see kernel_linux.go) and either backend
// serves the connection; on macOS (macFUSE) and Windows (WinFsp) cgofuse
// mounts, and mounter confirms the mount became visible.
package mounter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/internal/mountinfo"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/mounter/automp"
)

// FSType is the file system type the Linux kernel shows for our mounts.
const FSType = "fuse.isofsd"

// DefaultReadAheadKB is the read-ahead set on the mount's backing device
// when we may (root on Linux): FUSE starts at 128 KiB; 1 MiB matches the
// largest request size and made first reads faster, 4 MiB slower
// (docs/benchmarks.md).
const DefaultReadAheadKB = 1024

// mountConfirmTimeout bounds the wait for the mount to become visible
// after the kernel (or WinFsp, or macFUSE) accepted it.
const mountConfirmTimeout = 5 * time.Second

// MountInfo describes a live mount as the system shows it (on Linux, its
// /proc/self/mountinfo line; elsewhere only the mountpoint is known).
type MountInfo = mountinfo.Entry

// Options configure one mount.
type Options struct {
	Image string
	// Mountpoint is where to mount; "" makes a new directory named after
	// the image's label (see package automp), removed after unmounting.
	Mountpoint string
	// AutoPlace says where automatic mountpoints go (nil: the user's,
	// automp.DefaultConfig).
	AutoPlace *automp.Config
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
	// MountpointDir, when set, is the mountpoint already opened (O_PATH
	// on Linux) by a caller that resolved it without following symlinks
	// (the watch directory); Mountpoint then only names it.
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
	// MaxRequest and Readers size the go-fuse server (see
	// gofuse.Options): a daemon serving many mounts keeps them small.
	MaxRequest, Readers int
	// Lean drops what opening the image cached, even a remote source's
	// blocks, once the mount is up: a daemon serving many mounts keeps
	// each idle one small.
	Lean bool
	// table shares reads of the mount table between the mounts a daemon
	// makes at the same time (nil: each reads its own).
	table *mountTable
	// Backend is the FUSE library: "gofuse" (Linux) or "cgofuse"; ""
	// is DefaultBackend.
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
	// autoDir is the directory New made for the mount (nil when the
	// caller gave the mountpoint); Wait removes it.
	autoDir *automp.Dir

	waitOnce sync.Once
	waitErr  error
}

// fuseServer is what the FUSE backends return: it serves until the mount
// ends.
type fuseServer interface {
	Wait()
}

// New checks everything, clears a stale mount at the mountpoint, mounts
// the image and returns once the mount is visible with the options asked
// for. An empty Options.Mountpoint gets an automatic one (Linux).
func New(ctx context.Context, o Options) (*Mount, error) {
	log := o.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		log = l
	}
	o.Log = log
	if o.Backend == "" {
		o.Backend = DefaultBackend
	}
	if err := checkBackend(o.Backend); err != nil {
		return nil, err
	}
	flags, dropped, err := sanitizeKernelOptions(o.MountOptions)
	if err != nil {
		return nil, err
	}
	if o.TrustImageSuid {
		if err := CheckTrustImageSuid(); err != nil {
			return nil, err
		}
		log.WithField("image", o.Image).Warn("--trust-image-suid: setuid/setgid programs and device nodes in this image take effect on the mount")
	} else if len(dropped) > 0 {
		log.WithField("image", o.Image).Infof("ignoring -o %s: images are untrusted, so isofsd mounts are nosuid,nodev (--trust-image-suid lifts that)", strings.Join(dropped, ","))
	}
	var t *target
	if o.Mountpoint != "" {
		// A given mountpoint is checked before the image is read.
		if t, err = openTarget(o, log); err != nil {
			return nil, err
		}
		defer t.close()
	}
	imgPath, img, closeImg, err := openImage(o)
	if err != nil {
		return nil, err
	}
	// autoDir is nil unless New makes the mountpoint; Remove is a no-op
	// then.
	var autoDir *automp.Dir
	fail := func(err error) (*Mount, error) {
		closeImg()
		autoDir.Remove()
		return nil, err
	}
	if t == nil {
		if autoDir, err = autoConfig(o).Create(img.Info().Label(), imgPath); err != nil {
			return fail(fmt.Errorf("%w: %v", ErrMountpoint, err))
		}
		// The place stays locked until the mount is up (or failed), so
		// that no other mount picks the same directory meanwhile.
		defer autoDir.Release()
		if autoDir.Reused {
			log.WithField("mountpoint", autoDir.Path).Info("reusing the empty mountpoint an earlier mount left behind")
		}
		o.Mountpoint = autoDir.Path
		if t, err = openTarget(o, log); err != nil {
			return fail(err)
		}
		defer t.close()
	}
	fsOpts := isofs.Options{ImagePath: imgPath, UID: o.UID, GID: o.GID, Umask: o.Umask, DirectIO: o.DirectIO, Log: log}
	if o.Boot {
		fsOpts.Boot = BootImages(img)
	}
	tree, err := isofs.New(img, fsOpts)
	if err != nil {
		return fail(fmt.Errorf("%w: %s: %v", ErrImage, imgPath, err))
	}
	if !o.Nonempty {
		if err := t.checkEmpty(); err != nil {
			return fail(err)
		}
	}
	for _, w := range img.Warnings() {
		log.WithField("image", imgPath).Warn(w)
	}
	if o.OpenImage == nil || o.Lean {
		// The blocks read while opening are in the page cache anyway;
		// an idle mount need not hold them. A remote source's are not,
		// so only a daemon of many mounts drops those (Lean).
		img.DropCache()
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	m := &Mount{opts: o, mountpoint: t.path, img: img, closeImg: closeImg, tree: tree, autoDir: autoDir}
	if err := m.attach(ctx, t, imgPath, flags); err != nil {
		return fail(err)
	}
	if o.ReadAheadKB > 0 {
		m.setReadAhead(o.ReadAheadKB)
	}
	log.WithFields(logrus.Fields{"image": imgPath, "mountpoint": m.mountpoint, "tree": img.Tree(), "splice": o.Splice, "prefetch": o.Prefetch, "direct_io": o.DirectIO}).Info("mounted")
	return m, nil
}

// autoConfig is where an automatic mountpoint goes.
func autoConfig(o Options) automp.Config {
	if o.AutoPlace != nil {
		return *o.AutoPlace
	}
	return automp.DefaultConfig()
}

// checkBackend refuses a backend this build or system lacks.
func checkBackend(b string) error {
	switch {
	case b == "cgofuse" && !cgofuse.Available:
		return fmt.Errorf("%w: %v", ErrBadOption, cgofuse.ErrUnsupported)
	case b == "cgofuse", b == "gofuse" && gofuseAvailable:
		return nil
	}
	return fmt.Errorf("%w: backend %q is not available here (have: %s)", ErrBadOption, b, strings.Join(Backends(), ", "))
}

// Backends lists the FUSE backends this build can mount with.
func Backends() []string {
	var out []string
	if gofuseAvailable {
		out = append(out, "gofuse")
	}
	if cgofuse.Available {
		out = append(out, "cgofuse")
	}
	return out
}

// openImage opens the image o names; closeImg closes it and its source.
func openImage(o Options) (imgPath string, img *isofmt.Image, closeImg func() error, err error) {
	isoOpts := &isofmt.Options{CacheSize: o.CacheSize, Tree: o.Tree}
	imgPath = o.Image
	switch {
	case o.ImageFile != nil:
		// Reopening the descriptor's own link opens the very file the
		// caller checked, whatever its name points to now.
		img, err = isofmt.OpenFile(reopenPath(o.ImageFile), isoOpts)
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

// BytesRead is the file data served so far.
func (m *Mount) BytesRead() int64 { return m.tree.BytesRead() }

// Lookups counts the name lookups served so far.
func (m *Mount) Lookups() int64 { return m.tree.Lookups() }

// ReadDirs counts the directory listings served so far.
func (m *Mount) ReadDirs() int64 { return m.tree.ReadDirs() }

// AutoMountpoint reports whether New made the mountpoint (and Wait
// removes it).
func (m *Mount) AutoMountpoint() bool { return m.autoDir != nil }

// Mountpoint is the absolute mountpoint (a drive such as X: on Windows).
func (m *Mount) Mountpoint() string { return m.mountpoint }

// Image is the mounted image.
func (m *Mount) Image() *isofmt.Image { return m.img }

// Device is the mount's device number as major, minor (Linux).
func (m *Mount) Device() (uint32, uint32) { return m.info.Major, m.info.Minor }

// Wait serves until the file system is unmounted, then closes the image.
func (m *Mount) Wait() error {
	m.waitOnce.Do(func() {
		m.server.Wait()
		m.waitErr = m.closeImg()
		m.opts.Log.WithField("mountpoint", m.mountpoint).Info("unmounted")
		if err := m.autoDir.Remove(); err != nil {
			m.opts.Log.WithField("mountpoint", m.mountpoint).WithError(err).Warn("automatic mountpoint left in place")
		}
	})
	return m.waitErr
}

// Unmount unmounts; it fails (EBUSY, naming the processes where the
// system tells) while files are open.
func (m *Mount) Unmount() error { return m.unmount(false) }

// Detach lazily unmounts: the mount disappears from the namespace now and
// is served until the last open file is closed (Linux; elsewhere it
// forces the unmount).
func (m *Mount) Detach() error { return m.unmount(true) }
