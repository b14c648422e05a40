//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/desktop"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestOpenChildArgs: the daemon child of `isofsd open` is `isofsd mount`
// with the same flags, and they mean the same there.
func TestOpenChildArgs(t *testing.T) {
	a := &app{log: logrus.New()}
	open := newOpenCmd(a)
	must(t, open.ParseFlags([]string{"--tree", "joliet", "-o", "allow_other,uid=5", "--standalone", "--cache-size", "4M"}))
	args := childMountArgs(open, "/srv/my image.iso")
	want := []string{"mount", "--cache-size=4M", "--options=allow_other", "--options=uid=5", "--standalone=true", "--tree=joliet", "--", "/srv/my image.iso"}
	if !slices.Equal(args, want) {
		t.Fatalf("child args %q, want %q", args, want)
	}
	mount := newMountCmd(a)
	must(t, mount.ParseFlags(args[1:]))
	for _, name := range []string{"tree", "options", "standalone", "cache-size"} {
		if got, orig := mount.Flags().Lookup(name).Value.String(), open.Flags().Lookup(name).Value.String(); got != orig {
			t.Errorf("--%s: %q in the child, %q in open", name, got, orig)
		}
	}
	if rest := mount.Flags().Args(); !slices.Equal(rest, []string{"/srv/my image.iso"}) {
		t.Errorf("child positional args %q", rest)
	}
}

// TestDesktopInstallCommand: install for the user, as the command line
// does it, then uninstall: the home holds what it held before.
func TestDesktopInstallCommand(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range []string{"XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_DATA_DIRS", "/usr/share")
	list := func() []string {
		var out []string
		filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
			out = append(out, p)
			return nil
		})
		return out
	}
	before := list()
	out, code := runCLI(t, "", "desktop", "install", "--user", "--default", "--binary", "/opt/isofsd/bin/isofsd")
	if code != 0 {
		t.Fatalf("install: exit %d\n%s", code, out)
	}
	entry := filepath.Join(home, ".local", "share", "applications", desktop.DesktopID)
	if !strings.Contains(out, "wrote "+entry) || !strings.Contains(out, "edited "+filepath.Join(home, ".config", "mimeapps.list")) {
		t.Errorf("install output:\n%s", out)
	}
	if b, err := os.ReadFile(entry); err != nil || !strings.Contains(string(b), "Exec=/opt/isofsd/bin/isofsd open %f\n") {
		t.Errorf("%s: %v\n%s", entry, err, b)
	}
	if out, code := runCLI(t, "", "desktop", "uninstall"); code != 0 || !strings.Contains(out, "removed "+entry) {
		t.Fatalf("uninstall: exit %d\n%s", code, out)
	}
	if after := list(); !slices.Equal(after, before) {
		t.Errorf("files after uninstall %q, before install %q", after, before)
	}
	if out, code := runCLI(t, "", "desktop", "uninstall"); code != exitUsage || !strings.Contains(out, "not installed") {
		t.Errorf("uninstall when not installed: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "", "desktop", "install", "--user", "--system"); code != exitUsage {
		t.Errorf("--user --system: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "", "desktop", "install", "--binary", "/opt/new\nline"); code != exitUsage {
		t.Errorf("binary with a newline: exit %d\n%s", code, out)
	}
}

// TestWriteUSBOpensTerminal: started from a file manager (no terminal),
// "Write to USB…" opens a terminal window running itself; with no
// terminal emulator it says what to run instead.
func TestWriteUSBOpensTerminal(t *testing.T) {
	bin := isofsdBinary(t)
	dir := t.TempDir()
	rec := filepath.Join(dir, "args")
	fake := filepath.Join(dir, "x-terminal-emulator")
	must(t, os.WriteFile(fake, []byte("#!/bin/sh\nprintf '%s\\n' \"$ISOFSD_IN_TERMINAL\" \"$@\" > "+rec+".tmp && /bin/mv "+rec+".tmp "+rec+"\n"), 0o755))
	img := filepath.Join(dir, "x.iso")
	must(t, os.WriteFile(img, nil, 0o644))
	cmd := exec.Command(bin, "desktop", "write-usb", "x.iso")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + dir, "HOME=" + dir, "ISOFSD_NOTIFY=never"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("write-usb: %v\n%s", err, out)
	}
	var got []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, _ = os.ReadFile(rec); got != nil {
			break
		}
	}
	want := strings.Join([]string{"1", "-e", bin, "desktop", "write-usb", "--", img}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("terminal started with\n%s\nwant\n%s", got, want)
	}

	must(t, os.Remove(fake))
	cmd = exec.Command(bin, "desktop", "write-usb", img)
	cmd.Env = []string{"PATH=" + dir, "HOME=" + dir, "ISOFSD_NOTIFY=never"}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "no terminal emulator") || !strings.Contains(string(out), "isofsd write "+img) {
		t.Errorf("without a terminal emulator: %v\n%s", err, out)
	}
}

