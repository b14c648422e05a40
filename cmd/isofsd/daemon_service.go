package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/isofsd/isofsd/fs/cgofuse"
	"github.com/isofsd/isofsd/mounter"
)

func newServiceCmd(a *app) *cobra.Command {
	svc := &cobra.Command{
		Use:   "service",
		Short: "Install isofsd as a systemd, launchd or Windows service, and Explorer verbs",
	}
	var (
		which  serviceWhich
		binary string
		o      mounter.ServiceOptions
		mu     mounter.MountUnitOptions
	)
	install := &cobra.Command{
		Use:   "install (--systemd [--user] [--mount-image IMAGE --mount-point DIR [--automount]] | --launchd | [--windows] [--explorer-verbs]) [--dir DIR]",
		Short: "Write service definitions for the isofsd daemon",
		Long: `--systemd writes isofsd.service (the daemon, Type=notify) and isofsd@.service,
a template that mounts one image: enable it as
  systemctl enable --now isofsd@$(systemd-escape --path /srv/img.iso).service
and the image appears on /run/isofsd-mount/<instance> (%t/... for --user).
With --mount-image and --mount-point it writes a .mount unit instead (the
fstab entry's equivalent, mounted through mount.fuse3), and with
--automount an .automount unit mounting it on first access.
--launchd writes a LaunchAgent plist running the daemon in the foreground,
started at load and restarted when it crashes (macOS builds with macFUSE
support only: the daemon must be able to mount).
--windows registers the Windows service "isofsd" (as Administrator): the
daemon on %ProgramData%\isofsd\isofsd.sock, started at boot, serving the
Administrators; --explorer-verbs adds "Mount with isofsd", "Write to USB
with isofsd" and "Verify with isofsd" to .iso and .img files for the
current user (HKCU, no administrator rights needed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			systemd, launchd, user, dir := which.systemd, which.launchd, which.user, which.dir
			if onWindows, err := which.check(); err != nil {
				return err
			} else if onWindows {
				return installWindows(a, cmd, which.windows, which.verbs, binary, o.LogLevel)
			}
			if launchd && runtime.GOOS == "darwin" && !cgofuse.Available {
				return withCode(exitUsage, fmt.Errorf("--launchd: this isofsd cannot mount on macOS (%v); a LaunchAgent would start a daemon that cannot serve", cgofuse.ErrUnsupported))
			}
			home, _ := os.UserHomeDir()
			o.User, o.Home = user, home
			bin, err := installBinary(binary)
			if err != nil {
				return err
			}
			o.Binary = bin
			if systemd && !user && mu.Image == "" {
				// isofsd.service and isofsd@.service run it as root.
				if err := checkSystemBinary(bin, "--binary"); err != nil {
					return err
				}
			}
			for _, p := range []*string{&o.Watch, &o.MountRoot, &o.Socket} {
				if *p != "" {
					if *p, err = filepath.Abs(*p); err != nil {
						return withCode(exitUsage, err)
					}
				}
			}
			files := map[string][]byte{}
			if (mu.Image == "") != (mu.Where == "") || (mu.Image != "" && !systemd) {
				return withCode(exitUsage, errors.New("--mount-image and --mount-point go together, with --systemd"))
			}
			if mu.Image != "" {
				for _, p := range []*string{&mu.Image, &mu.Where} {
					if *p, err = filepath.Abs(*p); err != nil {
						return withCode(exitUsage, err)
					}
				}
				mu.User = user
				units, err := mounter.MountUnits(mu)
				if err != nil {
					return withCode(exitUsage, err)
				}
				for k, v := range units {
					files[k] = []byte(v)
				}
				if dir == "" {
					dir = mounter.SystemdUnitDir(user, home)
				}
			} else if systemd {
				units, err := mounter.SystemdUnits(o)
				if err != nil {
					return withCode(exitUsage, err)
				}
				for k, v := range units {
					files[k] = []byte(v)
				}
				if dir == "" {
					dir = mounter.SystemdUnitDir(user, home)
				}
			} else {
				b, err := mounter.LaunchdPlist(o)
				if err != nil {
					return withCode(exitUsage, err)
				}
				files[mounter.LaunchdLabel+".plist"] = b
				if dir == "" {
					dir = mounter.LaunchAgentDir(home)
				}
			}
			written, err := mounter.WriteServiceFiles(dir, files)
			for _, p := range written {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			if err != nil {
				return withCode(exitInternal, err)
			}
			ctl := which.systemctl()
			switch {
			case mu.Image != "":
				unit := mounter.SystemdEscapePath(mu.Where) + ".mount"
				if mu.Automount {
					unit = mounter.SystemdEscapePath(mu.Where) + ".automount"
				}
				a.notef("installed; now run: %s daemon-reload && %s enable --now %s", ctl, ctl, unit)
			case systemd:
				a.notef("installed; now run: %s daemon-reload && %s enable --now isofsd.service", ctl, ctl)
			default:
				a.notef("installed; now run: launchctl load -w %s", filepath.Join(dir, mounter.LaunchdLabel+".plist"))
			}
			return nil
		},
	}
	fl := install.Flags()
	which.addFlags(fl, true)
	fl.StringVar(&binary, "binary", "", "isofsd path the services run (default: this binary)")
	fl.StringVar(&o.Watch, "watch", "", "directory the daemon auto-mounts images from")
	fl.StringVar(&o.MountRoot, "mount-root", "", "where the daemon mounts watched images")
	fl.StringVar(&o.Socket, "socket", "", "control socket of the daemon (default: its own default)")
	fl.StringVar(&o.LogLevel, "service-log-level", "", "log level of the services")
	fl.StringVar(&mu.Image, "mount-image", "", "systemd: write a .mount unit for this image")
	fl.StringVar(&mu.Where, "mount-point", "", "systemd: where the .mount unit mounts --mount-image")
	fl.StringSliceVar(&mu.Options, "mount-options", nil, "options of the .mount unit (allow_other, uid=, …)")
	fl.BoolVar(&mu.Automount, "automount", false, "systemd: also write an .automount unit (mount on first access)")
	fl.IntVar(&mu.IdleSec, "idle-sec", 0, "automount: unmount after this many idle seconds (0: never)")
	svc.AddCommand(install, newServiceUninstallCmd(a))
	return svc
}

func newServiceUninstallCmd(a *app) *cobra.Command {
	var (
		which serviceWhich
		where string
	)
	cmd := &cobra.Command{
		Use:   "uninstall (--systemd [--user] [--mount-point DIR] | --launchd | [--windows] [--explorer-verbs]) [--dir DIR]",
		Short: "Remove the service definitions `service install` wrote",
		Long: `Remove exactly the files the matching "service install" wrote: the same
flags name them (--mount-point for .mount/.automount units). A file of the
same name that install did not write is left alone and reported; an
enabled systemd unit is refused until "systemctl disable --now UNIT".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			systemd, user, dir := which.systemd, which.user, which.dir
			if onWindows, err := which.check(); err != nil {
				return err
			} else if onWindows {
				return uninstallWindows(a, cmd, which.windows, which.verbs)
			}
			if where != "" && !systemd {
				return withCode(exitUsage, errors.New("--mount-point goes with --systemd"))
			}
			home, _ := os.UserHomeDir()
			var names []string
			switch {
			case where != "":
				abs, err := filepath.Abs(where)
				if err != nil {
					return withCode(exitUsage, err)
				}
				names = mounter.MountUnitNames(abs)
			case systemd:
				names = mounter.SystemdUnitNames()
			default:
				names = []string{mounter.LaunchdPlistName}
			}
			if dir == "" {
				if systemd {
					dir = mounter.SystemdUnitDir(user, home)
				} else {
					dir = mounter.LaunchAgentDir(home)
				}
			}
			removed, foreign, err := mounter.RemoveServiceFiles(dir, names)
			for _, p := range removed {
				fmt.Fprintln(cmd.OutOrStdout(), p)
			}
			for _, p := range foreign {
				a.warnf("%s: left in place: not written by isofsd service install", p)
			}
			if err != nil {
				return withCode(exitUsage, err)
			}
			if len(removed) == 0 {
				a.notef("nothing to remove in %s", dir)
			} else if systemd {
				a.notef("removed; now run: %s daemon-reload", which.systemctl())
			}
			return nil
		},
	}
	fl := cmd.Flags()
	which.addFlags(fl, false)
	fl.StringVar(&where, "mount-point", "", "systemd: remove the .mount/.automount units of this mountpoint")
	return cmd
}

