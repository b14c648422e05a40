//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/isofsd/isofsd/mounter/ctlproto"
)

func TestMountHelperArgs(t *testing.T) {
	dir := t.TempDir()
	// Files named like subcommands in the working directory.
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	os.WriteFile("ls", nil, 0o644)
	os.WriteFile("umount", nil, 0o644)
	img := filepath.Join(dir, "a.iso")
	os.WriteFile(img, []byte("x"), 0o644)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	for _, tc := range []struct {
		name  string
		argv0 string
		args  []string
		want  []string // nil: not a helper call
	}{
		{"subcommand", "isofsd", []string{"info", img}, nil},
		{"subcommand named like a dir", "isofsd", []string{"ls", img}, nil},
		{"flags first", "isofsd", []string{"-o", "ro", img, mp}, nil},
		{"missing image", "isofsd", []string{filepath.Join(dir, "nope.iso"), mp}, nil},
		{"image is a dir", "isofsd", []string{mp, mp}, nil},
		{"mountpoint is a file", "isofsd", []string{img, img}, nil},
		{"mount.fuse3 form", "isofsd", []string{img, mp, "-o", "ro,allow_other,nofail,_netdev,x-systemd.automount,dev,suid"},
			[]string{"mount", "-o", "allow_other,dev,suid", "--", img, mp}},
		{"all options", "isofsd", []string{img, mp, "-o", "defaults,ro,uid=1000,gid=100,umask=022,tree=joliet,cache_size=64M,noauto,user,auto,nodev"},
			[]string{"mount", "--tree", "joliet", "--cache-size", "64M", "--uid", "1000", "--gid", "100", "--umask", "22", "-o", "nodev", "--", img, mp}},
		{"unknown options dropped", "isofsd", []string{img, mp, "-o", "ro,frobnicate,x-gvfs-show"},
			[]string{"mount", "--", img, mp}},
		{"mount.isofsd form", "mount.isofsd", []string{img, mp, "-n", "-s", "-o", "ro", "-t", "isofsd"},
			[]string{"mount", "--", img, mp}},
		{"mount.isofsd joined -o and -v", "mount.fuse.isofsd", []string{"-sv", img, mp, "-oallow_other"},
			[]string{"mount", "-o", "allow_other", "--log-level", "debug", "--", img, mp}},
		{"no options", "isofsd", []string{img, mp}, []string{"mount", "--", img, mp}},
		{"file named like a subcommand", "isofsd", []string{"ls", mp}, nil},
		{"file named like an alias", "isofsd", []string{"umount", mp}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mountHelperArgs(tc.argv0, tc.args)
			if tc.want == nil {
				if ok {
					t.Fatalf("rewritten to %q; want untouched", got)
				}
				if r := rewriteArgs(tc.argv0, tc.args); !reflect.DeepEqual(r, tc.args) {
					t.Fatalf("rewriteArgs changed %q to %q", tc.args, r)
				}
				return
			}
			if !ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q (%v), want %q", got, ok, tc.want)
			}
		})
	}
}

// TestMountHelperArgsErrors checks that bad helper calls exit with the
// usage code (as mount(8) expects a failure status) instead of mounting.
func TestMountHelperArgsErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.iso")
	os.WriteFile(img, []byte("x"), 0o644)
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	type exit struct{ err error }
	old := helperExit
	defer func() { helperExit = old }()
	helperExit = func(err error) { panic(exit{err}) }
	for _, tc := range []struct {
		argv0 string
		args  []string
		want  string
	}{
		{"isofsd", []string{img, mp, "-o", "rw"}, "read-only"},
		{"isofsd", []string{img, mp, "-o", "ro,uid=abc"}, "uid=abc"},
		{"isofsd", []string{img, mp, "-o", "tree=hfs"}, "tree=hfs"},
		{"isofsd", []string{img, mp, "-o", "umask=999"}, "umask=999"},
		{"mount.isofsd", []string{img}, "want IMAGE MOUNTPOINT"},
		{"mount.isofsd", []string{img, mp, "-x"}, "-x"},
		{"mount.isofsd", []string{img, mp, "-o"}, "needs a value"},
	} {
		func() {
			defer func() {
				r := recover()
				e, ok := r.(exit)
				if !ok {
					t.Errorf("%s %q: no exit (%v)", tc.argv0, tc.args, r)
					return
				}
				if !strings.Contains(e.err.Error(), tc.want) {
					t.Errorf("%s %q: %v, want %q", tc.argv0, tc.args, e.err, tc.want)
				}
			}()
			mountHelperArgs(tc.argv0, tc.args)
		}()
	}
}

