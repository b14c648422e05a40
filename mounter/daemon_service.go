package mounter

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/isofsd/isofsd/internal/diskio"
)

// Service integration: unit files for systemd and a LaunchAgent for
// launchd, generated from the binary's own path so that they start the
// very isofsd that wrote them.

// ServiceOptions describe the generated service definitions.
type ServiceOptions struct {
	// Binary is the absolute path of isofsd.
	Binary string
	// User targets the per-user service manager (systemd --user).
	User bool
	// Socket overrides the daemon's default control socket.
	Socket string
	// Watch and MountRoot make the daemon auto-mount a directory.
	Watch, MountRoot string
	// LogLevel is passed to the daemon ("" → its default).
	LogLevel string
	// Home is the user's home directory (launchd log path).
	Home string
}

// Unit and agent names.
const (
	SystemdDaemonUnit   = "isofsd.service"
	SystemdTemplateUnit = "isofsd@.service"
	LaunchdLabel        = "org.isofsd.daemon"
)

// ServiceMarker is in every file `service install` writes; `service
// uninstall` removes only files that carry it, so that a unit of the
// same name written by someone else is never deleted.
const ServiceMarker = "Written by isofsd service install; isofsd service uninstall removes it."

// unitHeader starts every systemd unit install writes.
const unitHeader = "# " + ServiceMarker + "\n"

// WatchdogSec is the systemd watchdog interval the daemon unit asks for;
// the daemon pings at half of it.
const WatchdogSec = 30

func (o *ServiceOptions) check() error {
	if !filepath.IsAbs(o.Binary) {
		return fmt.Errorf("service: binary path %q is not absolute", o.Binary)
	}
	for _, p := range []string{o.Socket, o.Watch, o.MountRoot} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("service: %q is not an absolute path", p)
		}
	}
	if (o.Watch == "") != (o.MountRoot == "") {
		return errors.New("service: --watch and --mount-root go together")
	}
	return nil
}

// daemonArgs is the daemon's command line.
func (o *ServiceOptions) daemonArgs() []string {
	args := []string{o.Binary, "daemon"}
	if o.LogLevel != "" {
		args = append(args, "--log-level", o.LogLevel)
	}
	if o.Socket != "" {
		args = append(args, "--socket", o.Socket)
	}
	if o.Watch != "" {
		args = append(args, "--watch", o.Watch, "--mount-root", o.MountRoot)
	}
	return args
}

// systemdQuote quotes one ExecStart word: systemd splits on whitespace,
// honours double quotes with C escapes, and expands % specifiers and $
// variables, so those are doubled.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func execLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = systemdQuote(a)
	}
	return strings.Join(q, " ")
}

// SystemdUnits returns the unit files by name: the daemon (Type=notify,
// watchdog, SIGTERM unmounts everything), and a template mounting one
// image whose instance name is `systemd-escape --path IMAGE`, on
// %t/isofsd-mount/<instance> (a runtime directory systemd creates and
// removes with the unit). Units with Type=fuse.isofsd in .mount or
// .automount units, and fstab lines, go through the mount helper form
// instead (see ParseHelperArgs).
func SystemdUnits(o ServiceOptions) (map[string]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	wanted := "multi-user.target"
	after := "After=local-fs.target\n"
	runtimeDir := "RuntimeDirectory=isofsd\nRuntimeDirectoryMode=0700\n"
	if o.User {
		wanted = "default.target"
		after = ""
		// The user daemon's socket lives straight in $XDG_RUNTIME_DIR.
		runtimeDir = ""
	}
	if o.Socket != "" {
		runtimeDir = ""
	}
	var d strings.Builder
	fmt.Fprintf(&d, unitHeader+`[Unit]
Description=isofsd: mount ISO 9660 / UDF images (daemon)
Documentation=https://github.com/isofsd/isofsd
%s
[Service]
Type=notify
NotifyAccess=main
ExecStart=%s
%sWatchdogSec=%d
Restart=on-failure
RestartSec=2
# SIGTERM makes the daemon unmount everything; give it time.
KillMode=mixed
TimeoutStopSec=30

[Install]
WantedBy=%s
`, after, execLine(o.daemonArgs()), runtimeDir, WatchdogSec, wanted)

	mountArgs := []string{o.Binary, "mount", "--foreground"}
	if o.LogLevel != "" {
		mountArgs = append(mountArgs, "--log-level", o.LogLevel)
	}
	quoted := execLine(mountArgs)
	var tm strings.Builder
	fmt.Fprintf(&tm, unitHeader+`[Unit]
Description=isofsd: mount image %%f
Documentation=https://github.com/isofsd/isofsd
# The instance is the image path escaped by systemd-escape --path; %%f
# is that path again, %%i a flat name for the mountpoint.
AssertPathExists=%%f
%s
[Service]
Type=notify
NotifyAccess=main
RuntimeDirectory=isofsd-mount/%%i
ExecStart=%s %%f %%t/isofsd-mount/%%i
Restart=on-failure
RestartSec=2
TimeoutStopSec=30

[Install]
WantedBy=%s
`, after, quoted, wanted)
	return map[string]string{SystemdDaemonUnit: d.String(), SystemdTemplateUnit: tm.String()}, nil
}

