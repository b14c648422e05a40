package mounter

import (
	"errors"
	"fmt"
	"strings"
)

// Windows integration: the service `service install --windows` registers
// (the daemon under the service manager) and the Explorer verbs for
// .iso/.img files. The definitions are built here, on every system, so
// that they are tested on Linux; winservice_windows.go applies them.

// WindowsServiceName is the service's name in the service manager.
const WindowsServiceName = "isofsd"

// WindowsService describes the service to register.
type WindowsService struct {
	Name, DisplayName, Description string
	// Binary is isofsd.exe's absolute path; Args follow it.
	Binary string
	Args   []string
}

// WindowsServiceSpec is the service running `isofsd daemon` under the
// service manager on socket, logging to logFile.
func WindowsServiceSpec(binary, socket, logFile, logLevel string) (WindowsService, error) {
	if !isWindowsAbs(binary) || !isWindowsAbs(socket) || !isWindowsAbs(logFile) {
		return WindowsService{}, fmt.Errorf("service: %q, %q and %q must be absolute paths", binary, socket, logFile)
	}
	args := []string{"daemon", "--windows-service", "--socket", socket, "--log-file", logFile}
	if logLevel != "" {
		args = append(args, "--log-level", logLevel)
	}
	return WindowsService{Name: WindowsServiceName, DisplayName: "isofsd",
		Description: "Mounts ISO 9660 / UDF images (isofsd daemon; control socket " + socket + ")",
		Binary:      binary, Args: args}, nil
}

// isWindowsAbs reports whether p is an absolute Windows path (C:\…, or
// \\server\share\…), whatever system this runs on.
func isWindowsAbs(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') || strings.HasPrefix(p, `\\`)
}

// RegistryValue is one string value under HKEY_CURRENT_USER. Name "" is
// the key's default value.
type RegistryValue struct {
	Key, Name, Value string
}

// ExplorerVerbExtensions are the file types the verbs are added to.
var ExplorerVerbExtensions = []string{".iso", ".img"}

// explorerVerb is one context-menu entry.
type explorerVerb struct {
	id, label, command string
}

// explorerVerbs are the context-menu entries for binary: mount on the
// first free drive letter (`mount "%1" *` returns once it is live);
// write and verify in a console that stays open, write asking for the
// target after listing the drives it may use.
func explorerVerbs(binary string) []explorerVerb {
	exe := `"` + binary + `"`
	return []explorerVerb{
		{"isofsd.mount", "Mount with isofsd", exe + ` mount "%1" *`},
		{"isofsd.write", "Write to USB with isofsd",
			`cmd.exe /v:on /s /k "` + exe + ` devices & set /p T=Write to which drive (as listed above)? & ` + exe + ` write "%1" !T!"`},
		{"isofsd.verify", "Verify with isofsd", `cmd.exe /s /k "` + exe + ` verify "%1""`},
	}
}

// ExplorerVerbKeys lists the keys ExplorerVerbs writes, deepest first
// (the order to delete them in).
func ExplorerVerbKeys() []string {
	var keys []string
	for _, ext := range ExplorerVerbExtensions {
		for _, v := range explorerVerbs("") {
			base := `Software\Classes\SystemFileAssociations\` + ext + `\shell\` + v.id
			keys = append(keys, base+`\command`, base)
		}
	}
	return keys
}

// ExplorerVerbs lists the HKCU values that add the verbs to .iso and .img
// files for the current user (no administrator rights needed). They go
// under SystemFileAssociations, which adds verbs without taking over the
// file type from whatever program opens it.
func ExplorerVerbs(binary string) ([]RegistryValue, error) {
	if !isWindowsAbs(binary) {
		return nil, fmt.Errorf("service: binary path %q is not absolute", binary)
	}
	if strings.ContainsAny(binary, `"%!&`) {
		return nil, errors.New(`service: the binary path may not contain " % ! or &`)
	}
	var out []RegistryValue
	for _, ext := range ExplorerVerbExtensions {
		for _, v := range explorerVerbs(binary) {
			base := `Software\Classes\SystemFileAssociations\` + ext + `\shell\` + v.id
			out = append(out,
				RegistryValue{Key: base, Name: "", Value: v.label},
				RegistryValue{Key: base, Name: "Icon", Value: `"` + binary + `",0`},
				RegistryValue{Key: base + `\command`, Name: "", Value: v.command})
		}
	}
	return out, nil
}
