//go:build linux

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"golang.org/x/sys/unix"
)

// smallImage builds a Rock Ridge image with a few files whose data lie
// in a known order: a.bin, b.bin, c.bin (1 MiB each), then tail.bin.
func smallImage(t *testing.T) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	for _, n := range []string{"a.bin", "b.bin", "c.bin", "tail.bin"} {
		writeFile(t, filepath.Join(src, n), 1<<20)
	}
	img := filepath.Join(d, "small.iso")
	xorriso(t, "-as", "mkisofs", "-R", "-o", img, src)
	return img
}

// foreground starts `isofsd mount -f` and returns once it reports
// READY (see startReady).
func foreground(t *testing.T, image, mp string, extra ...string) (*exec.Cmd, *isotest.SyncBuffer) {
	t.Helper()
	cmd, logBuf := startReady(t, nil, append(append([]string{"mount", "-f"}, extra...), image, mp)...)
	t.Cleanup(func() {
		if isMounted(t, mp) {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, logBuf
}

// waitExit waits for cmd with a timeout and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		// Do not wait again: a process stuck on its own mount never exits.
		cmd.Process.Kill()
		t.Fatalf("isofsd did not exit within %v", d)
		return -1
	}
}

func newMountpoint(t *testing.T) string {
	mp := filepath.Join(t.TempDir(), "mnt")
	must(t, os.Mkdir(mp, 0o755))
	return mp
}

// TestSignalsUnmount: SIGTERM and SIGINT unmount cleanly and exit 0.
func TestSignalsUnmount(t *testing.T) {
	img := smallImage(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			mp := newMountpoint(t)
			cmd, logBuf := foreground(t, img, mp)
			if _, err := os.ReadFile(filepath.Join(mp, "a.bin")); err != nil {
				t.Fatal(err)
			}
			must(t, cmd.Process.Signal(sig))
			if code := waitExit(t, cmd, 10*time.Second); code != 0 {
				t.Errorf("exit %d after %v: %s", code, sig, logBuf)
			}
			if isMounted(t, mp) {
				t.Errorf("still mounted after %v", sig)
			}
		})
	}
}

// TestStaleMountCleared: after kill -9 the mountpoint fails with
// ENOTCONN; the next mount clears it.
func TestStaleMountCleared(t *testing.T) {
	img := smallImage(t)
	mp := newMountpoint(t)
	cmd, _ := foreground(t, img, mp)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	waitExit(t, cmd, 10*time.Second)
	if _, err := os.Stat(mp); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("after kill -9: stat %v, want ENOTCONN", err)
	}
	out, code := run(t, "mount", img, mp)
	if code != 0 {
		t.Fatalf("mount over a stale mount: exit %d: %s", code, out)
	}
	m := &mounted{mp: mp}
	t.Cleanup(func() { m.unmount(t) })
	if b, err := os.ReadFile(filepath.Join(mp, "b.bin")); err != nil || len(b) != 1<<20 {
		t.Fatalf("read after remount: %d bytes, %v", len(b), err)
	}
}

// TestBusyMountpoint: a second mount on a live mount is refused before
// anything changes; the first keeps working.
func TestBusyMountpoint(t *testing.T) {
	img := smallImage(t)
	m := mountImage(t, img)
	out, code := run(t, "mount", img, m.mp)
	if code != 2 || !strings.Contains(out, "busy") {
		t.Errorf("second mount: exit %d %q, want exit 2 and \"busy\"", code, out)
	}
	if _, err := os.ReadFile(filepath.Join(m.mp, "c.bin")); err != nil {
		t.Errorf("first mount broken: %v", err)
	}
}

// TestMountErrors: clear errors, exit 2, nothing mounted.
func TestMountErrors(t *testing.T) {
	isotest.RequireFUSE(t)
	img := smallImage(t)
	d := t.TempDir()
	notISO := filepath.Join(d, "not.iso")
	writeFile(t, notISO, 100000)
	file := filepath.Join(d, "file")
	writeFile(t, file, 1)
	for _, tc := range []struct {
		name, image, mp, want string
	}{
		{"not-an-iso", notISO, "", "not an ISO"},
		{"missing-image", filepath.Join(d, "missing.iso"), "", "no such file"},
		{"missing-mountpoint", img, filepath.Join(d, "nowhere"), "no such file"},
		{"mountpoint-is-a-file", img, file, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp := tc.mp
			if mp == "" {
				mp = newMountpoint(t)
			}
			out, code := run(t, "mount", tc.image, mp)
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d %q; want exit 2 and %q", code, out, tc.want)
			}
			if isMounted(t, mp) {
				t.Errorf("%s mounted after a failed mount", mp)
			}
		})
	}
}

