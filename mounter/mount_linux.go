//go:build linux

package mounter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	isofs "github.com/isofsd/isofsd/fs"
	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/fs/gofuse"
	"github.com/isofsd/isofsd/internal/mountinfo"
)

// DefaultBackend is the FUSE library mounts use unless told otherwise.
const DefaultBackend = "gofuse"

// CheckTrustImageSuid refuses --trust-image-suid where it cannot be
// honoured: fusermount3 makes every mount of a user other than root
// nosuid,nodev, whatever it is asked, so a promise that setuid programs
// will take effect would be false.
func CheckTrustImageSuid() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: --trust-image-suid (trust_image_suid) needs root: fusermount3 mounts every mount of uid %d nosuid,nodev", ErrBadOption, os.Geteuid())
	}
	return nil
}

// gofuseAvailable: go-fuse serves Linux mounts.
const gofuseAvailable = true

// FuseDevice is the kernel device FUSE mounts need.
const FuseDevice = "/dev/fuse"

// target is the mountpoint, opened once (O_PATH) so that the mount lands
// on the directory that was checked.
type target struct {
	dir  *os.File
	path string // its real path
}

func (t *target) close() { t.dir.Close() }

// reopenPath names an open file so that opening the name opens that very
// file.
func reopenPath(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// openTarget opens the mountpoint (O_PATH) after clearing a stale isofsd
// mount left there by a killed daemon (its directory fails with
// ENOTCONN) and checks that it is a directory nothing is mounted on.
func openTarget(o Options, log logrus.FieldLogger) (*target, error) {
	if _, err := os.Stat(FuseDevice); err != nil {
		return nil, ErrNoFUSE
	}
	dir := o.MountpointDir
	if dir == nil {
		mp, err := filepath.Abs(o.Mountpoint)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
		}
		if isStale(mp) {
			log.WithField("mountpoint", mp).Warn("clearing a stale mount (transport endpoint is not connected)")
			if uerr := Unmount(mp, true); uerr != nil && !errors.Is(uerr, ErrNotMounted) {
				return nil, fmt.Errorf("%w: %s: stale mount could not be cleared: %v", ErrBusy, mp, uerr)
			}
		}
		fd, err := unix.Open(mp, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMountpoint, &os.PathError{Op: "open", Path: mp, Err: err})
		}
		dir = os.NewFile(uintptr(fd), mp)
	} else {
		// The caller keeps its descriptor; we close ours.
		fd, err := unix.FcntlInt(o.MountpointDir.Fd(), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMountpoint, o.Mountpoint, err)
		}
		dir = os.NewFile(uintptr(fd), o.Mountpoint)
	}
	mp, err := checkMountpoint(dir)
	if err != nil {
		dir.Close()
		return nil, err
	}
	return &target{dir: dir, path: mp}, nil
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
	mp, err := os.Readlink(reopenPath(dir))
	if err != nil || !filepath.IsAbs(mp) {
		return "", fmt.Errorf("%w: %s: cannot tell its path (%v)", ErrMountpoint, dir.Name(), err)
	}
	if root, known := isMountRoot(dir); known && !root {
		// Nothing mounted there: no need to read the mount table (a
		// daemon mounting a thousand images would read its thousand
		// lines a thousand times).
		return mp, nil
	}
	if mi, ok, err := FindMount(mp); err == nil && ok {
		return "", fmt.Errorf("%w: %s already has %s (%s) mounted on it; unmount it first", ErrBusy, mp, mi.Source, mi.FSType)
	}
	return mp, nil
}

// isMountRoot reports whether the directory dir is the root of a mount
// (something is mounted on the path it was opened by), from statx's
// STATX_ATTR_MOUNT_ROOT; known is false where the kernel (before 5.8)
// does not say.
func isMountRoot(dir *os.File) (root, known bool) {
	var stx unix.Statx_t
	if err := unix.Statx(int(dir.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, false
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, false
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, true
}

// checkEmpty refuses a mountpoint that has entries: the mount would hide
// them, silently. It reads one entry (bounded however big the
// directory); a directory we may not read is left to the mount.
func (t *target) checkEmpty() error { return checkEmpty(t.dir, t.path) }

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

// attach makes the kernel mount on t, starts the backend on the
// connection and confirms the mount in mountinfo.
func (m *Mount) attach(ctx context.Context, t *target, imgPath string, flags []string) error {
	o := m.opts
	req := kernelRequest{Source: imgPath, AllowOther: o.AllowOther, TrustImageSuid: o.TrustImageSuid, Flags: flags}
	if o.Backend == "gofuse" {
		req.MaxRead = gofuse.MaxRequest
		if o.MaxRequest > 0 {
			req.MaxRead = o.MaxRequest
		}
	}
	dev, err := mountKernel(t.dir, t.path, req)
	if err != nil {
		return fmt.Errorf("mount %s on %s: %w", imgPath, t.path, err)
	}
	m.server, err = serve(dev, m.tree, imgPath, o)
	dev.Close() // the backend serves its own copy
	if err != nil {
		unmountKernel(t.path, true)
		return fmt.Errorf("mount %s on %s: %w", imgPath, t.path, err)
	}
	m.info, err = confirmMount(ctx, t.path, o.TrustImageSuid, o.table)
	if err != nil {
		unmountKernel(t.path, true)
		m.server.Wait()
		return err
	}
	return nil
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
		MaxRequest: o.MaxRequest, Readers: o.Readers,
	})
}

// confirmMount waits until mountinfo shows our mount at mp and checks
// that it is read-only and, unless trusted, nosuid,nodev: READY is only
// ever reported for a mount that really is there as promised.
//
// table, if set, shares reads of the mount table between mounts being
// confirmed at the same time (a daemon mounting many).
func confirmMount(ctx context.Context, mp string, trusted bool, table *mountTable) (MountInfo, error) {
	deadline := time.Now().Add(mountConfirmTimeout)
	for delay := 200 * time.Microsecond; ; delay = min(delay*2, 50*time.Millisecond) {
		mi, ok, err := table.find(mp)
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
			if trusted && mountinfo.HasOption(mi.Options, "nosuid") {
				// (Root in a user namespace mounts through fusermount3.)
				return MountInfo{}, fmt.Errorf("%w: mount on %s came up nosuid although --trust-image-suid asked otherwise (options %s); unmounted", ErrRefused, mp, mi.Options)
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
	if err := checkOwner(mi); err != nil {
		return err
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

// reusableMountpoint reports whether the opened directory is an empty
// one nothing is mounted on.
func reusableMountpoint(dir *os.File, path string) bool {
	real, err := checkMountpoint(dir)
	return err == nil && checkEmpty(dir, real) == nil
}

// dirPath is the real path of the opened directory dir (named name).
func dirPath(dir *os.File, name string) (string, error) { return os.Readlink(reopenPath(dir)) }

// pickDrive: drive letters are Windows'.
func pickDrive(reserved func(drive string) bool) (string, error) {
	return "", fmt.Errorf("%w: %q (a free drive letter) is for Windows", ErrMountpoint, AnyDrive)
}

// find returns the topmost mount at mp in a copy of the table read after
// the call began. A nil table reads the file itself.
func (t *mountTable) find(mp string) (MountInfo, bool, error) {
	if t == nil {
		return FindMount(mp)
	}
	data, err := t.read()
	if err != nil {
		return MountInfo{}, false, err
	}
	return mountinfo.FindIn(bytes.NewReader(data), mp)
}