// TestWriteUSBDialog: the terminal dialog lists the drives, writes the
// one picked once "yes" is typed (through isofsd write, here onto a loop
// device), and writes nothing without "yes".
func TestWriteUSBDialog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	isotest.RequireTool(t, "losetup")
	isotest.RequireTool(t, "xorriso")
	bin := isofsdBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f.txt"), bytes.Repeat([]byte("usb "), 5000), 0o644))
	img := filepath.Join(dir, "x.iso")
	runTool(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", img, src)
	want, err := os.ReadFile(img)
	must(t, err)
	loop, backing := isotest.LoopDevice(t, dir, 8<<20) // the "stick"
	dialog := func(answers func(choice string) string) (string, error) {
		cmd, stdin, br := startWriteUSB(t, bin, img)
		var seen bytes.Buffer
		choice := ""
		re := regexp.MustCompile(`(?m)^\s+(\d+)\) ` + regexp.QuoteMeta(loop) + `:`)
		for !strings.Contains(seen.String(), "Choose a drive") {
			b, err := br.ReadByte()
			if err != nil {
				t.Fatalf("dialog ended early: %v\n%s", err, seen.String())
			}
			seen.WriteByte(b)
		}
		if m := re.FindStringSubmatch(seen.String()); m != nil {
			choice = m[1]
		} else {
			t.Fatalf("%s not offered:\n%s", loop, seen.String())
		}
		io.WriteString(stdin, answers(choice))
		rest, _ := io.ReadAll(br)
		err := cmd.Wait()
		return seen.String() + string(rest), err
	}

	out, err := dialog(func(n string) string { return n + "\nno\n\n" })
	if err == nil || !strings.Contains(out, "Not confirmed") {
		t.Errorf("without yes: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(backing); !bytes.Equal(got[:len(want)], make([]byte, len(want))) {
		t.Errorf("written without yes")
	}
	out, err = dialog(func(n string) string { return n + "\nyes\n\n" })
	if err != nil || !strings.Contains(out, "Done") {
		t.Fatalf("dialog: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(backing); !bytes.Equal(got[:len(want)], want) {
		t.Errorf("the drive does not hold the image")
	}
}

// startWriteUSB starts the Write to USB dialog as the desktop's terminal
// runs it, for loop-device "sticks": its stdin, and its output (stdout
// and stderr) to read the questions from.
func startWriteUSB(t *testing.T, bin, img string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(bin, "desktop", "write-usb", "--allow-loop", img)
	cmd.Env = append(os.Environ(), desktop.EnvInTerminal+"=1", "ISOFSD_NOTIFY=never")
	stdin, err := cmd.StdinPipe()
	must(t, err)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = cmd.Stdout
	must(t, cmd.Start())
	return cmd, stdin, bufio.NewReader(stdout)
}

// TestWriteUSBRefusesSwappedDrive (review U5): the drive picked in the
// dialog is the only one written. Here the "stick" (a loop device) is
// replaced by a different one under the same name between the choice and
// "yes" — its backing file grows to twice the size, as a bigger stick
// would be — and write refuses it (exit 2) instead of writing it.
func TestWriteUSBRefusesSwappedDrive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a loop device")
	}
	isotest.RequireTool(t, "losetup", "xorriso")
	bin := isofsdBinary(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f.txt"), bytes.Repeat([]byte("usb "), 5000), 0o644))
	img := filepath.Join(dir, "x.iso")
	runTool(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-o", img, src)
	loop, backing := isotest.LoopDevice(t, dir, 8<<20) // the "stick"
	cmd, stdin, br := startWriteUSB(t, bin, img)
	var seen bytes.Buffer
	until := func(s string) {
		t.Helper()
		for !strings.Contains(seen.String(), s) {
			b, err := br.ReadByte()
			if err != nil {
				cmd.Process.Kill()
				t.Fatalf("dialog ended before %q: %v\n%s", s, err, seen.String())
			}
			seen.WriteByte(b)
		}
	}
	until("Choose a drive")
	m := regexp.MustCompile(`(?m)^\s+(\d+)\) ` + regexp.QuoteMeta(loop) + `:`).FindStringSubmatch(seen.String())
	if m == nil {
		cmd.Process.Kill()
		t.Fatalf("%s not offered:\n%s", loop, seen.String())
	}
	io.WriteString(stdin, m[1]+"\n")
	until("Type 'yes'")
	// The swap: another drive under the same name.
	must(t, os.Truncate(backing, 16<<20))
	runTool(t, "losetup", "-c", loop)
	io.WriteString(stdin, "yes\n\n")
	rest, _ := io.ReadAll(br)
	err := cmd.Wait()
	out := seen.String() + string(rest)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(out, "not the drive that was picked") {
		t.Errorf("write-usb onto a swapped drive: %v, want exit %d saying it is not the drive picked:\n%s", err, exitUsage, out)
	}
	got, err := os.ReadFile(backing)
	must(t, err)
	if !bytes.Equal(got, make([]byte, len(got))) {
		t.Errorf("the swapped drive was written")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
