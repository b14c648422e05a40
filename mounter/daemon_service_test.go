package mounter

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// testBinary is an executable that exists, for ExecStart checks.
func testBinary(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSystemdUnitsVerify writes the units and runs systemd-analyze verify
// on the daemon unit and on an instance of the template named the way
// users name it (systemd-escape --path IMAGE).
func TestSystemdUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	bin := testBinary(t)
	imgDir := t.TempDir()
	image := filepath.Join(imgDir, "my image.iso")
	os.WriteFile(image, nil, 0o644)
	esc, err := exec.Command("systemd-escape", "--path", image).Output()
	if err != nil {
		t.Skipf("systemd-escape: %v", err)
	}
	instance := "isofsd@" + strings.TrimSpace(string(esc)) + ".service"
	for _, tc := range []struct {
		name string
		o    ServiceOptions
	}{
		{"system", ServiceOptions{Binary: bin}},
		{"system-watch", ServiceOptions{Binary: bin, Watch: "/srv/iso drop", MountRoot: "/media/iso", LogLevel: "debug", Socket: "/run/x/%.sock"}},
		{"user", ServiceOptions{Binary: bin, User: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			units, err := SystemdUnits(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			files := map[string][]byte{}
			for k, v := range units {
				files[k] = []byte(v)
			}
			if _, err := WriteServiceFiles(dir, files); err != nil {
				t.Fatal(err)
			}
			// The instance is verified through a link named like it,
			// as systemd would load it from the template.
			if err := os.Symlink(filepath.Join(dir, SystemdTemplateUnit), filepath.Join(dir, instance)); err != nil {
				t.Fatal(err)
			}
			args := []string{"verify", "--man=no"}
			if tc.o.User {
				args = append([]string{"--user"}, args...)
			}
			args = append(args, filepath.Join(dir, SystemdDaemonUnit), filepath.Join(dir, instance))
			cmd := exec.Command(sa, args...)
			// A user manager needs a runtime directory to initialise.
			cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			// verify exits 0 on warnings such as unknown keys, and also
			// complains about unrelated units of the host: a failure
			// exit or any line naming our files fails the test.
			var ours []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "isofsd") {
					ours = append(ours, l)
				}
			}
			if len(ours) > 0 || err != nil {
				t.Fatalf("systemd-analyze %v: %v\n%s\nunits:\n%s\n%s", args, err, out, units[SystemdDaemonUnit], units[SystemdTemplateUnit])
			}
			d := units[SystemdDaemonUnit]
			for _, want := range []string{"Type=notify", "WatchdogSec=30", "ExecStart=" + systemdQuote(bin) + " daemon"} {
				if !strings.Contains(d, want) {
					t.Errorf("daemon unit lacks %q:\n%s", want, d)
				}
			}
			if tc.o.Watch != "" && !strings.Contains(d, `--watch "/srv/iso drop" --mount-root /media/iso`) {
				t.Errorf("watch flags not quoted right:\n%s", d)
			}
			if tc.o.Socket != "" && !strings.Contains(d, "--socket /run/x/%%.sock") {
				t.Errorf("%% in a path not escaped:\n%s", d)
			}
			if !strings.Contains(units[SystemdTemplateUnit], "mount --foreground") {
				t.Errorf("template does not mount in the foreground:\n%s", units[SystemdTemplateUnit])
			}
		})
	}
}

// TestSystemdEscapeInstance checks the template's %I/%i use against
// systemd's own escaping: the image path and mountpoint it yields.
func TestSystemdEscapeInstance(t *testing.T) {
	isotest.RequireTool(t, "systemd-escape")
	image := "/srv/images/Debian 12 (amd64).iso"
	esc, err := exec.Command("systemd-escape", "--path", image).Output()
	if err != nil {
		t.Fatal(err)
	}
	inst := strings.TrimSpace(string(esc))
	if strings.Contains(inst, "/") {
		t.Fatalf("escaped instance %q contains a slash: the mountpoint would nest", inst)
	}
	un, err := exec.Command("systemd-escape", "--unescape", "--path", inst).Output()
	if err != nil {
		t.Fatal(err)
	}
	// The template's %f is this unescaped path.
	if got := strings.TrimSpace(string(un)); got != image {
		t.Errorf("round trip: %q", got)
	}
}

// plistValue parses one plist value element.
func plistValue(d *xml.Decoder, start xml.StartElement) (any, error) {
	switch start.Name.Local {
	case "string", "key", "integer":
		var s string
		err := d.DecodeElement(&s, &start)
		return s, err
	case "true", "false":
		return start.Name.Local == "true", d.Skip()
	case "array":
		var out []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				v, err := plistValue(d, tk)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			case xml.EndElement:
				return out, nil
			}
		}
	case "dict":
		out := map[string]any{}
		var key *string
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch tk := tok.(type) {
			case xml.StartElement:
				v, err := plistValue(d, tk)
				if err != nil {
					return nil, err
				}
				if tk.Name.Local == "key" {
					k := v.(string)
					key = &k
					continue
				}
				if key == nil {
					return nil, errors.New("dict value without key")
				}
				out[*key] = v
				key = nil
			case xml.EndElement:
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("unexpected plist element %s", start.Name.Local)
}