// serviceWhich is what service install and uninstall share: the flags
// naming the service manager and where its files go, and the rule that
// exactly one manager is named.
type serviceWhich struct {
	systemd, launchd, user, windows, verbs bool
	dir                                    string
}

func (w *serviceWhich) addFlags(fl *pflag.FlagSet, install bool) {
	say := func(installing, removing string) string {
		if install {
			return installing
		}
		return removing
	}
	fl.BoolVar(&w.systemd, "systemd", false, say("write systemd units", "remove the systemd units"))
	fl.BoolVar(&w.launchd, "launchd", false, say("write a launchd LaunchAgent", "remove the launchd LaunchAgent"))
	fl.BoolVar(&w.windows, "windows", false, say("register the Windows service running the daemon (as Administrator)", "stop and delete the Windows service"))
	fl.BoolVar(&w.verbs, "explorer-verbs", false, say("Windows: add Mount/Write to USB/Verify with isofsd to .iso and .img files (current user)", "remove the Explorer verbs"))
	fl.BoolVar(&w.user, "user", false, say("systemd: per-user units (systemctl --user)", "systemd: the per-user units"))
	fl.StringVar(&w.dir, "dir", "", say("directory to write into (default: the service manager's)", "directory the files were written to (default: the service manager's)"))
}

