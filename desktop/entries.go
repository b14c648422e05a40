// Package desktop integrates isofsd with Linux desktops: it writes the
// freedesktop.org files that make a double-click on an image run
// `isofsd open` (a .desktop entry with the image MIME types, and a MIME
// package for the extensions the shared database lacks), the same verbs
// as a Thunar custom action (uca.xml, merged into the user's own
// actions) and a KDE service menu, sets isofsd as the default handler
// when asked, and removes exactly what it wrote (Install keeps a
// manifest; Uninstall follows it). It also sends the desktop
// notifications commands started from a file manager report their
// outcome with, launches the file manager on a mountpoint and finds a
// terminal emulator for the verbs that need one.
//
// Nothing here mounts anything: the verbs run the isofsd binary.
package desktop

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/isofsd/isofsd/internal/safetext"
)

// Desktop file names. The desktop file ID (the .desktop file's name) is
// what mimeapps.list refers to.
const (
	DesktopID       = "isofsd.desktop"
	ServiceMenuName = "isofsd-image.desktop"
	MIMEPackageName = "isofsd.xml"
	// ucaIDPrefix starts the <unique-id> of every Thunar action we add:
	// it is how Uninstall tells ours from the user's.
	ucaIDPrefix = "isofsd-"
)

// MIMETypes are the types the .desktop entry and the KDE service menu
// declare: disc images under every name shared-mime-info has used
// (x-cd-image, its alias x-iso9660-image that file(1) reports, and
// vnd.efi.iso since shared-mime-info 2.3), UDF images (our MIME package
// adds the type where the shared database lacks it) and raw disk images
// (*.img, which may hold an ISO 9660 or UDF file system).
var MIMETypes = []string{
	"application/x-cd-image",
	"application/x-iso9660-image",
	"application/vnd.efi.iso",
	"application/x-udf-image",
	"application/x-raw-disk-image",
}

// DefaultTypes are the types isofsd becomes the default handler of with
// Options.Default: not raw disk images, most of which hold no ISO 9660
// or UDF file system (SD card and VM images).
var DefaultTypes = MIMETypes[:4]

// Patterns are the file name patterns of the Thunar actions (Thunar
// matches names, not MIME types, for custom actions).
var Patterns = []string{"*.iso", "*.ISO", "*.img", "*.IMG", "*.udf", "*.UDF"}

// Verb is an action offered on an image in file managers.
type Verb struct {
	// ID names the action in .desktop files ([Desktop Action ID]) and in
	// uca.xml (unique-id isofsd-ID).
	ID   string
	Name string
	// Description is Thunar's tooltip.
	Description string
	Icon        string
	// Args follow the binary; the image path comes last.
	Args []string
}

// Verbs are the actions on an image. Mount, Unmount and Verify report
// their outcome as a desktop notification (started from a file manager,
// nothing shows their output): each finishes on its own and its result
// is one line. Writing to USB runs in a terminal window instead: it
// destroys the data on a drive the user must pick from a list and
// confirm by typing, may ask for a password, and takes minutes that the
// user should be able to watch and interrupt — a notification can do
// none of that.
var Verbs = []Verb{
	{ID: "Mount", Name: "Mount", Description: "Mount the image read-only (isofsd)", Icon: "media-mount", Args: []string{"mount"}},
	{ID: "Unmount", Name: "Unmount", Description: "Unmount the image (isofsd)", Icon: "media-eject", Args: []string{"unmount"}},
	{ID: "Verify", Name: "Verify", Description: "Check the image against its checksums (isofsd)", Icon: "security-medium", Args: []string{"verify"}},
	{ID: "WriteUSB", Name: "Write to USB…", Description: "Write the image to a USB drive in a terminal window (isofsd)", Icon: "drive-removable-media", Args: []string{"desktop", "write-usb"}},
}

// OpenArgs follow the binary in the main entry: `isofsd open FILE`.
var OpenArgs = []string{"open"}

// ErrBadBinary means the binary path cannot be written into the files.
var ErrBadBinary = errors.New("desktop: unusable binary path")

// checkBinary refuses a binary path that is relative or holds control
// characters (a newline would end the Exec line).
func checkBinary(bin string) error {
	if !filepath.IsAbs(bin) {
		return fmt.Errorf("%w: %q is not absolute", ErrBadBinary, bin)
	}
	if !safetext.IsTerm(bin) {
		return fmt.Errorf("%w: %q holds a control or format character", ErrBadBinary, bin)
	}
	return nil
}

// execReserved are the characters that force quoting of an Exec argument
// (Desktop Entry Specification, "The Exec key").
const execReserved = " \t\n\"'\\><~|&;$*?#()`"