func parsePlist(b []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, errors.New("no plist element")
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("root element %s", se.Name.Local)
			}
			for {
				tok, err := d.Token()
				if err != nil {
					return nil, err
				}
				if se, ok := tok.(xml.StartElement); ok {
					v, err := plistValue(d, se)
					if err != nil {
						return nil, err
					}
					m, ok := v.(map[string]any)
					if !ok {
						return nil, errors.New("top value is not a dict")
					}
					return m, nil
				}
			}
		}
	}
}

func TestLaunchdPlist(t *testing.T) {
	o := ServiceOptions{Binary: "/opt/iso & fs/isofsd", Home: "/Users/me", Watch: "/Users/me/<isos>", MountRoot: "/Volumes/isofsd"}
	b, err := LaunchdPlist(o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePlist(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if p["Label"] != LaunchdLabel || p["RunAtLoad"] != true {
		t.Errorf("label/RunAtLoad: %v", p)
	}
	ka, ok := p["KeepAlive"].(map[string]any)
	if !ok || ka["SuccessfulExit"] != false {
		t.Errorf("KeepAlive: %v", p["KeepAlive"])
	}
	args, _ := p["ProgramArguments"].([]any)
	want := []any{"/opt/iso & fs/isofsd", "daemon", "--watch", "/Users/me/<isos>", "--mount-root", "/Volumes/isofsd"}
	if fmt.Sprint(args) != fmt.Sprint(want) {
		t.Errorf("ProgramArguments %q, want %q", args, want)
	}
	for _, a := range args {
		if a == "--daemonize" || a == "-d" {
			t.Error("launchd needs a foreground daemon")
		}
	}
	if p["StandardErrorPath"] != "/Users/me/Library/Logs/isofsd.log" {
		t.Errorf("log path %v", p["StandardErrorPath"])
	}
	if _, err := LaunchdPlist(ServiceOptions{Binary: "isofsd", Home: "/Users/me"}); err == nil {
		t.Error("relative binary accepted")
	}
}

// TestSystemdEscapePath compares with systemd-escape --path.
func TestSystemdEscapePath(t *testing.T) {
	se, err := exec.LookPath("systemd-escape")
	if err != nil {
		t.Skip("systemd-escape not installed")
	}
	for _, p := range []string{
		"/", "/media/iso", "/srv//images/", "/a/./b", "/mnt/Debian 12 (amd64).iso", "/x/.hidden/y", "/a-b_c:d.e",
		"/ünïcödé/dir", "/tab\there", `/back\slash`, "/pct%s",
	} {
		want, err := exec.Command(se, "--path", p).Output()
		if err != nil {
			t.Fatalf("systemd-escape %q: %v", p, err)
		}
		if got := SystemdEscapePath(p); got != strings.TrimSpace(string(want)) {
			t.Errorf("SystemdEscapePath(%q) = %q, systemd-escape says %q", p, got, strings.TrimSpace(string(want)))
		}
	}
}

// TestMountUnitsVerify runs systemd-analyze verify on .mount/.automount
// units, which also checks that the unit names match Where=.
func TestMountUnitsVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install systemd)")
	}
	for _, tc := range []MountUnitOptions{
		{Image: "/srv/images/debian 12.iso", Where: "/media/debian-12", Options: []string{"allow_other", "uid=1000"}},
		{Image: "/srv/win.iso", Where: "/media/win/", Automount: true, IdleSec: 300},
	} {
		units, err := MountUnits(tc)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		var paths []string
		for name, content := range units {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		if tc.Automount != (len(units) == 2) {
			t.Fatalf("units %v", units)
		}
		cmd := exec.Command(sa, append([]string{"verify", "--man=no"}, paths...)...)
		out, err := cmd.CombinedOutput()
		var ours []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, dir) || strings.Contains(l, "media") {
				ours = append(ours, l)
			}
		}
		if err != nil || len(ours) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s\n%v", err, out, units)
		}
		mount := units[SystemdEscapePath(tc.Where)+".mount"]
		if !strings.Contains(mount, "Type=fuse.isofsd\n") || !strings.Contains(mount, "What="+tc.Image+"\n") || !strings.Contains(mount, "Options=ro") {
			t.Errorf("mount unit:\n%s", mount)
		}
	}
	if _, err := MountUnits(MountUnitOptions{Image: "/a.iso", Where: "/m", Options: []string{"rw"}}); !errors.Is(err, ErrReadWrite) {
		t.Errorf("rw: %v", err)
	}
	if _, err := MountUnits(MountUnitOptions{Image: "a.iso", Where: "/m"}); err == nil {
		t.Error("relative image accepted")
	}
}

// TestMountUnitsNosuid: a generated .mount unit says ro,nosuid,nodev, and
// suid or dev in its options are refused (issue 16.1).
func TestMountUnitsNosuid(t *testing.T) {
	units, err := MountUnits(MountUnitOptions{Image: "/srv/a.iso", Where: "/media/a", Options: []string{"allow_other"}})
	if err != nil {
		t.Fatal(err)
	}
	if m := units["media-a.mount"]; !strings.Contains(m, "\nOptions=ro,nosuid,nodev,allow_other\n") {
		t.Errorf("mount unit:\n%s", m)
	}
	for _, bad := range []string{"suid", "dev"} {
		if _, err := MountUnits(MountUnitOptions{Image: "/srv/a.iso", Where: "/media/a", Options: []string{bad}}); err == nil || !strings.Contains(err.Error(), "nosuid,nodev") {
			t.Errorf("option %s: %v", bad, err)
		}
	}
}