// TestUnmountWhileOpen: a plain unmount refuses while a file is open;
// --lazy detaches, the open file stays readable, and the daemon exits
// once it is closed.
func TestUnmountWhileOpen(t *testing.T) {
	img := smallImage(t)
	mp := newMountpoint(t)
	cmd, logBuf := foreground(t, img, mp)
	f, err := os.Open(filepath.Join(mp, "a.bin"))
	must(t, err)
	defer f.Close()
	if out, code := run(t, "unmount", mp); code == 0 || !strings.Contains(out, "busy") {
		t.Errorf("unmount with an open file: exit %d %q, want failure naming busy", code, out)
	}
	if !isMounted(t, mp) {
		t.Fatal("failed unmount removed the mount")
	}
	if out, code := run(t, "unmount", "--lazy", mp); code != 0 {
		t.Fatalf("unmount --lazy: exit %d %s", code, out)
	}
	if isMounted(t, mp) {
		t.Error("still in mountinfo after a lazy unmount")
	}
	b, err := io.ReadAll(f)
	if err != nil || len(b) != 1<<20 {
		t.Errorf("open file after lazy unmount: %d bytes, %v", len(b), err)
	}
	f.Close()
	if code := waitExit(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("daemon exit %d: %s", code, logBuf)
	}
}

// TestTruncatedUnderLiveMount: cutting the image short under a live
// mount gives EIO (and a log line) for data beyond the cut; the mount
// stays alive and data before the cut stays readable.
func TestTruncatedUnderLiveMount(t *testing.T) {
	for _, splice := range []string{"on", "off"} {
		t.Run("splice-"+splice, func(t *testing.T) {
			src := smallImage(t)
			img := filepath.Join(t.TempDir(), "live.iso")
			b, err := os.ReadFile(src)
			must(t, err)
			must(t, os.WriteFile(img, b, 0o644))
			rep := reportLBA(t, img)
			m := mountImage(t, img, "--splice", splice)
			cut := rep["b.bin"][0][0]*2048 + 4096
			must(t, os.Truncate(img, cut))
			_, err = os.ReadFile(filepath.Join(m.mp, "c.bin"))
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("read of c.bin beyond the cut: %v, want EIO", err)
			}
			f, err := os.Open(filepath.Join(m.mp, "b.bin"))
			must(t, err)
			head := make([]byte, 4096)
			if _, err := f.ReadAt(head, 0); err != nil {
				t.Errorf("b.bin before the cut: %v", err)
			}
			if _, err := f.ReadAt(head, 1<<19); !errors.Is(err, syscall.EIO) {
				t.Errorf("b.bin after the cut: %v, want EIO", err)
			}
			f.Close()
			if a, err := os.ReadFile(filepath.Join(m.mp, "a.bin")); err != nil || !bytes.Equal(a, b[rep["a.bin"][0][0]*2048:][:1<<20]) {
				t.Errorf("a.bin (before the cut): %v", err)
			}
			if _, err := os.ReadDir(m.mp); err != nil {
				t.Errorf("mount died: %v", err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for !strings.Contains(readLog(m.log), "c.bin") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if log := readLog(m.log); !strings.Contains(log, "c.bin") || !strings.Contains(log, "truncated") {
				t.Errorf("no log line naming c.bin and the truncation:\n%s", log)
			}
		})
	}
}

// TestInodesStableAcrossRemounts: every path has the same inode number
// in two separate mounts.
func TestInodesStableAcrossRemounts(t *testing.T) {
	img := smallImage(t)
	inodes := func() map[string]uint64 {
		m := mountImage(t, img)
		out := map[string]uint64{}
		for p, e := range scan(t, m.mp, false) {
			out[p] = e.ino
		}
		m.unmount(t)
		return out
	}
	a, b := inodes(), inodes()
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) < 5 {
		t.Errorf("inodes differ across mounts:\n%v\n%v", a, b)
	}
}

