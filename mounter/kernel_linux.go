//go:build linux

package mounter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The kernel side of a Linux mount is made here, not by the FUSE
// libraries: mounter opens /dev/fuse and calls mount(2) itself (root), or
// runs fusermount3 and receives the descriptor (everyone else), and hands
// the backend the connection as libfuse's "/dev/fd/N" mountpoint. That
// keeps in one place what every mount gets whatever asked for it —
// read-only, nosuid, nodev, default_permissions — lets a root mount land
// on the directory descriptor that was checked (/proc/self/fd/N, so no
// symlink swapped in afterwards is followed), and lets fusermount3's own
// message reach the user (go-fuse hands it our stderr, which a detached
// mount has closed, and reports only its exit status).

// kernelRequest is what the kernel is asked for one mount.
type kernelRequest struct {
	// Source is the mount's source in mountinfo: the image.
	Source string
	// AllowOther lets other users use the mount.
	AllowOther bool
	// TrustImageSuid lifts nosuid,nodev.
	TrustImageSuid bool
	// Flags are per-mount options that passed sanitizeKernelOptions.
	Flags []string
	// MaxRead caps read requests (0: the kernel's default).
	MaxRead int
}

// flagBits maps per-mount options onto mount(2) flags.
var flagBits = map[string]uintptr{
	"noexec": unix.MS_NOEXEC, "exec": 0, "noatime": unix.MS_NOATIME, "relatime": unix.MS_RELATIME,
	"nodiratime": unix.MS_NODIRATIME, "strictatime": unix.MS_STRICTATIME, "lazytime": unix.MS_LAZYTIME,
}

// maxFusermountOutput bounds what is kept of fusermount3's messages.
const maxFusermountOutput = 4096

// mountKernel mounts a FUSE file system on dir (an O_PATH descriptor of
// the mountpoint, whose real path is path) and returns the /dev/fuse
// connection the backend serves.
func mountKernel(dir *os.File, path string, r kernelRequest) (*os.File, error) {
	if os.Geteuid() == 0 {
		dev, err := mountDirect(dir, r)
		if err == nil || !errors.Is(err, syscall.EPERM) {
			return dev, err
		}
		// Root without CAP_SYS_ADMIN (a user namespace): fusermount3.
	}
	return mountFusermount(path, r)
}

// mountDirect calls mount(2) on /proc/self/fd/N: the kernel follows that
// link to the very directory dir was opened on.
func mountDirect(dir *os.File, r kernelRequest) (*os.File, error) {
	dev, err := os.OpenFile(FuseDevice, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFUSE, err)
	}
	flags := uintptr(unix.MS_RDONLY)
	if !r.TrustImageSuid {
		flags |= unix.MS_NOSUID | unix.MS_NODEV
	}
	for _, f := range r.Flags {
		flags |= flagBits[f]
	}
	data := []string{fmt.Sprintf("fd=%d", dev.Fd()), fmt.Sprintf("rootmode=%o", unix.S_IFDIR),
		fmt.Sprintf("user_id=%d", os.Geteuid()), fmt.Sprintf("group_id=%d", os.Getegid()), "default_permissions"}
	if r.AllowOther {
		data = append(data, "allow_other")
	}
	if r.MaxRead > 0 {
		data = append(data, fmt.Sprintf("max_read=%d", r.MaxRead))
	}
	target := fmt.Sprintf("/proc/self/fd/%d", dir.Fd())
	if err := unix.Mount(r.Source, target, FSType, flags, strings.Join(data, ",")); err != nil {
		dev.Close()
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: mount(2): %w", ErrRefused, err)
		}
		return nil, fmt.Errorf("mount(2): %w", err)
	}
	return dev, nil
}

