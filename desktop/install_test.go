package desktop

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// snapshot maps every path under root to its type, mode and content hash.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%v", st.Mode())
		if st.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			v += " " + hex.EncodeToString(h[:8])
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diff lists the differences between two snapshots; paths whose name is
// in contentFree are compared by presence only (caches a tool rebuilt).
func diff(a, b map[string]string, contentFree ...string) []string {
	var out []string
	for p, v := range a {
		w, ok := b[p]
		switch {
		case !ok:
			out = append(out, "gone: "+p)
		case v != w && !slices.Contains(contentFree, filepath.Base(p)):
			out = append(out, fmt.Sprintf("changed: %s (%s → %s)", p, v, w))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "new: "+p)
		}
	}
	slices.Sort(out)
	return out
}

// testHome is a home directory with XDG directories, a system config
// directory holding Thunar's system uca.xml, and a shared data directory
// whose MIME database knows *.img but not *.udf.
type testHome struct {
	root, home string
	layout     Layout
}

func newTestHome(t *testing.T) *testHome {
	t.Helper()
	root := t.TempDir()
	h := &testHome{root: root, home: filepath.Join(root, "home")}
	sysConf := filepath.Join(root, "etc-xdg")
	shared := filepath.Join(root, "usr-share")
	for _, d := range []string{h.home, filepath.Join(sysConf, "Thunar"), filepath.Join(shared, "mime")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sysUCA := strings.Replace(userUCA, "<action><name>Mine &amp; only mine</name><unique-id>isofsd-not-quite</unique-id><command>echo %f</command><patterns>*</patterns><other-files/></action>\n", "", 1)
	must(t, os.WriteFile(filepath.Join(sysConf, "Thunar", "uca.xml"), []byte(sysUCA), 0o644))
	must(t, os.WriteFile(filepath.Join(shared, "mime", "globs2"), []byte("50:application/x-raw-disk-image:*.img\n50:application/x-cd-image:*.iso\n"), 0o644))
	env := map[string]string{"XDG_DATA_DIRS": shared, "XDG_CONFIG_DIRS": sysConf}
	h.layout = UserLayout(h.home, func(k string) string { return env[k] })
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// installed lists what a manifest says Install made, with the manifest.
func installed(l Layout, m *Manifest) []string {
	out := append(append([]string{}, m.Files...), m.Dirs...)
	for _, c := range m.Caches {
		out = append(out, c.Created...)
	}
	out = append(out, l.ManifestPath())
	for _, e := range m.Edits {
		if !e.Existed {
			out = append(out, e.Path)
		}
	}
	slices.Sort(out)
	return out
}

// newPaths lists the paths of after that are not in before.
func newPaths(before, after map[string]string) []string {
	var out []string
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestInstallUninstallFresh: on a home with nothing, install reports
// every path it made (the file list after install is the list before
// plus exactly those), xdg-mime names isofsd as the default handler, and
// uninstall leaves the very file list (and contents) of before.
func TestInstallUninstallFresh(t *testing.T) {
	h := newTestHome(t)
	before := snapshot(t, h.root)
	m, err := Install(Options{Layout: h.layout, Binary: "/usr/local/bin/isofsd", Default: true})
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, h.root)
	if got, want := newPaths(before, after), installed(h.layout, m); !slices.Equal(got, want) {
		t.Errorf("new paths after install:\n%s\nmanifest says:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	data := h.layout.DataDir
	for _, p := range []string{
		filepath.Join(data, "applications", DesktopID),
		filepath.Join(data, "kio", "servicemenus", ServiceMenuName),
		filepath.Join(data, "mime", "packages", MIMEPackageName),
		filepath.Join(h.layout.ConfigDir, "mimeapps.list"),
		filepath.Join(h.layout.ConfigDir, "Thunar", "uca.xml"),
	} {
		if _, ok := after[p]; !ok {
			t.Errorf("%s not written", p)
		}
	}
	if st, err := os.Stat(filepath.Join(data, "kio", "servicemenus", ServiceMenuName)); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("service menu mode %v %v, want 0755 (KDE ignores user service menus that are not executable)", st, err)
	}
	pkg, _ := os.ReadFile(filepath.Join(data, "mime", "packages", MIMEPackageName))
	if !strings.Contains(string(pkg), `"*.udf"`) || strings.Contains(string(pkg), `"*.img"`) {
		t.Errorf("MIME package should define *.udf only (the shared database knows *.img):\n%s", pkg)
	}
	uca, _ := os.ReadFile(filepath.Join(h.layout.ConfigDir, "Thunar", "uca.xml"))
	if !strings.Contains(string(uca), "Open Terminal Here") || !strings.Contains(string(uca), "isofsd-mount") {
		t.Errorf("new uca.xml should hold the system's actions and ours:\n%s", uca)
	}
	if _, err := exec.LookPath("update-mime-database"); err == nil {
		if _, ok := after[filepath.Join(data, "mime", "mime.cache")]; !ok {
			t.Errorf("update-mime-database did not run")
		}
	}
	if p, err := exec.LookPath("xdg-mime"); err == nil {
		cmd := exec.Command(p, "query", "default", "application/x-cd-image")
		cmd.Env = []string{"HOME=" + h.home, "XDG_CONFIG_HOME=" + h.layout.ConfigDir, "XDG_DATA_HOME=" + data,
			"XDG_DATA_DIRS=" + strings.Join(h.layout.SharedDataDirs, ":"), "PATH=" + os.Getenv("PATH")}
		if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != DesktopID {
			t.Errorf("xdg-mime query default application/x-cd-image: %q %v, want %s", out, err, DesktopID)
		}
	}

	m2, err := Uninstall(h.layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m2.Files, m.Files) {
		t.Errorf("uninstall followed another manifest: %q", m2.Files)
	}
	if d := diff(before, snapshot(t, h.root)); len(d) > 0 {
		t.Errorf("after uninstall:\n%s", strings.Join(d, "\n"))
	}
	if _, err := Uninstall(h.layout, nil); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall: %v, want ErrNotInstalled", err)
	}
}

// TestInstallUninstallKeepsUserFiles: with the user's own defaults,
// Thunar actions, desktop files and MIME packages in place, uninstall
// gives back every file byte for byte (the caches the tools rebuild are
// compared by name), and reinstalling twice changes nothing.
func TestInstallUninstallKeepsUserFiles(t *testing.T) {
	h := newTestHome(t)
	data, conf := h.layout.DataDir, h.layout.ConfigDir
	for p, content := range map[string]string{
		filepath.Join(conf, "mimeapps.list"):                        userMimeApps,
		filepath.Join(conf, "Thunar", "uca.xml"):                    userUCA,
		filepath.Join(data, "applications", "viewer.desktop"):       "[Desktop Entry]\nType=Application\nName=Viewer\nExec=viewer %f\nMimeType=text/plain;\n",
		filepath.Join(data, "mime", "packages", "mine.xml"):         "<?xml version=\"1.0\"?>\n<mime-info xmlns=\"http://www.freedesktop.org/standards/shared-mime-info\"><mime-type type=\"text/x-mine\"><glob pattern=\"*.mine\"/></mime-type></mime-info>\n",
		filepath.Join(data, "kio", "servicemenus", "other.desktop"): "[Desktop Entry]\nType=Service\n",
	} {
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o640))
	}
	for _, tool := range []string{"update-mime-database", "update-desktop-database"} {
		dir := filepath.Join(data, "mime")
		if tool == "update-desktop-database" {
			dir = filepath.Join(data, "applications")
		}
		if err := runTool(tool, dir); err != nil && !errors.Is(err, ErrToolMissing) {
			t.Fatal(err)
		}
	}
	before := snapshot(t, h.root)
	var first *Manifest
	for i := range 2 {
		m, err := Install(Options{Layout: h.layout, Binary: "/opt/iso fsd/isofsd", Default: true})
		if err != nil {
			t.Fatalf("install %d: %v", i+1, err)
		}
		if first == nil {
			first = m
		}
	}
	list, _ := os.ReadFile(filepath.Join(conf, "mimeapps.list"))
	d := MimeAppsDefaults(list)
	if d["application/x-cd-image"] != DesktopID || d["text/plain"] != "gedit.desktop" {
		t.Errorf("defaults after install: %v", d)
	}
	uca, _ := os.ReadFile(filepath.Join(conf, "Thunar", "uca.xml"))
	if strings.Count(string(uca), "<unique-id>isofsd-mount</unique-id>") != 1 || !strings.Contains(string(uca), "1612104464586264-1") {
		t.Errorf("uca.xml after two installs:\n%s", uca)
	}
	if _, err := Uninstall(h.layout, nil); err != nil {
		t.Fatal(err)
	}
	if d := diff(before, snapshot(t, h.root), "mime.cache", "globs", "globs2", "magic", "types", "subclasses", "aliases", "icons", "generic-icons", "treemagic", "XMLnamespaces", "version", "mimeinfo.cache"); len(d) > 0 {
		t.Errorf("after uninstall:\n%s", strings.Join(d, "\n"))
	}
	if cache, err := os.ReadFile(filepath.Join(data, "applications", "mimeinfo.cache")); err == nil && strings.Contains(string(cache), DesktopID) {
		t.Errorf("mimeinfo.cache still names us:\n%s", cache)
	}
}