// LaunchdPlist returns a LaunchAgent running the daemon in the
// foreground, started at load and restarted when it crashes (KeepAlive
// with SuccessfulExit false: a clean exit stays down).
func LaunchdPlist(o ServiceOptions) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Home == "" || !filepath.IsAbs(o.Home) {
		return nil, errors.New("service: launchd needs the home directory for its log")
	}
	var b bytes.Buffer
	str := func(s string) string {
		var e bytes.Buffer
		xml.EscapeText(&e, []byte(s))
		return "<string>" + e.String() + "</string>"
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- ` + ServiceMarker + ` -->
<plist version="1.0">
<dict>
	<key>Label</key>
	` + str(LaunchdLabel) + `
	<key>ProgramArguments</key>
	<array>
`)
	for _, a := range o.daemonArgs() {
		b.WriteString("\t\t" + str(a) + "\n")
	}
	logPath := filepath.Join(o.Home, "Library", "Logs", "isofsd.log")
	b.WriteString(`	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ProcessType</key>
	` + str("Background") + `
	<key>StandardOutPath</key>
	` + str(logPath) + `
	<key>StandardErrorPath</key>
	` + str(logPath) + `
</dict>
</plist>
`)
	return b.Bytes(), nil
}

// WriteServiceFiles writes files into dir (created if needed) and
// returns the paths written.
func WriteServiceFiles(dir string, files map[string][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := diskio.WriteFileAtomic(p, content, 0o644); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// SystemdUnitNames are the units SystemdUnits writes.
func SystemdUnitNames() []string { return []string{SystemdDaemonUnit, SystemdTemplateUnit} }

// MountUnitNames are the units MountUnits may write for where.
func MountUnitNames(where string) []string {
	name := SystemdEscapePath(filepath.Clean(where))
	return []string{name + ".mount", name + ".automount"}
}

// LaunchdPlistName is the file LaunchdPlist is installed as.
const LaunchdPlistName = LaunchdLabel + ".plist"

// markerScan bounds how much of a file is searched for ServiceMarker.
const markerScan = 1024

// RemoveServiceFiles removes from dir those of names that `service
// install` wrote (regular files carrying ServiceMarker) and returns the
// paths removed and the ones left because someone else wrote them. It
// removes nothing while a unit is enabled (a link to it in one of dir's
// *.wants or *.requires directories, which `systemctl enable` makes):
// deleting it would leave systemd a dangling link.
func RemoveServiceFiles(dir string, names []string) (removed, foreign []string, err error) {
	var ours []string
	for _, name := range names {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if !fi.Mode().IsRegular() || !hasMarker(p) {
			foreign = append(foreign, p)
			continue
		}
		links, _ := filepath.Glob(filepath.Join(dir, "*.wants", name))
		more, _ := filepath.Glob(filepath.Join(dir, "*.requires", name))
		if links = append(links, more...); len(links) > 0 {
			return nil, foreign, fmt.Errorf("service: %s is enabled (%s): run `systemctl disable --now %s` first", name, links[0], name)
		}
		ours = append(ours, p)
	}
	for _, p := range ours {
		if err := os.Remove(p); err != nil {
			return removed, foreign, err
		}
		removed = append(removed, p)
	}
	return removed, foreign, nil
}

// hasMarker reports whether the start of the file at p carries
// ServiceMarker.
func hasMarker(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, markerScan)
	n, _ := io.ReadFull(f, b)
	return bytes.Contains(b[:n], []byte(ServiceMarker))
}

