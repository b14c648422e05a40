package mounter

import (
	"reflect"
	"strings"
	"testing"
)

// TestWindowsServiceSpec: the service runs the daemon in service mode on
// the given socket and log; relative paths are refused.
func TestWindowsServiceSpec(t *testing.T) {
	s, err := WindowsServiceSpec(`C:\Program Files\isofsd\isofsd.exe`, `C:\ProgramData\isofsd\isofsd.sock`, `C:\ProgramData\isofsd\isofsd.log`, "debug")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"daemon", "--windows-service", "--socket", `C:\ProgramData\isofsd\isofsd.sock`,
		"--log-file", `C:\ProgramData\isofsd\isofsd.log`, "--log-level", "debug"}
	if s.Name != WindowsServiceName || s.Binary != `C:\Program Files\isofsd\isofsd.exe` || !reflect.DeepEqual(s.Args, want) {
		t.Errorf("spec %+v", s)
	}
	for _, bad := range [][3]string{
		{`isofsd.exe`, `C:\s.sock`, `C:\l.log`},
		{`C:\isofsd.exe`, `s.sock`, `C:\l.log`},
		{`C:\isofsd.exe`, `C:\s.sock`, `/var/log/l`},
	} {
		if _, err := WindowsServiceSpec(bad[0], bad[1], bad[2], ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestExplorerVerbs: three verbs for .iso and .img under HKCU's
// SystemFileAssociations, each with a label, an icon and a command that
// quotes the binary (a path with spaces) and the file.
func TestExplorerVerbs(t *testing.T) {
	bin := `C:\Program Files\isofsd\isofsd.exe`
	vals, err := ExplorerVerbs(bin)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vals {
		got[v.Key+"|"+v.Name] = v.Value
	}
	base := `Software\Classes\SystemFileAssociations\.iso\shell\`
	for k, want := range map[string]string{
		base + `isofsd.mount|`:          "Mount with isofsd",
		base + `isofsd.mount|Icon`:      `"C:\Program Files\isofsd\isofsd.exe",0`,
		base + `isofsd.mount\command|`:  `"C:\Program Files\isofsd\isofsd.exe" mount "%1" *`,
		base + `isofsd.write|`:          "Write to USB with isofsd",
		base + `isofsd.verify|`:         "Verify with isofsd",
		base + `isofsd.verify\command|`: `cmd.exe /s /k ""C:\Program Files\isofsd\isofsd.exe" verify "%1""`,
		`Software\Classes\SystemFileAssociations\.img\shell\isofsd.write\command|`: `cmd.exe /v:on /s /k ""C:\Program Files\isofsd\isofsd.exe" devices & set /p T=Write to which drive (as listed above)? & "C:\Program Files\isofsd\isofsd.exe" write "%1" !T!"`,
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if len(vals) != 2*3*3 {
		t.Errorf("%d values, want 18", len(vals))
	}
	// Uninstall deletes exactly the keys install wrote, each command
	// key before its verb key.
	keys := ExplorerVerbKeys()
	seen := map[string]int{}
	for i, k := range keys {
		seen[k] = i
	}
	for _, v := range vals {
		if _, ok := seen[v.Key]; !ok {
			t.Errorf("key %s written but not deleted", v.Key)
		}
		if strings.HasSuffix(v.Key, `\command`) && seen[v.Key] > seen[strings.TrimSuffix(v.Key, `\command`)] {
			t.Errorf("%s deleted after its parent", v.Key)
		}
	}
	if len(keys) != 2*3*2 {
		t.Errorf("%d keys, want 12", len(keys))
	}
	for _, bad := range []string{`isofsd.exe`, `C:\a"b\isofsd.exe`, `C:\100%\isofsd.exe`} {
		if _, err := ExplorerVerbs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
