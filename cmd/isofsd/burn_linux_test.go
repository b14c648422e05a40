package main

// End-to-end tests of `isofsd burn` and `isofsd drives` with the real
// binary and the real engine: libburn's stdio: pseudo-drives (a file, or a
// loop device for a disc of a fixed size) stand in for a drive and disc.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/isofsd/isofsd/burn"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// burnImage builds an ISO with xorriso (files of pad bytes extra in
// /big.bin) and an implanted isomd5sum checksum; it returns its path and
// where the data of /docs/second.bin starts in it.
func burnImage(t *testing.T, pad int) (string, int64) {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	isotest.RequireTool(t, "implantisomd5")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("optical media remember "), 30_000)
	for name, b := range map[string][]byte{"docs/readme.txt": []byte("read me\n"), "docs/second.bin": data, "big.bin": make([]byte, pad)} {
		if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(dir, "test.iso")
	runTool(t, "xorriso", "-outdev", img, "-map", src, "/", "-commit")
	runTool(t, "implantisomd5", img)
	im, err := isofmt.OpenFile(img, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	fi, err := im.Stat("docs/second.bin")
	if err != nil {
		t.Fatal(err)
	}
	return img, fi.Sys().(*isofmt.Stat).Extents[0].Offset
}

// burnRun runs the real binary with extra environment and returns its
// output and exit code.
func burnRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(isofsdBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

// loopDevice attaches a loop device over a new zeroed file of size bytes
// and detaches it in cleanup.
func loopDevice(t *testing.T, size int64) (dev, backing string) {
	t.Helper()
	requireRoot(t, "a loop device is a pseudo-drive with a fixed capacity")
	backing = filepath.Join(t.TempDir(), "disc.img")
	if err := os.WriteFile(backing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, size); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", backing).CombinedOutput()
	if err != nil {
		t.Skipf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev, backing
}

func checkisomd5Passes(t *testing.T, path string) bool {
	t.Helper()
	err := exec.Command("checkisomd5", path).Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return err == nil
}

func TestBurnPseudoDrive(t *testing.T) {
	isotest.RequireTool(t, "checkisomd5")
	img, _ := burnImage(t, 0)
	disc := filepath.Join(t.TempDir(), "disc")
	out, errOut, code := burnRun(t, nil, "burn", img, "stdio:"+disc)
	if code != 0 || !strings.Contains(out, "the disc matches the image over all") ||
		!strings.Contains(out, "implanted MD5 (isomd5sum) on the disc: ok") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	want, _ := os.ReadFile(img)
	got, _ := os.ReadFile(disc)
	if len(got) < len(want) || !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("the disc does not start with the image (%d and %d bytes)", len(got), len(want))
	}
	if !checkisomd5Passes(t, disc) {
		t.Fatal("checkisomd5 fails the burnt disc")
	}

	// The disc now holds data: a second burn must ask for --blank, once
	// and in plain words (review U2: it said "holds a stdio file,
	// overwriteable that is not blank", on stdout and stderr).
	out, errOut, code = burnRun(t, nil, "burn", img, "stdio:"+disc)
	refusal := "stdio:" + disc + " holds a pseudo-disc that is not blank (appendable): pass --blank to erase it first"
	if code != exitUsage || strings.Count(errOut, refusal) != 1 || strings.Contains(out, "not blank") {
		t.Fatalf("second burn: exit %d\n%s%s", code, out, errOut)
	}
	// Without a terminal the erase must be confirmed with --yes.
	out, errOut, code = burnRun(t, nil, "burn", "--blank", img, "stdio:"+disc)
	if code != exitUsage || !strings.Contains(errOut, "pass --yes") {
		t.Fatalf("--blank without --yes: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = burnRun(t, nil, "burn", "--blank", "--yes", "--speed", "8", img, "stdio:"+disc)
	if code != 0 || !strings.Contains(out, "erasing the disc first") || !strings.Contains(out, "speed 8x") {
		t.Fatalf("--blank --yes: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = burnRun(t, nil, "drives", "--json", "stdio:"+disc)
	var ds []burn.Drive
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 {
		t.Fatalf("drives: exit %d\n%s%s", code, out, errOut)
	}
	if m := ds[0].Media; m == nil || m.State != burn.StateAppendable || m.Class != burn.ClassOverwritable || !ds[0].Pseudo {
		t.Fatalf("drives: %+v", ds[0])
	}
}

func TestBurnDiscTooSmall(t *testing.T) {
	img, _ := burnImage(t, 3<<20)
	dev, backing := loopDevice(t, 2<<20)
	out, errOut, code := burnRun(t, nil, "drives", "--json", "stdio:"+dev)
	var ds []burn.Drive
	if code != 0 || json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0].Media == nil || ds[0].Media.Capacity != 2<<20 {
		t.Fatalf("drives: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = burnRun(t, nil, "burn", img, "stdio:"+dev)
	if code != exitUsage || !strings.Contains(errOut, "takes 2.0 MiB (2097152 bytes), the image needs") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	b, _ := os.ReadFile(backing)
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatal("the refused disc was written")
	}
}

func TestBurnFitsOnlyWithoutPadding(t *testing.T) {
	img, _ := burnImage(t, 0)
	fi, _ := os.Stat(img)
	// Room for the image but not for libburn's 300 KiB of padding.
	size := (fi.Size() + 200<<10 + 2047) / 2048 * 2048
	dev, _ := loopDevice(t, size)
	out, errOut, code := burnRun(t, nil, "burn", img, "stdio:"+dev)
	if code != 0 || !strings.Contains(out, "without track padding") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// fakeXorriso puts a script named xorriso first in PATH that runs the
// real one and, after a burn, flips the byte at off on the "disc" (the
// pseudo-drive's descriptor 3): a drive that writes one wrong byte.
func fakeXorriso(t *testing.T, img string, off int64) []string {
	t.Helper()
	real, err := exec.LookPath("xorriso")
	if err != nil {
		t.Skip("xorriso not installed")
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
%s "$@" || exit $?
case " $* " in
*" -as cdrecord "*) printf '\%03o' | dd of=/dev/fd/3 bs=1 seek=%d conv=notrunc status=none ;;
esac
`, real, b[off]^0x10, off)
	if err := os.WriteFile(filepath.Join(dir, "xorriso"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
}

func TestBurnFlippedByteNamesFile(t *testing.T) {
	isotest.RequireTool(t, "checkisomd5")
	img, off := burnImage(t, 0)
	disc := filepath.Join(t.TempDir(), "disc")
	out, errOut, code := burnRun(t, fakeXorriso(t, img, off+777), "burn", img, "stdio:"+disc)
	if code != exitDamaged {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDamaged, out, errOut)
	}
	for _, want := range []string{
		"THE DISC DOES NOT MATCH THE IMAGE",
		fmt.Sprintf("2048 bytes in 1 places read back differently, first at byte %d", (off+777)/2048*2048),
		"DAMAGED /docs/second.bin (690000 bytes): reads back differently from the image\n    file bytes 0-2047",
		"implanted MD5 (isomd5sum) on the disc: FAILED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(errOut, "the disc does not match the image") {
		t.Errorf("stderr: %s", errOut)
	}
	// checkisomd5 gives the same verdict on the disc.
	if checkisomd5Passes(t, disc) {
		t.Error("checkisomd5 passes the disc isofsd failed")
	}
	if t.Failed() {
		t.Logf("output:\n%s%s", out, errOut)
	}
}

func TestBurnVerifyOnly(t *testing.T) {
	img, off := burnImage(t, 0)
	disc := filepath.Join(t.TempDir(), "disc")
	if out, errOut, code := burnRun(t, nil, "burn", "--no-verify", img, "stdio:"+disc); code != 0 || !strings.Contains(out, "not read back") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := burnRun(t, nil, "burn", "--verify-only", img, "stdio:"+disc)
	if code != 0 || !strings.Contains(out, "the disc matches the image") || strings.Contains(out, "burned:") {
		t.Fatalf("verify-only: exit %d\n%s%s", code, out, errOut)
	}
	f, err := os.OpenFile(disc, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, off+3000)
	b[0] ^= 0xff
	f.WriteAt(b, off+3000)
	f.Close()
	out, errOut, code = burnRun(t, nil, "burn", "--verify-only", img, "stdio:"+disc)
	if code != exitDamaged || !strings.Contains(out, "DAMAGED /docs/second.bin") {
		t.Fatalf("after the flip: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := burnRun(t, nil, "burn", "--verify-only", "--blank", img, "stdio:"+disc); code != exitUsage {
		t.Fatalf("--verify-only --blank: exit %d", code)
	}
}

// childOf finds the process named comm whose parent is pid.
func childOf(pid int, comm string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) > 2 && s[i+1:j] == comm && f[1] == strconv.Itoa(pid) {
			return n
		}
	}
	return 0
}

// TestBurnInterrupted kills the engine in the middle of a burn: isofsd
// must say the burn failed and the disc is incomplete, and exit 1.
func TestBurnInterrupted(t *testing.T) {
	img, _ := burnImage(t, 40<<20)
	disc := filepath.Join(t.TempDir(), "disc")
	// libburn emulates the drive's speed on pseudo-drives: at 1x the burn
	// takes many seconds, so it is surely still running when killed.
	cmd := exec.Command(isofsdBinary(t), "burn", "--speed", "1", img, "stdio:"+disc)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	engine := 0
	for deadline := time.Now().Add(60 * time.Second); engine == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if pid := childOf(cmd.Process.Pid, "xorriso"); pid != 0 {
			// Wait until it has written something.
			if fi, err := os.Stat(disc); err == nil && fi.Size() > 0 {
				engine = pid
			}
		}
		select {
		case err := <-done:
			t.Fatalf("burn ended before it could be interrupted: %v\n%s%s", err, out.String(), errOut.String())
		default:
		}
	}
	if engine == 0 {
		cmd.Process.Kill()
		<-done
		t.Fatal("no xorriso writing after 60 s")
	}
	if err := syscall.Kill(engine, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	if code := cmd.ProcessState.ExitCode(); code != exitDamaged {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitDamaged, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "xorriso: burn failed (signal: killed)") || !strings.Contains(errOut.String(), "the disc is incomplete") {
		t.Fatalf("stderr:\n%s", errOut.String())
	}
}

func TestBurnDummy(t *testing.T) {
	img, _ := burnImage(t, 0)
	dir := t.TempDir()
	disc := filepath.Join(dir, "disc")
	out, errOut, code := burnRun(t, nil, "burn", "--dummy", img, "stdio:"+disc)
	if code != 0 || !strings.Contains(out, "SIMULATION") || !strings.Contains(out, "nothing was written") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// The pseudo-disc isofsd created for the simulation is gone again.
	if _, err := os.Stat(disc); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the simulated disc was left behind: %v", err)
	}
	// An existing blank disc stays blank.
	if err := os.WriteFile(disc, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := burnRun(t, nil, "burn", "--dummy", img, "stdio:"+disc); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if fi, err := os.Stat(disc); err != nil || fi.Size() != 0 {
		t.Fatalf("a simulation wrote to the disc: %v %v", fi, err)
	}
}

func TestBurnRefusesMountedDrive(t *testing.T) {
	isotest.RequireTool(t, "mkfs.ext4")
	img, _ := burnImage(t, 0)
	dev, _ := loopDevice(t, 8<<20)
	runTool(t, "mkfs.ext4", "-q", dev)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", dev, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount ext4: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	out, errOut, code := burnRun(t, nil, "burn", img, "stdio:"+dev)
	if code != exitUsage || !strings.Contains(errOut, "is mounted at "+mnt) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestBurnRefusesDriveHeldExclusively(t *testing.T) {
	img, _ := burnImage(t, 0)
	dev, backing := loopDevice(t, 4<<20)
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out, errOut, code := burnRun(t, nil, "burn", img, "stdio:"+dev)
	if code != exitUsage || !strings.Contains(errOut, "in use") || !strings.Contains(errOut, "opened exclusively by another program") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = burnRun(t, nil, "drives", "stdio:"+dev)
	if !strings.Contains(out, "in use") {
		t.Fatalf("drives does not say the drive is in use:\n%s", out)
	}
	b, _ := os.ReadFile(backing)
	if !bytes.Equal(b, make([]byte, len(b))) {
		t.Fatal("the busy drive was written")
	}
}

func TestBurnRefusesBadTargets(t *testing.T) {
	img, _ := burnImage(t, 0)
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"burn", img, "stdio:" + link}, "is a symbolic link"},
		{[]string{"burn", "--blank", "-y", img, "stdio:" + img}, "is the source image itself"},
		{[]string{"burn", img, "stdio:" + dir}, "not a regular file or a block device"},
		{[]string{"burn", filepath.Join(dir, "missing.iso"), "stdio:" + victim}, "no such file"},
		{[]string{"burn", "--speed", "-2", img, "stdio:" + victim}, "--speed -2"},
		{[]string{"burn", img, "stdio:" + victim, "--engine", "nero"}, `unknown engine "nero"`},
		{[]string{"drives", "stdio:" + filepath.Join(dir, "nothing")}, "no such file (a burn to it creates it)"},
	} {
		out, errOut, code := burnRun(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.says) {
			t.Errorf("%q: exit %d\n%s%s", tc.args, code, out, errOut)
		}
		// Each refusal once, in the error line: not also on stdout, and
		// not followed by "cannot tell what disc it holds" (review U2).
		if strings.Contains(out, tc.says) || strings.Count(errOut, tc.says) != 1 || strings.Contains(errOut, "cannot tell what disc") {
			t.Errorf("%q: the refusal is not said exactly once:\n%s%s", tc.args, out, errOut)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the link target was written: %q", b)
	}
}

// TestBurnCdrskinEngine burns with cdrskin, which accepts pseudo-drives
// only from an ordinary user: as root the test runs isofsd as nobody.
func TestBurnCdrskinEngine(t *testing.T) {
	isotest.RequireTool(t, "cdrskin")
	img, _ := burnImage(t, 0)
	dir := t.TempDir()
	bin := isofsdBinary(t)
	var prefix []string
	if os.Geteuid() == 0 {
		isotest.RequireTool(t, "setpriv")
		// nobody must reach the binary, the image and the disc's
		// directory: copies in a directory it may write.
		for _, p := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(p, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			from, to *string
			mode     os.FileMode
		}{{&bin, new(string), 0o755}, {&img, new(string), 0o644}} {
			b, err := os.ReadFile(*c.from)
			if err != nil {
				t.Fatal(err)
			}
			*c.to = filepath.Join(dir, filepath.Base(*c.from))
			if err := os.WriteFile(*c.to, b, c.mode); err != nil {
				t.Fatal(err)
			}
			*c.from = *c.to
		}
		prefix = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}
	}
	disc := filepath.Join(dir, "disc")
	args := append(prefix, bin, "burn", "--engine", "cdrskin", img, "stdio:"+disc)
	cmd := exec.Command(args[0], args[1:]...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil || !strings.Contains(o.String(), "(cdrskin)") || !strings.Contains(o.String(), "the disc matches the image") {
		t.Fatalf("%v\n%s%s", err, o.String(), e.String())
	}
}

// TestDrivesWithoutDrives lists the drives of a machine that has none (the
// CI machines): nothing, and no error.
func TestDrivesWithoutDrives(t *testing.T) {
	if m, _ := filepath.Glob("/sys/block/sr*"); len(m) > 0 {
		t.Skip("this machine has optical drives; the test must not touch them")
	}
	img, _ := burnImage(t, 0)
	out, errOut, code := burnRun(t, nil, "drives")
	if code != 0 || !strings.Contains(out, "no optical drives found") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = burnRun(t, nil, "burn", img)
	if code != exitUsage || !strings.Contains(errOut, "no optical drive found") {
		t.Fatalf("burn without drives: exit %d\n%s%s", code, out, errOut)
	}
}

// fakeDriveEngine puts a script named program first in PATH that answers
// every inquiry with a real drive's captured output and records any other
// call in a marker file: burn's decisions on real discs, without a drive.
func fakeDriveEngine(t *testing.T, program, fixture string) (env []string, marker string) {
	t.Helper()
	abs, err := filepath.Abs(filepath.Join("..", "..", "burn", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	marker = filepath.Join(dir, "wrote")
	script := fmt.Sprintf(`#!/bin/sh
case " $* " in
*" -toc "*|*" -minfo "*) cat '%s'; exit 0 ;;
*" --tell_media_space "*) exit 1 ;;
*) echo "$*" >> '%s'; exit 99 ;;
esac
`, abs, marker)
	if err := os.WriteFile(filepath.Join(dir, program), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + dir + ":" + os.Getenv("PATH")}, marker
}

// TestBurnRefusesRealDiscs feeds burn the state real drives reported for
// their discs and checks that it refuses to write and never calls the
// engine to write.
func TestBurnRefusesRealDiscs(t *testing.T) {
	img, _ := burnImage(t, 0)
	// Not a path but an engine address (as cdrskin's bus numbers are):
	// isofsd leaves it to the engine, and only the fake engine answers.
	const drive = "isofsd-test-no-such-sr9"
	for _, tc := range []struct {
		engine, fixture string
		flags           []string
		says            string
	}{
		{"xorriso", "xorriso-toc-dvdplusr-appendable.txt", nil, "holds a DVD+R that is not blank (appendable): write-once media cannot be erased"},
		{"xorriso", "xorriso-toc-dvdplusr-appendable.txt", []string{"--blank", "--yes"}, "write-once media cannot be erased"},
		{"xorriso", "xorriso-toc-dvdrw-appendable.txt", nil, "pass --blank to erase it first"},
		{"xorriso", "xorriso-toc-nomedia.txt", nil, "holds no disc"},
		{"cdrskin", "cdrskin-minfo-dvdrom.txt", nil, "holds a DVD-ROM, which cannot be written"},
		{"cdrskin", "cdrskin-minfo-dvdplusrw.txt", nil, "holds a DVD+RW that is not blank"},
	} {
		t.Run(tc.fixture+strings.Join(tc.flags, ""), func(t *testing.T) {
			env, marker := fakeDriveEngine(t, tc.engine, tc.fixture)
			args := append([]string{"burn", "--engine", tc.engine}, tc.flags...)
			out, errOut, code := burnRun(t, env, append(args, img, drive)...)
			if code != exitUsage || !strings.Contains(errOut, tc.says) {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Fatalf("the engine was asked to write: %s", b)
			}
		})
	}
	// drives shows what the fake engine reported.
	env, _ := fakeDriveEngine(t, "xorriso", "xorriso-toc-dvdplusr-appendable.txt")
	out, errOut, code := burnRun(t, env, "drives", "--engine", "xorriso", drive)
	if code != 0 || !strings.Contains(out, "TSSTcorp CDDVDW SE-S084F") || !strings.Contains(out, "DVD+R (write-once)") || !strings.Contains(out, "appendable") {
		t.Fatalf("drives: exit %d\n%s%s", code, out, errOut)
	}
}

// TestBurnRefusesLoopOverImage: a loop device set up over the image file
// itself is no disc for it — the burn would overwrite the image while
// reading it, and the read-back would compare the file with itself. burn
// accepted it ("the disc matches", exit 0) while write refused it: the
// rule lived in write's plan only (review S3). It lives in
// writer.CheckTarget now, which burn, write and rescue share.
func TestBurnRefusesLoopOverImage(t *testing.T) {
	requireRoot(t, "a loop device over the image")
	img, _ := burnImage(t, 0)
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(string(runTool(t, "losetup", "-f", "--show", img)))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	out, errOut, code := burnRun(t, nil, "burn", "--blank", "--yes", img, "stdio:"+dev)
	if code != exitUsage || !strings.Contains(errOut, dev+" is backed by the source image "+img) {
		t.Fatalf("burn onto a loop device over the image: exit %d\n%s%s", code, out, errOut)
	}
	// Said once (review U2): not on stdout as well, and no "cannot tell
	// what disc it holds" after it.
	if strings.Contains(out, "backed by") || strings.Count(errOut, "backed by") != 1 || strings.Contains(errOut, "cannot tell") {
		t.Errorf("the refusal is not said exactly once:\n%s%s", out, errOut)
	}
	if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
		t.Fatal("the image was written")
	}
	// rescue, the third user of the check, refuses it too.
	mapFile := filepath.Join(t.TempDir(), "r.map")
	_, stderr, code := cliRun(t, "rescue", "--to-device", "--allow-loop", "--map", mapFile, img, dev)
	if code != exitUsage || !strings.Contains(stderr, "backed by the source image") {
		t.Errorf("rescue onto a loop device over its source: exit %d, %q", code, stderr)
	}
}

// TestDrivesRefusesNonDrives: a DRIVE named by a path must be an optical
// drive. `drives /dev/nonexist` listed an "unknown drive" and
// `drives /tmp/x.img` a blank disc of the file system's free space, both
// with exit 0 (review W3); burn asked the engine about them.
func TestDrivesRefusesNonDrives(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disc.img")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, says string
	}{
		{"/dev/isofsd-test-nonexist", "/dev/isofsd-test-nonexist: no such drive"},
		{filepath.Join(dir, "doesnotexist.img"), "doesnotexist.img: no such drive"},
		{file, file + " is a file, not a drive (stdio:" + file + " burns to it as a libburn pseudo-drive)"},
		{dir, dir + " is a directory, not a drive"},
		{"/dev/null", "/dev/null is not an optical drive"},
	}
	if os.Geteuid() == 0 {
		dev, _ := isotest.LoopDevice(t, dir, 1<<20)
		cases = append(cases, struct{ path, says string }{dev, dev + " is not an optical drive (stdio:" + dev})
	}
	img, _ := burnImage(t, 0)
	for _, c := range cases {
		for _, args := range [][]string{{"drives", c.path}, {"drives", "--json", c.path}, {"burn", img, c.path}} {
			out, errOut, code := burnRun(t, nil, args...)
			if code != exitUsage || !strings.Contains(errOut, c.says) || strings.Count(errOut, "\n") != 1 || out != "" && args[0] == "drives" {
				t.Errorf("%q: exit %d, want 2 saying %q\n%s%s", args, code, c.says, out, errOut)
			}
		}
	}
	// The file named as a pseudo-drive is one.
	if out, errOut, code := burnRun(t, nil, "drives", "stdio:"+file); code != 0 || !strings.Contains(out, "stdio:"+file) {
		t.Errorf("drives stdio:FILE: exit %d\n%s%s", code, out, errOut)
	}
}