// ExecLine builds an Exec value: each argument quoted as the
// specification asks, "%" doubled except in the field codes given as
// fields (such as "%f"), then escaped as a string value (a backslash is
// written as two).
func ExecLine(args []string, fields ...string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		isField := false
		for _, f := range fields {
			if a == f {
				isField = true
			}
		}
		if isField {
			b.WriteString(a)
			continue
		}
		a = strings.ReplaceAll(a, "%", "%%")
		if a != "" && !strings.ContainsAny(a, execReserved) {
			b.WriteString(a)
			continue
		}
		r := strings.NewReplacer(`"`, `\"`, "`", "\\`", `$`, `\$`, `\`, `\\`)
		b.WriteString(`"` + r.Replace(a) + `"`)
	}
	// String-value escaping of the whole key: a backslash is "\\".
	return strings.ReplaceAll(b.String(), `\`, `\\`)
}

// ShellQuote quotes one word for a POSIX shell (Thunar splits its
// commands with g_shell_parse_argv).
func ShellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\"'\\><~|&;$*?#()`[]{}!%") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DesktopEntry is the application entry: a double-click runs
// `isofsd open FILE`; the actions appear in the file manager's context
// menu (GNOME Files, Nemo, Caja and KDE show desktop actions of the
// default application). NoDisplay keeps it out of application menus, as
// GNOME's disk image mounter does: it is a handler, not an application.
func DesktopEntry(bin string) ([]byte, error) {
	if err := checkBinary(bin); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `[Desktop Entry]
Type=Application
Version=1.4
Name=Disc Image Browser (isofsd)
GenericName=Disc Image Browser
Comment=Mount an ISO 9660 or UDF image read-only and browse it in the file manager
Icon=media-optical
Exec=%s
TryExec=%s
Terminal=false
NoDisplay=true
Categories=System;Filesystem;
MimeType=%s;
Actions=%s;
`, ExecLine(append([]string{bin}, append(OpenArgs, "%f")...), "%f"), ExecLine([]string{bin}),
		strings.Join(MIMETypes, ";"), strings.Join(verbIDs(), ";"))
	for _, v := range Verbs {
		fmt.Fprintf(&b, "\n[Desktop Action %s]\nName=%s\nIcon=%s\nExec=%s\n", v.ID, v.Name, v.Icon,
			ExecLine(append([]string{bin}, append(v.Args, "%f")...), "%f"))
	}
	return b.Bytes(), nil
}

func verbIDs() []string {
	ids := make([]string, len(Verbs))
	for i, v := range Verbs {
		ids[i] = v.ID
	}
	return ids
}

// ServiceMenu is the KDE (Dolphin, Konqueror) service menu: the verbs in
// a "Disc Image" submenu for the image types.
func ServiceMenu(bin string) ([]byte, error) {
	if err := checkBinary(bin); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `[Desktop Entry]
Type=Service
X-KDE-ServiceTypes=KonqPopupMenu/Plugin
MimeType=%s;
Actions=%s;
X-KDE-Submenu=Disc Image (isofsd)
Icon=media-optical
`, strings.Join(MIMETypes, ";"), strings.Join(verbIDs(), ";"))
	for _, v := range Verbs {
		fmt.Fprintf(&b, "\n[Desktop Action %s]\nName=%s\nIcon=%s\nExec=%s\n", v.ID, v.Name, v.Icon,
			ExecLine(append([]string{bin}, append(v.Args, "%f")...), "%f"))
	}
	return b.Bytes(), nil
}

// UCAActions are the Thunar custom actions, one <action> element per
// verb, each followed by a newline (ucaInsert and ucaStrip rely on it).
func UCAActions(bin string) ([]byte, error) {
	if err := checkBinary(bin); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, v := range Verbs {
		cmd := ShellQuote(bin)
		for _, a := range v.Args {
			cmd += " " + ShellQuote(a)
		}
		cmd += " %f"
		fmt.Fprintf(&b, "<action>\n\t<icon>%s</icon>\n\t<name>%s</name>\n\t<submenu>Disc Image</submenu>\n\t<unique-id>%s%s</unique-id>\n\t<command>%s</command>\n\t<description>%s</description>\n\t<range>1</range>\n\t<patterns>%s</patterns>\n\t<other-files/>\n</action>\n",
			xmlText(v.Icon), xmlText(v.Name), ucaIDPrefix, xmlText(strings.ToLower(v.ID)), xmlText(cmd), xmlText(v.Description), xmlText(strings.Join(Patterns, ";")))
	}
	return b.Bytes(), nil
}

// xmlText escapes s as XML character data.
func xmlText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s)) // writing to a bytes.Buffer cannot fail
	return b.String()
}

// MIMEType is one type of our MIME package.
type MIMEType struct {
	Type, Comment, Icon string
	SubClassOf          string
	Globs               []string
}

// PackageTypes are the types our MIME package can define: each is
// written only when no shared database knows its globs (see
// MissingTypes). shared-mime-info has had *.img (raw disk image) for
// years but has no UDF type.
var PackageTypes = []MIMEType{
	{Type: "application/x-raw-disk-image", Comment: "Raw disk image", Icon: "media-optical", Globs: []string{"*.img"}},
	{Type: "application/x-udf-image", Comment: "UDF disc image", Icon: "media-optical", SubClassOf: "application/x-raw-disk-image", Globs: []string{"*.udf"}},
}

// MIMEPackage is a shared-mime-info package defining types.
func MIMEPackage(types []MIMEType) []byte {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<mime-info xmlns=\"http://www.freedesktop.org/standards/shared-mime-info\">\n")
	for _, t := range types {
		fmt.Fprintf(&b, "  <mime-type type=\"%s\">\n    <comment>%s</comment>\n    <generic-icon name=\"%s\"/>\n", xmlText(t.Type), xmlText(t.Comment), xmlText(t.Icon))
		if t.SubClassOf != "" {
			fmt.Fprintf(&b, "    <sub-class-of type=\"%s\"/>\n", xmlText(t.SubClassOf))
		}
		for _, g := range t.Globs {
			fmt.Fprintf(&b, "    <glob pattern=\"%s\"/>\n", xmlText(g))
		}
		b.WriteString("  </mime-type>\n")
	}
	b.WriteString("</mime-info>\n")
	return b.Bytes()
}
