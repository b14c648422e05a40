//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// The attacker of TestExtractFIFOSwapRace runs as a second user: this
// test binary started again with these variables set.
const (
	swapperDirEnv    = "ISOFSD_TEST_SWAP_DIR"
	swapperTargetEnv = "ISOFSD_TEST_SWAP_TARGET"
)

// testHelper runs the test binary's helper roles; ok is false when none
// was asked for.
func testHelper() (code int, ok bool) {
	if dir := os.Getenv(swapperDirEnv); dir != "" {
		return runSwapper(dir, os.Getenv(swapperTargetEnv)), true
	}
	return 0, false
}

// runSwapper watches dir and, as soon as an entry f* appears there,
// renames a symlink to target over it — what a user who can write a
// shared drop folder does to a root process creating entries in it. It
// stops when .stop appears and prints the number of swaps.
func runSwapper(dir, target string) int {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err == nil {
		_, err = unix.InotifyAddWatch(fd, dir, unix.IN_CREATE)
	}
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	swaps := 0
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			switch {
			case name == ".stop":
				fmt.Println("swaps", swaps)
				return 0
			case strings.HasPrefix(name, "f"):
				tmp := filepath.Join(dir, ".s"+name)
				if os.Symlink(target, tmp) == nil && os.Rename(tmp, filepath.Join(dir, name)) == nil {
					swaps++
				}
			}
		}
	}
}

// TestExtractFIFOSwapRace (issue 16 item 2) is the privilege test: root
// extracts an image of 3000 FIFOs with mode 4777 into a drop folder that
// a second user (a real one, made for the test) can write, while that
// user's process renames a symlink to a root-owned 0600 file over each
// FIFO the moment it appears. The file must keep its mode, owner and
// content: no metadata call may follow a name. Before, chmod used
// fchmodat(dir, name, mode, 0), which followed the swapped-in symlink and
// made the file -rwsrwxrwx. Each FIFO swapped before its metadata was set
// is now reported ("replaced by another process") and left alone.
func TestExtractFIFOSwapRace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: root extracts while a second user attacks")
	}
	bin := isofsdBinary(t)
	u := isotest.NewUser(t, "isoxa")
	uid, gid := u.UID, u.GID
	base, err := os.MkdirTemp("", "isoxa-race-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(base, 0o755))
	target := filepath.Join(base, "secret")
	must(os.WriteFile(target, []byte("secret"), 0o600))
	drop := filepath.Join(base, "drop")
	must(os.Mkdir(drop, 0o755))
	must(os.Chown(drop, uid, gid))
	// The attacker: this test binary, where the second user can run it.
	self, err := os.Executable()
	must(err)
	helper := filepath.Join(base, "swapper")
	copyFileMode(t, self, helper, 0o755)

	src := filepath.Join(t.TempDir(), "src")
	must(os.Mkdir(src, 0o755))
	for i := range 3000 {
		p := filepath.Join(src, fmt.Sprintf("f%04d", i))
		must(unix.Mkfifo(p, 0o644))
		must(unix.Chmod(p, 0o4777))
	}
	iso := filepath.Join(t.TempDir(), "fifos.iso")
	runTool(t, "xorriso", "-outdev", iso, "-map", src, "/")

	sw := u.Command(helper)
	sw.Env = append(sw.Env, swapperDirEnv+"="+drop, swapperTargetEnv+"="+target)
	swOut, err := sw.StdoutPipe()
	must(err)
	must(sw.Start())
	t.Cleanup(func() { sw.Process.Kill(); sw.Wait() })
	lines := bufio.NewScanner(swOut)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("attacker did not start: %q", lines.Text())
	}

	ext := exec.Command(bin, "extract", iso, "-C", drop)
	var stderr bytes.Buffer
	ext.Stderr = &stderr
	err = ext.Run()
	code := ext.ProcessState.ExitCode()
	must(os.WriteFile(filepath.Join(drop, ".stop"), nil, 0o644))
	var swaps int
	if lines.Scan() {
		fmt.Sscanf(lines.Text(), "swaps %d", &swaps)
	}
	io.Copy(io.Discard, swOut)

	var st unix.Stat_t
	must(unix.Stat(target, &st))
	if st.Mode&0o7777 != 0o600 || st.Uid != 0 {
		t.Errorf("%s: mode %o owner %d after the extraction; want 0600 and root (the attacker swapped %d FIFOs)", target, st.Mode&0o7777, st.Uid, swaps)
	}
	if b, _ := os.ReadFile(target); string(b) != "secret" {
		t.Errorf("%s: content changed: %q", target, b)
	}
	if code != exitOK && code != exitDamaged {
		t.Errorf("extract: exit %d (%v)\n%s", code, err, stderr.String())
	}
	if swaps == 0 {
		t.Fatalf("the attacker swapped no FIFO: the test proved nothing\n%s", stderr.String())
	}
	t.Logf("attacker swapped %d of 3000 FIFOs; %d were caught before their metadata was set", swaps, strings.Count(stderr.String(), "replaced by another process"))
}

func copyFileMode(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// TestExtractPlantedDestination (review S6) is the privilege test of
// -C DIR itself: a real second user plants "out -> a directory of
// root's" in a sticky world-writable folder (as /tmp), and root's
// `extract IMG -C .../out` refuses it (exit 2, naming the symlink's
// owner) instead of writing where it points; the user's own symlink, in
// the same folder, still leads the user's own extraction. Before, -C was
// opened with MkdirAll and a plain open, both following the symlink.
func TestExtractPlantedDestination(t *testing.T) {
	u := isotest.NewUser(t, "isoxj")
	_, _, iso := richImage(t)
	base, err := os.MkdirTemp("", "isoxj-dest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o1777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(base, "victim")
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(base, "out")
	if out, code := u.Run(t, "ln", "-s", victim, planted); code != 0 {
		t.Fatalf("ln -s as %s: %s", u.Name, out)
	}
	_, stderr, code := cliRun(t, "extract", iso, "-C", planted)
	if code != exitUsage || !strings.Contains(stderr, fmt.Sprintf("symlink owned by uid %d", u.UID)) {
		t.Errorf("root's extract into %s planted by %s: exit %d, want %d naming the symlink's owner\n%s", planted, u.Name, code, exitUsage, stderr)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 0 {
		t.Errorf("written through the planted symlink into %s: %d entries", victim, len(ents))
	}

	// The user's own symlink leads the user's own extraction.
	bin := filepath.Join(base, "isofsd")
	copyFileMode(t, isofsdBinary(t), bin, 0o755)
	img := filepath.Join(base, "img.iso")
	copyFileMode(t, iso, img, 0o644)
	if out, code := u.Run(t, "sh", "-c", `mkdir "$0/mine" && ln -s mine "$0/mylink"`, base); code != 0 {
		t.Fatalf("as %s: %s", u.Name, out)
	}
	if out, code := u.Run(t, bin, "extract", img, "-C", filepath.Join(base, "mylink"), "a.txt"); code != 0 {
		t.Errorf("%s's extract through its own symlink: exit %d\n%s", u.Name, code, out)
	}
	if b, err := os.ReadFile(filepath.Join(base, "mine", "a.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("mine/a.txt: %q %v", b, err)
	}
}