// TestOwnershipFlags: --uid/--gid/--umask apply to a Joliet tree.
func TestOwnershipFlags(t *testing.T) {
	isotest.RequireTool(t, "genisoimage")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	writeFile(t, filepath.Join(src, "dir", "file.txt"), 10)
	img := filepath.Join(d, "j.iso")
	if out, err := exec.Command("genisoimage", "-J", "-quiet", "-o", img, src).CombinedOutput(); err != nil {
		t.Fatalf("genisoimage: %v %s", err, out)
	}
	m := mountImage(t, img, "--uid", "1234", "--gid", "5678", "--umask", "027")
	for p, want := range map[string]os.FileMode{"dir": os.ModeDir | 0o550, "dir/file.txt": 0o440} {
		fi, err := os.Stat(filepath.Join(m.mp, p))
		must(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != want || st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: %v %d:%d, want %v 1234:5678", p, fi.Mode(), st.Uid, st.Gid, want)
		}
	}
}

// TestBootDirectory: --boot shows the El Torito images, byte for byte
// the files they were made from, under a hidden directory.
func TestBootDirectory(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	isotest.RequireTool(t, "mkfs.vfat")
	d := t.TempDir()
	src := filepath.Join(d, "src")
	writeFile(t, filepath.Join(src, "boot", "bios.img"), 2048)
	efi := filepath.Join(src, "boot", "efi.img")
	if out, err := exec.Command("mkfs.vfat", "-C", efi, "1440").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v %s", err, out)
	}
	img := filepath.Join(d, "boot.iso")
	xorriso(t, "-as", "mkisofs", "-R", "-o", img, "-b", "boot/bios.img", "-no-emul-boot", "-boot-load-size", "4",
		"-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot", src)
	m := mountImage(t, img, "--boot")
	ents, err := os.ReadDir(filepath.Join(m.mp, ".isofsd-boot"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, n := range []string{"bios.img", "efi.img"} {
		b, err := os.ReadFile(filepath.Join(src, "boot", n))
		must(t, err)
		want[n] = b
	}
	matched := map[string]bool{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(m.mp, ".isofsd-boot", e.Name()))
		must(t, err)
		for n, w := range want {
			if bytes.Equal(b, w) {
				matched[n] = true
			}
		}
	}
	if len(ents) != 2 || len(matched) != 2 {
		t.Errorf("boot directory has %d entries matching %v; want both bios.img and efi.img", len(ents), matched)
	}
	root, _ := os.ReadDir(m.mp)
	found := false
	for _, e := range root {
		found = found || e.Name() == ".isofsd-boot"
	}
	if !found {
		t.Error("root listing lacks .isofsd-boot")
	}
	plain := mountImage(t, img)
	if _, err := os.Stat(filepath.Join(plain.mp, ".isofsd-boot")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("without --boot: %v, want not found", err)
	}
}

// TestXattrOff: without --xattr the mount has no extended attributes
// (the kernel stops asking after the first ENOTSUP).
func TestXattrOff(t *testing.T) {
	img := smallImage(t)
	m := mountImage(t, img)
	buf := make([]byte, 64)
	if _, err := unix.Getxattr(filepath.Join(m.mp, "a.bin"), "user.isofsd.lba", buf); !errors.Is(err, unix.ENOTSUP) {
		t.Errorf("getxattr without --xattr: %v, want ENOTSUP", err)
	}
}

// TestSIGTERMRightAfterReady: systemd may stop a mount the moment it
// reports READY=1. The SIGTERM must unmount cleanly, not kill the process
// outright: the handlers used to be installed just after READY, which left
// a stale mount now and then (seen in CI).
func TestSIGTERMRightAfterReady(t *testing.T) {
	isotest.RequireFUSE(t)
	img := smallImage(t)
	notify := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	must(t, err)
	defer conn.Close()
	buf := make([]byte, 4096)
	for i := range 30 {
		mp := newMountpoint(t)
		cmd := exec.Command(isofsdBin, "mount", "-f", img, mp)
		var log isotest.SyncBuffer
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notify)
		must(t, cmd.Start())
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || !strings.Contains(string(buf[:n]), "READY=1") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: no READY=1 (%q, %v)\n%s", i, buf[:n], err, log.String())
		}
		must(t, cmd.Process.Signal(syscall.SIGTERM))
		code := waitExit(t, cmd, 10*time.Second)
		if isMounted(t, mp) {
			syscall.Unmount(mp, syscall.MNT_DETACH)
			t.Fatalf("round %d: still mounted after a SIGTERM right after READY (exit %d)\n%s", i, code, log.String())
		}
		if code != 0 {
			t.Fatalf("round %d: exit %d after a SIGTERM right after READY\n%s", i, code, log.String())
		}
	}
}