// check refuses a mix of managers or none; onWindows says the Windows
// service or Explorer verbs were named.
func (w *serviceWhich) check() (onWindows bool, err error) {
	if w.windows || w.verbs {
		if w.systemd || w.launchd {
			return false, withCode(exitUsage, errors.New("--windows and --explorer-verbs go without --systemd and --launchd"))
		}
		return true, nil
	}
	if w.systemd == w.launchd {
		return false, withCode(exitUsage, errors.New("choose one of --systemd and --launchd"))
	}
	return false, nil
}

// systemctl is the command that manages the units: systemctl, or
// systemctl --user.
func (w *serviceWhich) systemctl() string {
	if w.user {
		return "systemctl --user"
	}
	return "systemctl"
}

// installWindows registers the Windows service and/or the Explorer verbs
// (mounter builds both definitions; this applies them).
func installWindows(a *app, cmd *cobra.Command, service, verbs bool, binary, logLevel string) error {
	bin, err := installBinary(binary)
	if err != nil {
		return err
	}
	if service {
		if err := checkSystemBinary(bin, "--binary"); err != nil {
			return err
		}
		socket := mounter.ServiceSocket()
		spec, err := mounter.WindowsServiceSpec(bin, socket, filepath.Join(filepath.Dir(socket), "isofsd.log"), logLevel)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if err := mounter.InstallService(spec); err != nil {
			return withCode(exitUsage, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "service %s\n", spec.Name)
		a.notef("installed; now run: sc start %s (it starts at boot from now on)", spec.Name)
	}
	if verbs {
		vals, err := mounter.ExplorerVerbs(bin)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if err := mounter.WriteRegistry(vals); err != nil {
			return withCode(exitUsage, err)
		}
		for _, k := range mounter.ExplorerVerbKeys() {
			fmt.Fprintf(cmd.OutOrStdout(), "HKCU\\%s\n", k)
		}
	}
	return nil
}

// uninstallWindows removes what installWindows wrote.
func uninstallWindows(a *app, cmd *cobra.Command, service, verbs bool) error {
	if service {
		removed, err := mounter.RemoveService(mounter.WindowsServiceName)
		if err != nil {
			return withCode(exitUsage, err)
		}
		if removed {
			fmt.Fprintf(cmd.OutOrStdout(), "service %s\n", mounter.WindowsServiceName)
		} else {
			a.notef("no service %s to remove", mounter.WindowsServiceName)
		}
	}
	if verbs {
		deleted, err := mounter.DeleteRegistryKeys(mounter.ExplorerVerbKeys())
		for _, k := range deleted {
			fmt.Fprintf(cmd.OutOrStdout(), "HKCU\\%s\n", k)
		}
		if err != nil {
			return withCode(exitUsage, err)
		}
	}
	return nil
}
