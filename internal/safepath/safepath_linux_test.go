//go:build linux

package safepath

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tree is a temp directory reached through directories root or the
// caller owns (t.TempDir's), made 0755.
func tree(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	must(t, os.Chmod(d, 0o755))
	real, err := filepath.EvalSymlinks(d)
	must(t, err)
	return real
}

// TestWalkFollowsOwnLinks: links and directories of the caller are
// followed (dotfile managers link whole directories), the real path is
// reported, and what Create makes is listed by the path given.
func TestWalkFollowsOwnLinks(t *testing.T) {
	base := tree(t)
	must(t, os.MkdirAll(filepath.Join(base, "dots", "share"), 0o755))
	must(t, os.MkdirAll(filepath.Join(base, "home", ".local"), 0o755))
	must(t, os.Symlink("../../dots/share", filepath.Join(base, "home", ".local", "share")))
	must(t, os.WriteFile(filepath.Join(base, "dots", "mimeapps.list"), []byte("x"), 0o644))
	must(t, os.Symlink(filepath.Join(base, "dots", "mimeapps.list"), filepath.Join(base, "home", "mimeapps.list")))

	d, created, err := OpenDir(filepath.Join(base, "home", ".local", "share", "applications"), Mine(), Options{Create: true})
	must(t, err)
	defer d.Close()
	if want := filepath.Join(base, "dots", "share", "applications"); d.Path() != want {
		t.Errorf("real path %s, want %s", d.Path(), want)
	}
	if want := []string{filepath.Join(base, "home", ".local", "share", "applications")}; !slices.Equal(created, want) {
		t.Errorf("created %q, want %q", created, want)
	}
	if st, err := os.Stat(filepath.Join(base, "dots", "share", "applications")); err != nil || !st.IsDir() {
		t.Errorf("not made behind the link: %v", err)
	}

	dir, name, _, err := Walk(filepath.Join(base, "home", "mimeapps.list"), Mine(), Options{FollowLast: true})
	must(t, err)
	if dir.Path() != filepath.Join(base, "dots") || name != "mimeapps.list" {
		t.Errorf("followed to %s %s", dir.Path(), name)
	}
	dir.Close()
	dir, name, _, err = Walk(filepath.Join(base, "home", "mimeapps.list"), Mine(), Options{})
	must(t, err)
	if dir.Path() != filepath.Join(base, "home") || name != "mimeapps.list" {
		t.Errorf("without FollowLast: %s %s", dir.Path(), name)
	}
	dir.Close()
}

// TestWalkNeverCreatesThroughLinks: a dangling link is not a place to
// make directories, and a link loop ends.
func TestWalkNeverCreatesThroughLinks(t *testing.T) {
	base := tree(t)
	must(t, os.Symlink(filepath.Join(base, "nowhere"), filepath.Join(base, "dangling")))
	if _, _, err := OpenDir(filepath.Join(base, "dangling", "x"), Mine(), Options{Create: true}); !errors.Is(err, unix.ENOENT) {
		t.Errorf("through a dangling link: %v, want ENOENT", err)
	}
	if _, err := os.Lstat(filepath.Join(base, "nowhere")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the link's target was made: %v", err)
	}
	must(t, os.Symlink("loop", filepath.Join(base, "loop")))
	if _, _, err := OpenDir(filepath.Join(base, "loop", "x"), Mine(), Options{}); !errors.Is(err, unix.ELOOP) {
		t.Errorf("link loop: %v, want ELOOP", err)
	}
}