// TestUninstallAfterUserChanges: files the user changed after install
// keep the changes; only our keys and actions go.
func TestUninstallAfterUserChanges(t *testing.T) {
	h := newTestHome(t)
	conf := h.layout.ConfigDir
	if _, err := Install(Options{Layout: h.layout, Binary: "/usr/bin/isofsd", Default: true}); err != nil {
		t.Fatal(err)
	}
	// The user picks another default for one type and a text editor,
	// and adds a Thunar action.
	list := filepath.Join(conf, "mimeapps.list")
	b, _ := os.ReadFile(list)
	b, _, err := setDefaults(b, map[string]*string{"application/vnd.efi.iso": ptr("other.desktop"), "text/plain": ptr("gedit.desktop")})
	must(t, err)
	must(t, os.WriteFile(list, b, 0o644))
	ucaPath := filepath.Join(conf, "Thunar", "uca.xml")
	u, _ := os.ReadFile(ucaPath)
	u = []byte(strings.Replace(string(u), "</actions>", "<action><unique-id>mine-1</unique-id><name>Mine</name></action>\n</actions>", 1))
	must(t, os.WriteFile(ucaPath, u, 0o644))

	if _, err := Uninstall(h.layout, nil); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(list)
	must(t, err)
	d := MimeAppsDefaults(b)
	if d["application/vnd.efi.iso"] != "other.desktop" || d["text/plain"] != "gedit.desktop" || d["application/x-cd-image"] != "" {
		t.Errorf("defaults after uninstall: %v", d)
	}
	u, err = os.ReadFile(ucaPath)
	must(t, err)
	if strings.Contains(string(u), "isofsd-") || !strings.Contains(string(u), "mine-1") || !strings.Contains(string(u), "Open Terminal Here") {
		t.Errorf("uca.xml after uninstall:\n%s", u)
	}
}

