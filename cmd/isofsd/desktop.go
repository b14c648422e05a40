//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/isofsd/isofsd/desktop"
	"github.com/isofsd/isofsd/internal/safepath"
	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/writer"
)

func newDesktopCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "desktop",
		Short: "Integrate isofsd with the Linux desktop (double-click to browse an image)",
	}
	var (
		user, system, def bool
		binary            string
	)
	layout := func() (desktop.Layout, error) {
		if user && system {
			return desktop.Layout{}, withCode(exitUsage, errors.New("--user and --system exclude each other"))
		}
		if system {
			return desktop.SystemLayout(os.Getenv), nil
		}
		home, err := os.UserHomeDir()
		if err != nil {
			return desktop.Layout{}, withCode(exitUsage, err)
		}
		if err := checkOwnHome(home); err != nil {
			return desktop.Layout{}, withCode(exitUsage, err)
		}
		return desktop.UserLayout(home, os.Getenv), nil
	}
	// installError maps what desktop refuses (a path or manifest others
	// control, an unusable binary or uca.xml) to the usage exit code.
	installError := func(err error) error {
		for _, e := range []error{desktop.ErrBadBinary, desktop.ErrUCA, desktop.ErrBadManifest, safepath.ErrUntrusted} {
			if errors.Is(err, e) {
				return withCode(exitUsage, err)
			}
		}
		return withCode(exitInternal, err)
	}
	install := &cobra.Command{
		Use:   "install [--user|--system] [--default]",
		Short: "Make image files open with isofsd: desktop entry, file manager actions, MIME types",
		Long: `Write, for the current user (--user, the default) or for everyone (--system,
as root, under /usr/local/share and /etc/xdg):
  - applications/isofsd.desktop: "isofsd open %f" for disc image MIME types,
    with the actions Mount, Unmount, Verify and Write to USB…;
  - kio/servicemenus/isofsd-image.desktop: the same actions in KDE's Dolphin;
  - the same actions in Thunar's custom actions (Thunar/uca.xml; the actions
    already there are kept);
  - mime/packages/isofsd.xml, only for the image extensions (*.img, *.udf)
    the shared MIME database does not know.
With --default isofsd also becomes the default application for disc images
(mimeapps.list). Everything written is recorded, and "isofsd desktop
uninstall" removes exactly that.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			if binary, err = installBinary(binary); err != nil {
				return err
			}
			if system {
				if err := checkSystemBinary(binary, "--binary"); err != nil {
					return err
				}
			}
			m, err := desktop.Install(desktop.Options{Layout: l, Binary: binary, Default: def})
			if err != nil {
				return installError(err)
			}
			printManifest(cmd.OutOrStdout(), m)
			return nil
		},
	}
	install.Flags().BoolVar(&user, "user", false, "install for the current user (default)")
	install.Flags().BoolVar(&system, "system", false, "install for every user (as root)")
	install.Flags().BoolVar(&def, "default", false, "make isofsd the default application for disc images")
	install.Flags().StringVar(&binary, "binary", "", "isofsd path the entries run (default: this binary)")

	uninstall := &cobra.Command{
		Use:   "uninstall [--user|--system]",
		Short: "Remove what desktop install wrote",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := layout()
			if err != nil {
				return err
			}
			m, err := desktop.Uninstall(l, nil)
			if m == nil && err != nil {
				if errors.Is(err, desktop.ErrNotInstalled) {
					return withCode(exitUsage, err)
				}
				return installError(err)
			}
			if m != nil {
				out := cmd.OutOrStdout()
				for _, f := range m.Files {
					fmt.Fprintln(out, "removed", f)
				}
				for _, e := range m.Edits {
					fmt.Fprintln(out, "restored", e.Path)
				}
			}
			if err != nil {
				return withCode(exitDamaged, err)
			}
			return nil
		},
	}
	uninstall.Flags().BoolVar(&user, "user", false, "remove the current user's installation (default)")
	uninstall.Flags().BoolVar(&system, "system", false, "remove the installation for every user")

	var allowLoop bool
	writeUSB := &cobra.Command{
		Use:   "write-usb [--allow-loop] IMAGE",
		Short: "Pick a USB drive and write IMAGE to it, in a terminal window",
		Long: `The "Write to USB…" action of the file managers. Started without a terminal
(from a file manager), it opens a terminal window running itself. There it
lists the drives, asks which one to write, asks to type "yes", and runs
"isofsd write --yes IMAGE DRIVE" (through sudo when the drive is not writable
by you), which makes every safety check of isofsd write.`,
		Args:        cobra.ExactArgs(1),
		Annotations: notifyAnnotation,
		RunE: func(cmd *cobra.Command, args []string) error {
			image, err := filepath.Abs(args[0])
			if err != nil {
				return withCode(exitUsage, err)
			}
			self, err := os.Executable()
			if err != nil {
				return withCode(exitInternal, err)
			}
			if os.Getenv(desktop.EnvInTerminal) == "" && !term.IsTerminal(int(os.Stdin.Fd())) {
				argv := []string{self, "desktop", "write-usb"}
				if allowLoop {
					argv = append(argv, "--allow-loop")
				}
				return openTerminal(append(argv, "--", image))
			}
			return writeUSBDialog(cmd.InOrStdin(), cmd.OutOrStdout(), self, image, allowLoop)
		},
	}
	writeUSB.Flags().BoolVar(&allowLoop, "allow-loop", false, "offer loop devices too (testing, VM disks)")

	root.AddCommand(install, uninstall, writeUSB)
	return root
}

// printManifest lists what an installation wrote.
func printManifest(out io.Writer, m *desktop.Manifest) {
	for _, f := range m.Files {
		fmt.Fprintln(out, "wrote", f)
	}
	for _, e := range m.Edits {
		fmt.Fprintln(out, "edited", e.Path)
	}
	for _, c := range m.Caches {
		fmt.Fprintf(out, "updated %s (%s)\n", c.Dir, c.Tool)
	}
	for _, n := range m.Notes {
		fmt.Fprintln(out, "note:", n)
	}
}

// openTerminal runs argv in a new terminal window and returns once it
// started.
func openTerminal(argv []string) error {
	tv, err := desktop.TerminalCommand(argv, os.Getenv, exec.LookPath)
	if err != nil {
		return withCode(exitUsage, fmt.Errorf("%w; run in a terminal: isofsd write %s /dev/sdX", err, argv[len(argv)-1]))
	}
	c := exec.Command(tv[0], tv[1:]...)
	c.Env = append(os.Environ(), desktop.EnvInTerminal+"=1")
	if err := c.Start(); err != nil {
		return withCode(exitInternal, fmt.Errorf("%s: %w", tv[0], err))
	}
	return c.Process.Release()
}

// writeUSBDialog is the terminal dialog of "Write to USB…": pick a drive,
// confirm, write through `isofsd write`, wait for Enter.
func writeUSBDialog(stdin io.Reader, out io.Writer, self, image string, allowLoop bool) error {
	in := bufio.NewReader(stdin)
	ask := func(prompt string) (string, bool) {
		fmt.Fprint(out, prompt)
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return "", false
		}
		return strings.TrimSpace(line), true
	}
	defer ask("\nPress Enter to close this window. ")
	st, err := os.Stat(image)
	if err != nil {
		fmt.Fprintln(out, err)
		return withCode(exitUsage, err)
	}
	fmt.Fprintf(out, "Write %s (%s) to a USB drive.\n\n", filepath.Base(image), units.Bytes(st.Size()))
	var target *writer.Device
	for target == nil {
		devs, err := writer.ListDevices(nil)
		if err != nil {
			fmt.Fprintln(out, err)
			return withCode(exitUsage, err)
		}
		var ok []*writer.Device
		for _, d := range devs {
			d.Assess(writer.Policy{AllowLoop: allowLoop, ImageSize: st.Size(), SourceName: image})
			if d.Eligible {
				ok = append(ok, d)
			}
		}
		for i, d := range ok {
			fmt.Fprintf(out, "  %d) %s\n", i+1, d.Describe())
		}
		if len(ok) == 0 {
			fmt.Fprintln(out, "No USB or SD drive large enough is plugged in (\"isofsd devices\" says why each drive is refused).")
		}
		ans, more := ask("Choose a drive by number, Enter to look again, q to quit: ")
		if !more || ans == "q" {
			return withCode(exitUsage, errors.New("write-usb: nothing written"))
		}
		if n, err := strconv.Atoi(ans); err == nil && n >= 1 && n <= len(ok) {
			target = ok[n-1]
		}
	}
	fmt.Fprintf(out, "\nALL DATA ON %s WILL BE DESTROYED.\n", target.Describe())
	if ans, _ := ask("Type 'yes' to write the image to it: "); strings.ToLower(ans) != "yes" {
		fmt.Fprintln(out, "Not confirmed; nothing written.")
		return withCode(exitUsage, errors.New("write-usb: not confirmed; nothing written"))
	}
	// The identity of the drive picked goes along: a stick swapped for
	// another before "yes" is refused by write, not written.
	argv := []string{self, "write", "--yes", "--expect-drive", target.Path + "=" + target.Identity().String()}
	if allowLoop {
		argv = append(argv, "--allow-loop")
	}
	argv = append(argv, "--", image, target.Path)
	if os.Geteuid() != 0 && unix.Access(target.Path, unix.W_OK) != nil {
		// Raw drives belong to root (or the disk group): ask for rights.
		for _, elevate := range []string{"sudo", "pkexec"} {
			if p, err := exec.LookPath(elevate); err == nil {
				argv = append([]string{p}, argv...)
				break
			}
		}
	}
	fmt.Fprintf(out, "\n$ %s\n", strings.Join(argv, " "))
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, out, out
	if err := c.Run(); err != nil {
		fmt.Fprintf(out, "\nFailed: %v\n", err)
		code := exitDamaged
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == exitUsage {
			code = exitUsage // refused: nothing written
		}
		return withCode(code, fmt.Errorf("write-usb: %w", err))
	}
	fmt.Fprintln(out, "\nDone: the drive can be removed.")
	return nil
}

// checkOwnHome refuses a per-user installation into a home that is not
// the caller's: root with another user's HOME (sudo -E, su without "-")
// would write, and delete, where that user's links and manifest say.
func checkOwnHome(home string) error {
	var st unix.Stat_t
	if err := unix.Stat(home, &st); err != nil {
		return fmt.Errorf("HOME %s: %w", home, err)
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("HOME is %s, which belongs to uid %d, not to you (uid %d): a per-user installation goes into your own home; run it as that user (sudo -u USER -H isofsd desktop …), or with your own HOME (su -, sudo -H)", home, st.Uid, os.Geteuid())
	}
	return nil
}