// SystemdUnitDir is where units are installed by default.
func SystemdUnitDir(user bool, home string) string {
	if !user {
		return "/etc/systemd/system"
	}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "systemd", "user")
	}
	return filepath.Join(home, ".config", "systemd", "user")
}

// LaunchAgentDir is where LaunchAgents are installed by default.
func LaunchAgentDir(home string) string { return filepath.Join(home, "Library", "LaunchAgents") }

// SystemdEscapePath is `systemd-escape --path`: the unit name systemd
// requires for a .mount or .automount unit of that path.
func SystemdEscapePath(p string) string {
	// Simplify as systemd does: drop repeated and trailing slashes and
	// "." elements.
	var parts []string
	for _, e := range strings.Split(p, "/") {
		if e != "" && e != "." {
			parts = append(parts, e)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	s := strings.Join(parts, "/")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// MountUnitOptions describe a systemd .mount unit (and optionally an
// .automount unit) for one image: the fstab entry's equivalent, mounted
// by systemd through the mount helper form (`isofsd IMAGE DIR -o opts`).
type MountUnitOptions struct {
	Image, Where string
	// Options is the -o list ("ro,nosuid,nodev" are always included).
	Options []string
	// Automount adds an .automount unit: the image is mounted on first
	// access and unmounted after IdleSec seconds unused (0: never).
	Automount bool
	IdleSec   int
	User      bool
}

// MountUnits returns the .mount (and .automount) unit files by name.
func MountUnits(o MountUnitOptions) (map[string]string, error) {
	if !filepath.IsAbs(o.Image) || !filepath.IsAbs(o.Where) {
		return nil, errors.New("service: image and mountpoint must be absolute paths")
	}
	for _, opt := range o.Options {
		if opt == "rw" {
			return nil, ErrReadWrite
		}
		if slices.Contains(trustOptions, opt) {
			return nil, fmt.Errorf("service: option %s: mounts are nosuid,nodev (trust_image_suid is the explicit way out)", opt)
		}
		if strings.ContainsAny(opt, ", \t\n") {
			return nil, fmt.Errorf("service: bad mount option %q", opt)
		}
	}
	if strings.ContainsAny(o.Image+o.Where, "\n") {
		return nil, errors.New("service: newline in a path")
	}
	where := filepath.Clean(o.Where)
	name := SystemdEscapePath(where)
	wanted := "multi-user.target"
	if o.User {
		wanted = "default.target"
	}
	// Spelled out although isofsd enforces them anyway: whoever reads
	// the unit (or copies it for another file system) sees them.
	opts := append([]string{"ro", "nosuid", "nodev"}, o.Options...)
	var m strings.Builder
	fmt.Fprintf(&m, unitHeader+`[Unit]
Description=isofsd: %s on %s
Documentation=https://github.com/isofsd/isofsd

[Mount]
What=%s
Where=%s
Type=fuse.isofsd
Options=%s
`, o.Image, where, o.Image, where, strings.Join(opts, ","))
	if !o.Automount {
		fmt.Fprintf(&m, "\n[Install]\nWantedBy=%s\n", wanted)
	}
	units := map[string]string{name + ".mount": m.String()}
	if o.Automount {
		var a strings.Builder
		fmt.Fprintf(&a, unitHeader+`[Unit]
Description=isofsd: mount %s on %s when first used
Documentation=https://github.com/isofsd/isofsd

[Automount]
Where=%s
TimeoutIdleSec=%d

[Install]
WantedBy=%s
`, o.Image, where, where, o.IdleSec, wanted)
		units[name+".automount"] = a.String()
	}
	return units, nil
}