func ptr(s string) *string { return &s }

// TestInstallRefusesBrokenUCA: a uca.xml that does not parse is not
// overwritten, and nothing is left installed.
func TestInstallRefusesBrokenUCA(t *testing.T) {
	h := newTestHome(t)
	p := filepath.Join(h.layout.ConfigDir, "Thunar", "uca.xml")
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte("<actions><action>half written"), 0o644))
	before := snapshot(t, h.root)
	if _, err := Install(Options{Layout: h.layout, Binary: "/usr/bin/isofsd"}); !errors.Is(err, ErrUCA) {
		t.Fatalf("install over a broken uca.xml: %v, want ErrUCA", err)
	}
	if d := diff(before, snapshot(t, h.root)); len(d) > 0 {
		t.Errorf("a failed install left:\n%s", strings.Join(d, "\n"))
	}
}

func TestSystemLayout(t *testing.T) {
	l := SystemLayout(func(string) string { return "" })
	if l.DataDir != "/usr/local/share" || l.ConfigDir != "/etc/xdg" || l.ExecutableServiceMenu || l.ManifestPath() != "/usr/local/share/isofsd/desktop-install.json" {
		t.Errorf("system layout: %+v", l)
	}
	u := UserLayout("/home/u", func(k string) string {
		return map[string]string{"XDG_DATA_HOME": "relative/ignored", "XDG_CONFIG_HOME": "/cfg"}[k]
	})
	if u.DataDir != "/home/u/.local/share" || u.ConfigDir != "/cfg" || !slices.Equal(u.SharedDataDirs, []string{"/usr/local/share", "/usr/share"}) {
		t.Errorf("user layout: %+v", u)
	}
}

