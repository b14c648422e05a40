package desktop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// EnvInTerminal is set in the environment of a command TerminalCommand
// started, so that it does not look for a terminal again.
const EnvInTerminal = "ISOFSD_IN_TERMINAL"

// terminals are the emulators tried, in order, with the words that make
// them run a command: xdg-terminal-exec (the proposed freedesktop
// standard) and Debian's x-terminal-emulator alternative honour the
// user's choice; the rest are the common ones by name.
var terminals = []struct {
	name string
	args []string
}{
	{"xdg-terminal-exec", nil},
	{"x-terminal-emulator", []string{"-e"}},
	{"gnome-terminal", []string{"--"}},
	{"konsole", []string{"-e"}},
	{"xfce4-terminal", []string{"-x"}},
	{"mate-terminal", []string{"-x"}},
	{"kitty", nil},
	{"alacritty", []string{"-e"}},
	{"foot", nil},
	{"xterm", []string{"-e"}},
}

// ErrNoTerminal means no terminal emulator was found.
var ErrNoTerminal = errors.New("desktop: no terminal emulator found (install one, or set $TERMINAL)")

// TerminalCommand returns the command line that runs argv in a new
// terminal window: $TERMINAL (with -e) when set, else the first emulator
// of a fixed list that lookPath finds.
func TerminalCommand(argv []string, getenv func(string) string, lookPath func(string) (string, error)) ([]string, error) {
	if t := strings.TrimSpace(getenv("TERMINAL")); t != "" {
		if p, err := lookPath(t); err == nil {
			return append([]string{p, "-e"}, argv...), nil
		}
	}
	for _, t := range terminals {
		if p, err := lookPath(t.name); err == nil {
			return append(append([]string{p}, t.args...), argv...), nil
		}
	}
	return nil, ErrNoTerminal
}

// launchWait is how long a launcher that stays in the foreground (xdg-open
// runs some file managers in the foreground) is watched for an early
// failure before it is left to run.
const launchWait = 2 * time.Second

// OpenFolder shows dir in the desktop's file manager: `gio open`, which
// starts the default application of inode/directory and returns, or
// `xdg-open` when GIO's tool is missing. The launcher's output goes to a
// file, not a pipe: the file manager inherits it and may run for hours.
func OpenFolder(dir string) error {
	var argv []string
	if p, err := exec.LookPath("gio"); err == nil {
		argv = []string{p, "open", dir}
	} else if p, err := exec.LookPath("xdg-open"); err == nil {
		argv = []string{p, dir}
	} else {
		return errors.New("desktop: neither gio nor xdg-open is installed")
	}
	errf, err := os.CreateTemp("", "isofsd-open-*.log")
	if err != nil {
		return fmt.Errorf("desktop: %w", err)
	}
	os.Remove(errf.Name())
	defer errf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("desktop: %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b := make([]byte, 512)
			n, _ := errf.ReadAt(b, 0)
			return fmt.Errorf("desktop: %s %s: %v: %s", argv[0], dir, err, strings.TrimSpace(string(b[:n])))
		}
	case <-time.After(launchWait):
		// Still running: it is the file manager's launcher in the
		// foreground, and the window is up or coming.
	}
	return nil
}