// TestWalkRefusesOthers: a link or directory of another user, and a
// directory others may write to, stop the walk; the checks hold on the
// opened descriptor.
func TestWalkRefusesOthers(t *testing.T) {
	base := tree(t)
	target := filepath.Join(base, "target")
	must(t, os.Mkdir(target, 0o755))
	for _, tc := range []struct {
		name  string
		root  bool
		setup func(p string)
		ok    bool
	}{
		{"world-writable", false, func(p string) { must(t, os.Mkdir(p, 0o777)); must(t, os.Chmod(p, 0o777)) }, false},
		{"world-writable sticky", false, func(p string) { must(t, os.Mkdir(p, 0o777)); must(t, os.Chmod(p, 0o777|os.ModeSticky)) }, true},
		{"group-writable, someone's group", true, func(p string) {
			must(t, os.Mkdir(p, 0o775))
			must(t, os.Chmod(p, 0o775))
			must(t, os.Chown(p, -1, 54321))
		}, false},
		{"group-writable, own group", false, func(p string) { must(t, os.Mkdir(p, 0o775)); must(t, os.Chmod(p, 0o775)) }, true},
		{"another user's directory", true, func(p string) { must(t, os.Mkdir(p, 0o755)); must(t, os.Chown(p, 54321, 54321)) }, false},
		{"another user's link", true, func(p string) { must(t, os.Symlink(target, p)); must(t, os.Lchown(p, 54321, 54321)) }, false},
		{"root's link", false, func(p string) { must(t, os.Symlink(target, p)) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("needs root to give files to another uid")
			}
			p := filepath.Join(base, tc.name)
			tc.setup(p)
			d, _, err := OpenDir(filepath.Join(p, "sub"), Mine(), Options{Create: true})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				d.Close()
				return
			}
			if !errors.Is(err, ErrUntrusted) {
				t.Errorf("walked: %v, want ErrUntrusted", err)
			}
			if _, err := os.Lstat(filepath.Join(target, "sub")); err == nil {
				t.Errorf("made behind the refused element")
			}
		})
	}
}

// TestCheckFile: a binary every user runs must be root's, not writable
// by others, in directories only root may change.
func TestCheckFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: RootOnly trusts root's files")
	}
	base := tree(t)
	bin := filepath.Join(base, "bin")
	must(t, os.Mkdir(bin, 0o755))
	must(t, os.WriteFile(filepath.Join(bin, "isofsd"), []byte("#!"), 0o755))
	must(t, os.Symlink(filepath.Join(bin, "isofsd"), filepath.Join(base, "link")))
	if real, err := CheckFile(filepath.Join(base, "link"), RootOnly()); err != nil || real != filepath.Join(bin, "isofsd") {
		t.Errorf("root's binary through root's link: %q %v", real, err)
	}
	for _, tc := range []struct {
		name  string
		setup func() string
	}{
		{"group-writable binary", func() string {
			p := filepath.Join(bin, "g")
			must(t, os.WriteFile(p, nil, 0o775))
			must(t, os.Chmod(p, 0o775))
			return p
		}},
		{"a user's binary", func() string {
			p := filepath.Join(bin, "u")
			must(t, os.WriteFile(p, nil, 0o755))
			must(t, os.Chown(p, 54321, 54321))
			return p
		}},
		{"in a user's directory", func() string {
			d := filepath.Join(base, "home")
			must(t, os.Mkdir(d, 0o755))
			must(t, os.WriteFile(filepath.Join(d, "isofsd"), nil, 0o755))
			must(t, os.Chown(d, 54321, 54321))
			return filepath.Join(d, "isofsd")
		}},
		{"through a user's link", func() string {
			p := filepath.Join(base, "ulink")
			must(t, os.Symlink(filepath.Join(bin, "isofsd"), p))
			must(t, os.Lchown(p, 54321, 54321))
			return p
		}},
		{"in a world-writable directory", func() string {
			d := filepath.Join(base, "drop")
			must(t, os.Mkdir(d, 0o777))
			must(t, os.Chmod(d, 0o777))
			must(t, os.WriteFile(filepath.Join(d, "isofsd"), nil, 0o755))
			return filepath.Join(d, "isofsd")
		}},
		{"a directory", func() string { return bin }},
	} {
		if _, err := CheckFile(tc.setup(), RootOnly()); !errors.Is(err, ErrUntrusted) {
			t.Errorf("%s: %v, want ErrUntrusted", tc.name, err)
		}
	}
}
