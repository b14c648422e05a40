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
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/fs/gofuse"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/mounter/automp"
)

// FSType is the file system type the kernel shows for our mounts.
const FSType = "fuse.isofsd"

// DefaultReadAheadKB is the read-ahead set on the mount's backing device
// when we may (root): FUSE starts at 128 KiB; 1 MiB matches the largest
// request size and made first reads faster, 4 MiB slower
// (docs/benchmarks.md).
const DefaultReadAheadKB = 1024

// mountConfirmTimeout bounds the wait for the mount to show up in
// /proc/self/mountinfo after the kernel accepted it.
const mountConfirmTimeout = 5 * time.Second

// Errors reported before anything is mounted; the CLI maps them to its
// usage exit code.
var (
	// ErrNoFUSE means the kernel's FUSE device is missing.
	ErrNoFUSE = errors.New("FUSE is not available (/dev/fuse is missing; load the fuse module or install fuse3)")
	// ErrBusy means something is already mounted on the mountpoint.
	ErrBusy = errors.New("mountpoint is busy")
	// ErrMountpoint means the mountpoint is missing or not a directory.
	ErrMountpoint = errors.New("bad mountpoint")
	// ErrImage means the image could not be opened or read.
	ErrImage = errors.New("cannot open image")
	// ErrNotMounted is returned by Unmount for a path nothing is mounted on.
	ErrNotMounted = errors.New("not mounted")
)

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
	// AllowOther lets other users use the mount.
	AllowOther bool
	// MountOptions are extra -o options for the kernel.
	MountOptions []string
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
	// autoDir is the directory New made for the mount (nil when the
	// caller gave the mountpoint); Wait removes it.
	autoDir *automp.Dir

	waitOnce sync.Once
	waitErr  error
}

// FuseDevice is the kernel device FUSE mounts need.
const FuseDevice = "/dev/fuse"

// Mount checks everything, clears a stale mount at the mountpoint,
// mounts the image and returns once /proc/self/mountinfo shows it.
func New(ctx context.Context, o Options) (*Mount, error) {
	log := o.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(os.Stderr)
		log = l
	}
	o.Log = log
	auto := o.Mountpoint == ""
	var mp string
	var err error
	if !auto {
		if mp, err = filepath.Abs(o.Mountpoint); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
		}
	}
	if _, err := os.Stat(FuseDevice); err != nil {
		return nil, ErrNoFUSE
	}
	imgPath := o.Image
	if o.OpenImage == nil {
		if imgPath, err = filepath.Abs(o.Image); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrImage, o.Image, err)
		}
	}
	if !auto {
		if err := prepareMountpoint(mp, log); err != nil {
			return nil, err
		}
		if real, err := filepath.EvalSymlinks(mp); err == nil {
			mp = real
		}
	}
	var (
		img      *isofmt.Image
		closeImg func() error
	)
	isoOpts := &isofmt.Options{CacheSize: o.CacheSize, Tree: o.Tree}
	if o.OpenImage != nil {
		img, closeImg, err = o.OpenImage(isoOpts)
	} else if img, err = isofmt.OpenFile(imgPath, isoOpts); err == nil {
		closeImg = img.Close
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrImage, err)
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
	for _, w := range img.Warnings() {
		log.WithField("image", imgPath).Warn(w)
	}
	if err := ctx.Err(); err != nil {
		closeImg()
		return nil, err
	}
	var autoDir *automp.Dir
	if auto {
		place := automp.DefaultConfig()
		if o.AutoPlace != nil {
			place = *o.AutoPlace
		}
		if autoDir, err = place.Create(img.Info().Label(), imgPath); err != nil {
			closeImg()
			return nil, fmt.Errorf("%w: %v", ErrMountpoint, err)
		}
		mp = autoDir.Path
	}
	var server fuseServer
	switch o.Backend {
	case "", "gofuse":
		server, err = gofuse.Mount(mp, tree, gofuse.Options{
			Source: imgPath, AllowOther: o.AllowOther, Splice: o.Splice, Xattr: o.Xattr, DirReadAhead: o.Prefetch,
			ExtraOptions: o.MountOptions, Debug: o.Debug, Log: log,
		})
	case "cgofuse":
		server, err = cgofuse.Mount(mp, tree, cgofuse.Options{
			Source: imgPath, AllowOther: o.AllowOther, ExtraOptions: o.MountOptions, Debug: o.Debug, Log: log,
		})
	default:
		err = fmt.Errorf("unknown backend %q", o.Backend)
	}
	if err != nil {
		closeImg()
		if autoDir != nil {
			autoDir.Remove()
		}
		return nil, fmt.Errorf("mount %s on %s: %w", imgPath, mp, err)
	}
	m := &Mount{opts: o, mountpoint: mp, img: img, closeImg: closeImg, tree: tree, server: server, autoDir: autoDir}
	info, err := waitMountInfo(ctx, mp)
	if err != nil {
		m.Unmount()
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

// prepareMountpoint checks mp and clears a stale FUSE mount left there by
// a daemon that was killed (its directory fails with ENOTCONN).
func prepareMountpoint(mp string, log logrus.FieldLogger) error {
	st, err := os.Stat(mp)
	if errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED) {
		log.WithField("mountpoint", mp).Warn("clearing a stale mount (transport endpoint is not connected)")
		if uerr := Unmount(mp, true); uerr != nil && !errors.Is(uerr, ErrNotMounted) {
			return fmt.Errorf("%w: %s: stale mount could not be cleared: %v", ErrBusy, mp, uerr)
		}
		st, err = os.Stat(mp)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMountpoint, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrMountpoint, mp)
	}
	if real, err := filepath.EvalSymlinks(mp); err == nil {
		mp = real
	}
	if mi, ok, err := FindMount(mp); err == nil && ok {
		return fmt.Errorf("%w: %s already has %s (%s) mounted on it; unmount it first", ErrBusy, mp, mi.Source, mi.FSType)
	}
	return nil
}