// TestReadManifestRefuses (review S1): a manifest decides what Uninstall
// deletes and restores, so one the caller did not write — writable by
// others, a symlink, someone else's — or one naming paths outside the
// layout is refused, and nothing it names is touched.
func TestReadManifestRefuses(t *testing.T) {
	h := newTestHome(t)
	victim := filepath.Join(h.root, "victim")
	must(t, os.WriteFile(victim, []byte("keep\n"), 0o644))
	path := h.layout.ManifestPath()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	write := func(m map[string]any, mode os.FileMode) {
		t.Helper()
		b, err := json.Marshal(m)
		must(t, err)
		os.Remove(path)
		must(t, os.WriteFile(path, b, mode))
		must(t, os.Chmod(path, mode))
	}
	uca := filepath.Join(h.layout.ConfigDir, "Thunar", "uca.xml")
	for _, tc := range []struct {
		name  string
		m     map[string]any
		mode  os.FileMode
		setup func()
	}{
		{"file outside the layout", map[string]any{"version": 1, "files": []string{victim}}, 0o600, nil},
		{"file climbing out", map[string]any{"version": 1, "files": []string{h.layout.DataDir + "/../../victim"}}, 0o600, nil},
		{"cache outside the layout", map[string]any{"version": 1, "caches": []map[string]any{{"tool": "update-mime-database", "dir": h.root, "created": []string{victim}}}}, 0o600, nil},
		{"edit of another file", map[string]any{"version": 1, "edits": []map[string]any{{"kind": "uca", "path": victim, "existed": true, "before": []byte("x"), "after": "0"}}}, 0o600, nil},
		{"uca edit of mimeapps.list", map[string]any{"version": 1, "edits": []map[string]any{{"kind": "uca", "path": filepath.Join(h.layout.ConfigDir, "mimeapps.list")}}}, 0o600, nil},
		{"writable by others", map[string]any{"version": 1, "files": []string{filepath.Join(h.layout.DataDir, "applications", DesktopID)}}, 0o666, nil},
		{"a symlink", nil, 0, func() {
			other := filepath.Join(h.root, "elsewhere.json")
			must(t, os.WriteFile(other, []byte(`{"version":1,"files":[]}`), 0o600))
			os.Remove(path)
			must(t, os.Symlink(other, path))
		}},
		{"someone else's", map[string]any{"version": 1, "edits": []map[string]any{{"kind": "uca", "path": uca}}}, 0o600, func() {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the manifest to another uid")
			}
			must(t, os.Chown(path, 54321, 54321))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.m != nil {
				write(tc.m, tc.mode)
			}
			if tc.setup != nil {
				tc.setup()
			}
			if _, err := Uninstall(h.layout, nil); !errors.Is(err, ErrBadManifest) {
				t.Errorf("Uninstall: %v, want ErrBadManifest", err)
			}
			if b, err := os.ReadFile(victim); err != nil || string(b) != "keep\n" {
				t.Errorf("victim: %q %v", b, err)
			}
			if _, err := Install(Options{Layout: h.layout, Binary: "/usr/bin/isofsd"}); !errors.Is(err, ErrBadManifest) {
				t.Errorf("Install over it: %v, want ErrBadManifest", err)
			}
		})
	}
}

// TestInstallKeepsOwnDotfileLinks: the caller's own symlinked
// mimeapps.list (dotfiles kept in a repository) is edited through the
// link and given back through it; the link stays a link.
func TestInstallKeepsOwnDotfileLinks(t *testing.T) {
	h := newTestHome(t)
	dots := filepath.Join(h.root, "dots")
	must(t, os.MkdirAll(dots, 0o755))
	must(t, os.WriteFile(filepath.Join(dots, "mimeapps.list"), []byte(userMimeApps), 0o644))
	must(t, os.MkdirAll(h.layout.ConfigDir, 0o755))
	link := filepath.Join(h.layout.ConfigDir, "mimeapps.list")
	must(t, os.Symlink(filepath.Join(dots, "mimeapps.list"), link))
	if _, err := Install(Options{Layout: h.layout, Binary: "/usr/bin/isofsd", Default: true}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dots, "mimeapps.list"))
	if MimeAppsDefaults(b)["application/x-cd-image"] != DesktopID {
		t.Errorf("the linked file was not edited:\n%s", b)
	}
	if _, err := Uninstall(h.layout, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a link: %v %v", link, st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dots, "mimeapps.list")); string(b) != userMimeApps {
		t.Errorf("the linked file after uninstall:\n%s", b)
	}
}