func TestWriteMountList(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	mounts := []ctlproto.MountStatus{
		{Mountpoint: "/mnt/a", Image: "/i/a.iso", Tree: "udf", Since: now.Add(-90 * time.Second), BytesRead: 3 << 20, CacheHits: 9, CacheMisses: 1},
		{Mountpoint: "/mnt/b", Image: "/i/b.iso", Tree: "joliet", Since: now.Add(-time.Hour), BytesRead: -1},
	}
	var b bytes.Buffer
	if err := writeMountList(&b, mounts, false, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "MOUNTPOINT") {
		t.Fatalf("table:\n%s", b.String())
	}
	for _, want := range []string{"/mnt/a", "/i/a.iso", "udf", "1m30s", "3.0 MiB", "90.0%"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if f := strings.Fields(lines[2]); f[len(f)-1] != "-" || f[len(f)-2] != "-" || f[3] != "1h0m0s" {
		t.Errorf("row without counters: %q", lines[2])
	}
	b.Reset()
	if err := writeMountList(&b, mounts, true, now); err != nil {
		t.Fatal(err)
	}
	var back []ctlproto.MountStatus
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back) != 2 || back[0].CacheHits != 9 {
		t.Errorf("json: %v %+v", err, back)
	}
	b.Reset()
	writeMountList(&b, nil, true, now)
	if strings.TrimSpace(b.String()) != "[]" {
		t.Errorf("empty list as JSON: %q", b.String())
	}
}

// TestNoDaemon checks the client side when no daemon listens: --daemon
// fails, the default falls back to a standalone mount, list and status
// fail with their codes.
func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	d := &daemonMountFlags{socket: sock}
	if use, err := d.useDaemon(); use || err != nil {
		t.Errorf("default without daemon: %v %v", use, err)
	}
	d.daemon = true
	if _, err := d.useDaemon(); err == nil || !strings.Contains(err.Error(), "no isofsd daemon") {
		t.Errorf("--daemon without daemon: %v", err)
	}
	d.standalone = true
	if _, err := d.useDaemon(); err == nil {
		t.Error("--daemon --standalone accepted")
	}
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"list", "--socket", sock}, exitUsage},
		{[]string{"status", "--socket", sock}, exitDamaged},
	} {
		root := newRootCmd(a)
		root.SetArgs(tc.args)
		root.SetOut(io.Discard)
		if got := report(root.Execute()); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.code)
		}
	}
}

func TestServiceInstall(t *testing.T) {
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	dir := t.TempDir()
	for _, tc := range []struct {
		args  []string
		files []string
		code  int
	}{
		// System units run their binary as root: it must be root's
		// (the test binary is the tester's), /bin/sh is.
		{[]string{"service", "install", "--systemd", "--binary", "/bin/sh", "--dir", dir + "/sd", "--watch", "w", "--mount-root", "m"},
			[]string{"sd/isofsd.service", "sd/isofsd@.service"}, 0},
		{[]string{"service", "install", "--systemd", "--user", "--dir", dir + "/user"},
			[]string{"user/isofsd.service", "user/isofsd@.service"}, 0},
		{[]string{"service", "install", "--launchd", "--dir", dir + "/ld"}, []string{"ld/org.isofsd.daemon.plist"}, 0},
		{[]string{"service", "install", "--dir", dir + "/none"}, nil, exitUsage},
		{[]string{"service", "install", "--systemd", "--launchd", "--dir", dir + "/both"}, nil, exitUsage},
		{[]string{"service", "install", "--systemd", "--watch", "w", "--dir", dir + "/half"}, nil, exitUsage},
		{[]string{"service", "install", "--systemd", "--mount-image", "/srv/a.iso", "--mount-point", "/media/a b", "--automount", "--dir", dir + "/mu"},
			[]string{`mu/media-a\x20b.mount`, `mu/media-a\x20b.automount`}, 0},
		{[]string{"service", "install", "--launchd", "--mount-image", "/srv/a.iso", "--mount-point", "/m", "--dir", dir + "/mu2"}, nil, exitUsage},
		{[]string{"service", "install", "--systemd", "--mount-image", "/srv/a.iso", "--dir", dir + "/mu3"}, nil, exitUsage},
		{[]string{"service", "install", "--systemd", "--mount-image", "/srv/a.iso", "--mount-point", "/m", "--mount-options", "rw", "--dir", dir + "/mu4"}, nil, exitUsage},
	} {
		root := newRootCmd(a)
		root.SetArgs(tc.args)
		var out bytes.Buffer
		root.SetOut(&out)
		if got := report(root.Execute()); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.code)
		}
		for _, f := range tc.files {
			if !strings.Contains(out.String(), filepath.Join(dir, f)) {
				t.Errorf("%v: %s not reported in %q", tc.args, f, out.String())
			}
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%v: %v", tc.args, err)
			}
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "sd/isofsd.service"))
	wd, _ := os.Getwd()
	if !strings.Contains(string(unit), "--watch "+filepath.Join(wd, "w")+" --mount-root "+filepath.Join(wd, "m")) {
		t.Errorf("relative --watch not made absolute:\n%s", unit)
	}
}

