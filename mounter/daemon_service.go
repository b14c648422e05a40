package mounter

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	fmt.Fprintf(&d, `[Unit]
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
	fmt.Fprintf(&tm, `[Unit]
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
	// Options is the -o list ("ro" is always included).
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
	opts := append([]string{"ro"}, o.Options...)
	var m strings.Builder
	fmt.Fprintf(&m, `[Unit]
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
		fmt.Fprintf(&a, `[Unit]
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
