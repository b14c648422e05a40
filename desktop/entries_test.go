package desktop

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/isofsd", "open", "%f"}, `/usr/bin/isofsd open %f`},
		{[]string{"/opt/my apps/isofsd", "open", "%f"}, `"/opt/my apps/isofsd" open %f`},
		{[]string{"/opt/100%/isofsd", "%f"}, `/opt/100%%/isofsd %f`},
		{[]string{`/opt/a"b/isofsd`, "%f"}, `"/opt/a\\"b/isofsd" %f`},
		{[]string{"/opt/$HOME/`x`/isofsd"}, "\"/opt/\\\\$HOME/\\\\`x\\\\`/isofsd\""},
		{[]string{`/opt/back\slash/isofsd`}, `"/opt/back\\\\slash/isofsd"`},
		{[]string{"/opt/semi;colon/isofsd"}, `"/opt/semi;colon/isofsd"`},
	} {
		if got := ExecLine(tc.args, "%f"); got != tc.want {
			t.Errorf("ExecLine(%q) = %s, want %s", tc.args, got, tc.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/isofsd": "/usr/bin/isofsd",
		"/opt/my apps/x":  "'/opt/my apps/x'",
		"it's":            `'it'\''s'`,
		"$(rm -rf ~)":     "'$(rm -rf ~)'",
		"":                "''",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
		// The shell gives the word back unchanged.
		if out, err := exec.Command("sh", "-c", "printf %s "+ShellQuote(in)).Output(); err == nil && string(out) != in {
			t.Errorf("sh read %s as %q, want %q", ShellQuote(in), out, in)
		}
	}
}

// validate runs desktop-file-validate, the freedesktop reference checker.
func validate(t *testing.T, name string, content []byte) {
	t.Helper()
	p, err := exec.LookPath("desktop-file-validate")
	if err != nil {
		t.Logf("desktop-file-validate not installed: %s not validated", name)
		return
	}
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(p, f).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("desktop-file-validate %s: %v\n%s\n%s", name, err, out, content)
	}
}

func TestDesktopEntry(t *testing.T) {
	for _, bin := range []string{"/usr/local/bin/isofsd", "/opt/my apps/isofsd"} {
		b, err := DesktopEntry(bin)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{
			"Exec=" + ExecLine([]string{bin, "open", "%f"}, "%f") + "\n",
			"MimeType=application/x-cd-image;application/x-iso9660-image;application/vnd.efi.iso;application/x-udf-image;application/x-raw-disk-image;\n",
			"Actions=Mount;Unmount;Verify;WriteUSB;\n",
			"[Desktop Action Mount]\nName=Mount\nIcon=media-mount\nExec=" + ExecLine([]string{bin, "mount", "%f"}, "%f") + "\n",
			"[Desktop Action Unmount]\nName=Unmount\nIcon=media-eject\nExec=" + ExecLine([]string{bin, "unmount", "%f"}, "%f") + "\n",
			"[Desktop Action Verify]\nName=Verify\nIcon=security-medium\nExec=" + ExecLine([]string{bin, "verify", "%f"}, "%f") + "\n",
			"[Desktop Action WriteUSB]\nName=Write to USB…\nIcon=drive-removable-media\nExec=" + ExecLine([]string{bin, "desktop", "write-usb", "%f"}, "%f") + "\n",
			"NoDisplay=true\n", "Terminal=false\n", "Type=Application\n",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("entry for %s lacks %q:\n%s", bin, want, s)
			}
		}
		validate(t, DesktopID, b)

		menu, err := ServiceMenu(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Type=Service\n", "X-KDE-ServiceTypes=KonqPopupMenu/Plugin\n", "Actions=Mount;Unmount;Verify;WriteUSB;\n",
			"Exec=" + ExecLine([]string{bin, "desktop", "write-usb", "%f"}, "%f") + "\n", "MimeType=application/x-cd-image;"} {
			if !strings.Contains(string(menu), want) {
				t.Errorf("service menu for %s lacks %q:\n%s", bin, want, menu)
			}
		}
	}
	for _, bad := range []string{"isofsd", "relative/isofsd", "/opt/new\nline/isofsd", "/opt/tab\t/isofsd"} {
		if _, err := DesktopEntry(bad); err == nil {
			t.Errorf("DesktopEntry(%q) accepted", bad)
		}
		if _, err := UCAActions(bad); err == nil {
			t.Errorf("UCAActions(%q) accepted", bad)
		}
	}
}