// listTree lists every path under dir with its type, for before/after
// comparisons.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+d.Type().String())
		return nil
	})
	return out
}

// TestServiceUninstall: uninstall removes exactly what the matching
// install wrote — the directory's file list afterwards is the one from
// before — leaves files of the same name written by someone else, and
// refuses an enabled unit until it is disabled.
func TestServiceUninstall(t *testing.T) {
	a := &app{log: logrus.New()}
	a.log.SetOutput(io.Discard)
	exec := func(args ...string) (string, int) {
		root := newRootCmd(a)
		root.SetArgs(args)
		var out bytes.Buffer
		root.SetOut(&out)
		return out.String(), report(root.Execute())
	}
	for _, tc := range []struct {
		name      string
		install   []string
		uninstall []string
	}{
		{"systemd", []string{"--systemd", "--watch", "/w", "--mount-root", "/m"}, []string{"--systemd"}},
		{"systemd-user", []string{"--systemd", "--user"}, []string{"--systemd", "--user"}},
		{"mount-units", []string{"--systemd", "--mount-image", "/srv/a.iso", "--mount-point", "/media/a b", "--automount"}, []string{"--systemd", "--mount-point", "/media/a b"}},
		{"launchd", []string{"--launchd"}, []string{"--launchd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// What was there before: another unit, and a directory of links.
			os.WriteFile(filepath.Join(dir, "other.service"), []byte("[Unit]\n"), 0o644)
			os.Mkdir(filepath.Join(dir, "multi-user.target.wants"), 0o755)
			before := listTree(t, dir)
			if out, code := exec(append(append([]string{"service", "install"}, tc.install...), "--dir", dir)...); code != 0 {
				t.Fatalf("install: exit %d %s", code, out)
			}
			if after := listTree(t, dir); len(after) <= len(before) {
				t.Fatalf("install wrote nothing: %v", after)
			}
			out, code := exec(append(append([]string{"service", "uninstall"}, tc.uninstall...), "--dir", dir)...)
			if code != 0 {
				t.Fatalf("uninstall: exit %d %s", code, out)
			}
			if after := listTree(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("after install + uninstall:\n%v\nbefore:\n%v", after, before)
			}
		})
	}
	t.Run("foreign-and-enabled", func(t *testing.T) {
		dir := t.TempDir()
		// A unit of the same name that install did not write stays.
		mine := []byte("[Unit]\nDescription=someone else's\n")
		os.WriteFile(filepath.Join(dir, "isofsd@.service"), mine, 0o644)
		if out, code := exec("service", "install", "--systemd", "--dir", dir); code != 0 {
			t.Fatalf("install: %d %s", code, out)
		}
		// install replaced it (as before): write it back to play the
		// case where another package owns the name.
		os.WriteFile(filepath.Join(dir, "isofsd@.service"), mine, 0o644)
		wants := filepath.Join(dir, "multi-user.target.wants")
		os.Mkdir(wants, 0o755)
		os.Symlink(filepath.Join(dir, "isofsd.service"), filepath.Join(wants, "isofsd.service"))
		if out, code := exec("service", "uninstall", "--systemd", "--dir", dir); code != exitUsage {
			t.Errorf("uninstall of an enabled unit: exit %d %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "isofsd.service")); err != nil {
			t.Errorf("enabled unit removed: %v", err)
		}
		os.Remove(filepath.Join(wants, "isofsd.service"))
		if out, code := exec("service", "uninstall", "--systemd", "--dir", dir); code != 0 {
			t.Fatalf("uninstall: %d %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "isofsd.service")); !os.IsNotExist(err) {
			t.Errorf("isofsd.service left: %v", err)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "isofsd@.service")); err != nil || !bytes.Equal(b, mine) {
			t.Errorf("someone else's isofsd@.service: %q %v", b, err)
		}
	})
}