// waitMountInfo polls until the mount appears in /proc/self/mountinfo.
func waitMountInfo(ctx context.Context, mp string) (MountInfo, error) {
	deadline := time.Now().Add(mountConfirmTimeout)
	for delay := 200 * time.Microsecond; ; delay = min(delay*2, 50*time.Millisecond) {
		mi, ok, err := FindMount(mp)
		if err != nil {
			return MountInfo{}, fmt.Errorf("confirm mount: %w", err)
		}
		if ok && mi.FSType == FSType {
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

// fuseServer is what both FUSE backends return.
type fuseServer interface {
	Wait()
	Unmount() error
}

// BytesRead is the file data served so far.
func (m *Mount) BytesRead() int64 { return m.tree.BytesRead() }

// Lookups and ReadDirs count the name lookups and directory listings
// served so far.
func (m *Mount) Lookups() int64 { return m.tree.Lookups() }

// ReadDirs counts the directory listings served so far.
func (m *Mount) ReadDirs() int64 { return m.tree.ReadDirs() }

// Mountpoint is the absolute mountpoint.
func (m *Mount) Mountpoint() string { return m.mountpoint }

// Image is the mounted image.
func (m *Mount) Image() *isofmt.Image { return m.img }

// AutoMountpoint reports whether New made the mountpoint (and Wait
// removes it).
func (m *Mount) AutoMountpoint() bool { return m.autoDir != nil }

// Device is the mount's device number as major, minor.
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

// Unmount unmounts; it fails (EBUSY) while files are open.
func (m *Mount) Unmount() error { return m.server.Unmount() }

// Detach lazily unmounts: the mount disappears from the namespace now and
// is served until the last open file is closed.
func (m *Mount) Detach() error { return Unmount(m.mountpoint, true) }

// Fusermount finds fusermount3 (or fusermount) in PATH, then /bin and
// /usr/bin: systemd runs mount helpers with an empty PATH.
func Fusermount() (string, error) {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
		for _, dir := range []string{"/bin", "/usr/bin"} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
		}
	}
	return "", errors.New("fusermount3 not found in PATH, /bin or /usr/bin (install fuse3)")
}

// Unmount unmounts the FUSE mount at mountpoint (lazily if asked): with
// umount2 when permitted, else with fusermount3 -u.
func Unmount(mountpoint string, lazy bool) error {
	mp, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(mp); err == nil {
		mp = real
	}
	if _, ok, err := FindMount(mp); err == nil && !ok {
		return fmt.Errorf("%s: %w", mp, ErrNotMounted)
	}
	flags := 0
	if lazy {
		flags = syscall.MNT_DETACH
	}
	err = syscall.Unmount(mp, flags)
	// A file closed a moment ago can still hold the mount while the
	// kernel finishes releasing it: give that up to a second before
	// calling the mount busy.
	for wait := 0; errors.Is(err, syscall.EBUSY) && wait < 20; wait++ {
		time.Sleep(50 * time.Millisecond)
		err = syscall.Unmount(mp, flags)
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("unmount %s: %w (files are open or a process is inside; use --lazy)", mp, err)
	}
	if !errors.Is(err, syscall.EPERM) {
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	bin, ferr := Fusermount()
	if ferr != nil {
		return fmt.Errorf("unmount %s: %v; %w", mp, err, ferr)
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(bin, append(args, "--", mp)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unmount %s: %s: %v", mp, strings.TrimSpace(string(out)), err)
	}
	return nil
}