func TestUCAActions(t *testing.T) {
	bin := "/opt/it's here/isofsd"
	b, err := UCAActions(bin)
	if err != nil {
		t.Fatal(err)
	}
	doc := "<actions>\n" + string(b) + "</actions>\n"
	var parsed struct {
		Actions []struct {
			Name     string    `xml:"name"`
			Submenu  string    `xml:"submenu"`
			Command  string    `xml:"command"`
			Patterns string    `xml:"patterns"`
			ID       string    `xml:"unique-id"`
			Other    *struct{} `xml:"other-files"`
		} `xml:"action"`
	}
	if err := xml.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	if len(parsed.Actions) != len(Verbs) {
		t.Fatalf("%d actions, want %d", len(parsed.Actions), len(Verbs))
	}
	for i, a := range parsed.Actions {
		v := Verbs[i]
		want := ShellQuote(bin) + " " + strings.Join(v.Args, " ") + " %f"
		if a.Name != v.Name || a.Command != want || a.ID != "isofsd-"+strings.ToLower(v.ID) || a.Patterns != "*.iso;*.ISO;*.img;*.IMG;*.udf;*.UDF" || a.Other == nil || a.Submenu != "Disc Image" {
			t.Errorf("action %d: %+v, want %s running %s", i, a, v.Name, want)
		}
	}
}

func TestMIMEPackage(t *testing.T) {
	b := MIMEPackage(PackageTypes)
	var parsed struct {
		Types []struct {
			Type  string `xml:"type,attr"`
			Globs []struct {
				Pattern string `xml:"pattern,attr"`
			} `xml:"glob"`
			Sub *struct {
				Type string `xml:"type,attr"`
			} `xml:"sub-class-of"`
		} `xml:"mime-type"`
	}
	if err := xml.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Types) != 2 || parsed.Types[1].Type != "application/x-udf-image" || parsed.Types[1].Globs[0].Pattern != "*.udf" ||
		parsed.Types[1].Sub == nil || parsed.Types[1].Sub.Type != "application/x-raw-disk-image" || parsed.Types[0].Globs[0].Pattern != "*.img" {
		t.Errorf("package: %+v\n%s", parsed, b)
	}
}

func TestMissingTypes(t *testing.T) {
	globs := ParseGlobs2(strings.NewReader("# comment\n50:application/x-raw-disk-image:*.img\n50:application/x-cd-image:*.iso\nbroken line\n::\n50:text/x-foo:*.UDF:cs\n"))
	if got := globs["*.img"]; len(got) != 1 || got[0] != "application/x-raw-disk-image" {
		t.Errorf("*.img: %q", got)
	}
	if m := MissingTypes(globs); len(m) != 0 {
		t.Errorf("missing with *.img and *.UDF known: %+v", m)
	}
	delete(globs, "*.udf")
	if m := MissingTypes(globs); len(m) != 1 || m[0].Type != "application/x-udf-image" {
		t.Errorf("missing without *.udf: %+v", m)
	}
	if m := MissingTypes(nil); len(m) != 2 {
		t.Errorf("missing with nothing known: %+v", m)
	}
	// The machine's own database, if any: shared-mime-info has *.img.
	if known := KnownGlobs([]string{"/usr/share"}); len(known) > 0 && len(known["*.img"]) == 0 {
		t.Errorf("/usr/share/mime/globs2 read, but without *.img")
	}
}

// FuzzParseGlobs2: any file gives a map without a panic, every glob
// lowercased and non-empty.
func FuzzParseGlobs2(f *testing.F) {
	f.Add([]byte("50:application/x-cd-image:*.iso\n"))
	f.Add([]byte("# x\n::\n1:a:b:c:d\n\xff:\x00:\n"))
	if b, err := os.ReadFile("/usr/share/mime/globs2"); err == nil && len(b) < 1<<20 {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for g, ts := range ParseGlobs2(bytes.NewReader(b)) {
			if g == "" || g != strings.ToLower(g) || len(ts) == 0 {
				t.Errorf("glob %q → %q", g, ts)
			}
		}
	})
}

// TestCheckBinary: the path written into Exec= lines must be absolute and
// hold nothing a terminal or a desktop shell would render differently from
// what the file system has (controls, bidirectional overrides).
func TestCheckBinary(t *testing.T) {
	for _, tc := range []struct {
		bin string
		ok  bool
	}{
		{"/usr/local/bin/isofsd", true},
		{"/opt/iso tools/isofsd", true},
		{"isofsd", false},
		{"/usr/bin/iso\nfsd", false},
		{"/usr/bin/iso\x1b]0;x\afsd", false},
		{"/usr/bin/dsf\u202eosi", false},
		{"/usr/bin/iso\u009bfsd", false},
	} {
		err := checkBinary(tc.bin)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadBinary)) {
			t.Errorf("checkBinary(%q) = %v, want ok=%v", tc.bin, err, tc.ok)
		}
	}
}