// fusermountEscape escapes an option value for fusermount3's -o list.
func fusermountEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`).Replace(s)
}

// mountFusermount has fusermount3 (setuid root) mount for us: it checks
// that we may (our directory, allow_other only with user_allow_other…),
// mounts, and passes the /dev/fuse descriptor back over a socket
// (_FUSE_COMMFD, the protocol libfuse uses). For a user other than root
// it makes the mount nosuid,nodev whatever it is asked.
func mountFusermount(path string, r kernelRequest) (*os.File, error) {
	bin, err := Fusermount()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFUSE, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("fusermount3: socketpair: %w", err)
	}
	local, remote := os.NewFile(uintptr(fds[0]), "fusermount-local"), os.NewFile(uintptr(fds[1]), "fusermount-remote")
	defer local.Close()
	opts := []string{"ro", "default_permissions", "subtype=isofsd", "fsname=" + fusermountEscape(r.Source)}
	if !r.TrustImageSuid {
		opts = append(opts, "nosuid", "nodev")
	}
	if r.AllowOther {
		opts = append(opts, "allow_other")
	}
	if r.MaxRead > 0 {
		opts = append(opts, fmt.Sprintf("max_read=%d", r.MaxRead))
	}
	opts = append(opts, r.Flags...)
	cmd := exec.Command(bin, "-o", strings.Join(opts, ","), "--", path)
	cmd.Env = []string{"_FUSE_COMMFD=3"}
	cmd.ExtraFiles = []*os.File{remote}
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	remote.Close()
	if err != nil {
		msg := strings.TrimSpace(out.String())
		if msg == "" {
			msg = fmt.Sprintf("%s: %v", bin, err)
		}
		return nil, fmt.Errorf("%w: %s", ErrRefused, msg)
	}
	dev, err := receiveFD(local)
	if err != nil {
		return nil, fmt.Errorf("fusermount3: %w", err)
	}
	return dev, nil
}

// receiveFD reads the one descriptor fusermount3 sends.
func receiveFD(sock *os.File) (*os.File, error) {
	buf := make([]byte, 1)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving the FUSE descriptor: %w", err)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("exited without passing the FUSE descriptor")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("bad control message (%v)", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("bad descriptor message (%v)", err)
	}
	return os.NewFile(uintptr(fds[0]), FuseDevice), nil
}

// limitedBuffer keeps the first maxFusermountOutput bytes written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxFusermountOutput - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }

// serveFD is the descriptor a FUSE library is told to serve: libfuse's
// "/dev/fd/N" mountpoint. The library gets its own close-on-exec copy,
// which it closes when it stops serving.
func serveFD(dev *os.File) (string, error) {
	fd, err := unix.FcntlInt(dev.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return "", fmt.Errorf("dup of the FUSE descriptor: %w", err)
	}
	return fmt.Sprintf("/dev/fd/%d", fd), nil
}

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

// unmountKernel unmounts path (lazily if asked), never following a
// symlink in its last element: with umount2 when permitted, else with
// fusermount3 -u, whose own message is kept. A file closed a moment ago
// can still hold the mount while the kernel finishes releasing it, so
// EBUSY is retried for up to a second.
func unmountKernel(path string, lazy bool) error {
	flags := unix.UMOUNT_NOFOLLOW
	if lazy {
		flags |= unix.MNT_DETACH
	}
	err := unix.Unmount(path, flags)
	for wait := 0; errors.Is(err, syscall.EBUSY) && wait < 20; wait++ {
		time.Sleep(50 * time.Millisecond)
		err = unix.Unmount(path, flags)
	}
	if err == nil || !errors.Is(err, syscall.EPERM) {
		return err
	}
	bin, ferr := Fusermount()
	if ferr != nil {
		return fmt.Errorf("%v; %w", err, ferr)
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	var out limitedBuffer
	cmd := exec.Command(bin, append(args, "--", path)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if strings.Contains(msg, "Device or resource busy") {
			return syscall.EBUSY
		}
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return nil
}

// isStale reports whether the FUSE mount at path has lost its server
// (killed): such a mount fails every request with ENOTCONN. The
// attributes are asked for with AT_STATX_FORCE_SYNC, since a plain stat
// of a mount root the kernel has cached (default_permissions caches it on
// the first path walk, for a day) succeeds without asking anyone.
func isStale(path string) bool {
	var st unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC, unix.STATX_TYPE, &st)
	return errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}
