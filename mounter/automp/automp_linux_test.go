//go:build linux

package automp

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testConfig lays out a media directory (with the user's directory made
// as udisks would, 0700) and a private runtime directory in a temp dir.
func testConfig(t *testing.T) Config {
	t.Helper()
	base := t.TempDir()
	c := Config{MediaDir: filepath.Join(base, "media"), User: "alice", RuntimeDir: filepath.Join(base, "run"), UID: os.Geteuid()}
	for _, d := range []string{c.MediaDir, c.RuntimeDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(c.RuntimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(c.MediaDir, c.User), 0o700); err != nil {
		t.Fatal(err)
	}
	return c
}

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestCreateHostileLabels: whatever the label, the mountpoint is a new
// directory directly in the user's media directory, and Remove deletes it.
func TestCreateHostileLabels(t *testing.T) {
	c := testConfig(t)
	parent := filepath.Join(c.MediaDir, c.User)
	for _, label := range []string{
		"DEMO", "../x", "../../../../tmp/evil", "/", "/etc", ".", "..", "", "\x00", "a\nb\tc\x1b",
		"\u202eoi.exe", strings.Repeat("L", 4096), strings.Repeat("../", 300), " .bashrc", "\xff\xfe\xfd",
	} {
		d, err := c.Create(label, "/srv/img/fallback.iso")
		if err != nil {
			t.Fatalf("Create(%q): %v", label, err)
		}
		if filepath.Dir(d.Path) != parent || d.Parent != parent || filepath.Join(d.Parent, d.Name) != d.Path {
			t.Errorf("Create(%q) = %q (parent %q, name %q): not directly in %s", label, d.Path, d.Parent, d.Name, parent)
		}
		checkElement(t, label, d.Name)
		st, err := os.Lstat(d.Path)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("Create(%q): %s is not a 0700 directory (%v, %v)", label, d.Path, st, err)
		}
		if err := d.Remove(); err != nil {
			t.Errorf("Remove %s: %v", d.Path, err)
		}
		if _, err := os.Lstat(d.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Remove: %v", d.Path, err)
		}
	}
	if left := entries(t, parent); len(left) != 0 {
		t.Errorf("left in %s: %q", parent, left)
	}
	if got := entries(t, c.MediaDir); len(got) != 1 || got[0] != c.User {
		t.Errorf("%s holds %q: something escaped the user's directory", c.MediaDir, got)
	}
}

// TestCreateUnique: a taken name (by a mount, a file, a stranger's
// directory) is never reused; "-2", "-3"… are appended.
func TestCreateUnique(t *testing.T) {
	c := testConfig(t)
	parent := filepath.Join(c.MediaDir, c.User)
	if err := os.WriteFile(filepath.Join(parent, "DEMO-2"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for range 3 {
		d, err := c.Create("DEMO", "")
		if err != nil {
			t.Fatal(err)
		}
		if d.Reused {
			t.Errorf("%s reused", d.Path)
		}
		// Mounted on, as far as Create can tell: not empty.
		must(t, os.WriteFile(filepath.Join(d.Path, "mounted"), nil, 0o600))
		d.Release()
		paths = append(paths, d.Name)
	}
	if strings.Join(paths, ",") != "DEMO,DEMO-3,DEMO-4" {
		t.Errorf("names %q, want DEMO, DEMO-3, DEMO-4", paths)
	}
}

// TestCreateReusesLeftover (review U1): the directory of a mount whose
// process died before removing it — ours, 0700, empty, not mounted — is
// the mountpoint of the next mount of that label, instead of LABEL-2 for
// ever after. Anything else under the name is left alone.
func TestCreateReusesLeftover(t *testing.T) {
	c := testConfig(t)
	parent := filepath.Join(c.MediaDir, c.User)
	first, err := c.Create("DEMO", "")
	must(t, err)
	first.Release() // the process dies: nobody removes it
	d, err := c.Create("DEMO", "")
	must(t, err)
	if d.Path != first.Path || !d.Reused {
		t.Errorf("after a crash: %s (reused %v), want %s reused", d.Path, d.Reused, first.Path)
	}
	must(t, d.Remove())
	if _, err := os.Lstat(first.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reused mountpoint not removed: %v", err)
	}

	elsewhere := t.TempDir()
	for _, tc := range []struct {
		name  string
		plant func(p string)
	}{
		{"not empty", func(p string) {
			must(t, os.Mkdir(p, 0o700))
			must(t, os.WriteFile(filepath.Join(p, "keep"), nil, 0o600))
		}},
		{"made by someone else (0755)", func(p string) { must(t, os.Mkdir(p, 0o755)) }},
		{"a symlink to an empty directory", func(p string) { must(t, os.Symlink(elsewhere, p)) }},
		{"a file", func(p string) { must(t, os.WriteFile(p, nil, 0o700)) }},
		{"another user's", func(p string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the directory to another uid")
			}
			must(t, os.Mkdir(p, 0o700))
			must(t, os.Chown(p, 54321, 54321))
		}},
		{"mounted on (a bind mount keeps the device)", func(p string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to mount")
			}
			must(t, os.Mkdir(p, 0o700))
			if out, err := exec.Command("mount", "--bind", p, p).CombinedOutput(); err != nil {
				t.Skipf("mount --bind: %v %s", err, out)
			}
			t.Cleanup(func() {
				if out, err := exec.Command("umount", p).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v %s", p, err, out)
				}
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "L" + strings.NewReplacer(" ", "", "(", "", ")", "", "'", "").Replace(tc.name)
			tc.plant(filepath.Join(parent, name))
			d, err := c.Create(name, "")
			must(t, err)
			defer d.Remove()
			if d.Name != name+"-2" || d.Reused {
				t.Errorf("%s: got %s (reused %v), want %s-2 made new", tc.name, d.Name, d.Reused, name)
			}
		})
	}
	if left := entries(t, elsewhere); len(left) != 0 {
		t.Errorf("created behind the symlink: %q", left)
	}
}

// TestCreateLocksPlace: while one Create's mountpoint is not released
// (its mount is coming up), another Create of the same label waits, and
// then does not take the directory the first one mounted on.
func TestCreateLocksPlace(t *testing.T) {
	c := testConfig(t)
	first, err := c.Create("DEMO", "")
	must(t, err)
	done := make(chan *Dir)
	go func() {
		d, err := c.Create("DEMO", "")
		if err != nil {
			t.Error(err)
		}
		done <- d
	}()
	select {
	case d := <-done:
		t.Fatalf("second Create returned %s while the first held the place", d.Path)
	case <-time.After(200 * time.Millisecond):
	}
	// The first mount comes up (its directory is no longer empty), then
	// releases the place.
	must(t, os.WriteFile(filepath.Join(first.Path, "mounted"), nil, 0o600))
	first.Release()
	d := <-done
	if d == nil || d.Name != "DEMO-2" {
		t.Fatalf("second Create: %+v, want DEMO-2", d)
	}
	d.Release()
}

// TestCreateFallsBackToRuntimeDir: with no usable media directory the
// mountpoint goes to $XDG_RUNTIME_DIR/isofsd, created 0700.
func TestCreateFallsBackToRuntimeDir(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, c *Config)
	}{
		{"no media dir", func(t *testing.T, c *Config) { os.RemoveAll(c.MediaDir) }},
		{"no user name", func(t *testing.T, c *Config) { c.User = "" }},
		{"user dir is a symlink", func(t *testing.T, c *Config) {
			ud := filepath.Join(c.MediaDir, c.User)
			elsewhere := filepath.Join(filepath.Dir(c.MediaDir), "elsewhere")
			must(t, os.Mkdir(elsewhere, 0o700))
			must(t, os.Remove(ud))
			must(t, os.Symlink(elsewhere, ud))
		}},
		{"user dir writable by all", func(t *testing.T, c *Config) {
			must(t, os.Chmod(filepath.Join(c.MediaDir, c.User), 0o777))
		}},
		{"user dir writable by its group", func(t *testing.T, c *Config) {
			must(t, os.Chmod(filepath.Join(c.MediaDir, c.User), 0o770))
		}},
		{"user dir is someone else's", func(t *testing.T, c *Config) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the directory to another uid")
			}
			must(t, os.Chown(filepath.Join(c.MediaDir, c.User), 54321, -1))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			tc.break_(t, &c)
			d, err := c.Create("DEMO", "")
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(c.RuntimeDir, RuntimeSubdir, "DEMO")
			if d.Path != want {
				t.Fatalf("mountpoint %s, want %s", d.Path, want)
			}
			if st, err := os.Lstat(filepath.Dir(want)); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("%s: %v %v, want a 0700 directory", filepath.Dir(want), st, err)
			}
			if left := entries(t, filepath.Join(filepath.Dir(c.MediaDir), "elsewhere")); len(left) != 0 {
				t.Errorf("created through the planted symlink: %q", left)
			}
		})
	}
}

// TestCreateRefusesPlantedRuntimeSymlink: $XDG_RUNTIME_DIR/isofsd planted
// as a symlink (or a runtime directory others may write) gets nothing.
func TestCreateRefusesPlantedRuntimeSymlink(t *testing.T) {
	c := testConfig(t)
	c.MediaDir = ""
	target := filepath.Join(filepath.Dir(c.RuntimeDir), "target")
	must(t, os.Mkdir(target, 0o700))
	must(t, os.Symlink(target, filepath.Join(c.RuntimeDir, RuntimeSubdir)))
	_, err := c.Create("DEMO", "")
	if !errors.Is(err, ErrNoPlace) || !errors.Is(err, ErrUnsafe) {
		t.Errorf("Create through a planted symlink: %v, want ErrNoPlace and ErrUnsafe", err)
	}
	if left := entries(t, target); len(left) != 0 {
		t.Errorf("created through the symlink: %q", left)
	}

	c = testConfig(t)
	c.MediaDir = ""
	must(t, os.Chmod(c.RuntimeDir, 0o777))
	if _, err := c.Create("DEMO", ""); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Create in a world-writable runtime dir: %v, want ErrUnsafe", err)
	}
	if left := entries(t, c.RuntimeDir); len(left) != 0 {
		t.Errorf("created in a world-writable runtime dir: %q", left)
	}
}

// TestRemoveOnlyOurEmptyDirectory: Remove leaves alone a directory that
// is not empty, one put in place of ours, and one reached through a
// parent swapped for a symlink.
func TestRemoveOnlyOurEmptyDirectory(t *testing.T) {
	c := testConfig(t)
	parent := filepath.Join(c.MediaDir, c.User)

	d, _ := c.Create("FULL", "")
	must(t, os.WriteFile(filepath.Join(d.Path, "keep"), []byte("x"), 0o600))
	if err := d.Remove(); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Remove of a non-empty dir: %v, want ErrNotEmpty", err)
	}
	if _, err := os.Stat(filepath.Join(d.Path, "keep")); err != nil {
		t.Errorf("content of a non-empty mountpoint lost: %v", err)
	}

	d, _ = c.Create("SWAP", "")
	must(t, os.Rename(d.Path, filepath.Join(parent, "moved")))
	must(t, os.Mkdir(d.Path, 0o700))
	if err := d.Remove(); !errors.Is(err, ErrChanged) {
		t.Errorf("Remove of a replaced dir: %v, want ErrChanged", err)
	}
	if _, err := os.Stat(d.Path); err != nil {
		t.Errorf("the replacement was removed: %v", err)
	}

	d, _ = c.Create("LINK", "")
	must(t, os.Remove(d.Path))
	must(t, os.Symlink(filepath.Join(parent, "moved"), d.Path))
	if err := d.Remove(); !errors.Is(err, ErrChanged) {
		t.Errorf("Remove of a symlink in place of the dir: %v, want ErrChanged", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "moved")); err != nil {
		t.Errorf("the symlink's target was removed: %v", err)
	}

	// The user's media directory swapped for a symlink to a place with an
	// empty directory of the same name: nothing there is touched.
	d, _ = c.Create("PARENT", "")
	victim := filepath.Join(filepath.Dir(c.MediaDir), "victim")
	must(t, os.MkdirAll(filepath.Join(victim, "PARENT"), 0o700))
	must(t, os.Rename(parent, parent+".old"))
	must(t, os.Symlink(victim, parent))
	if err := d.Remove(); !errors.Is(err, ErrUnsafe) {
		t.Errorf("Remove through a swapped parent: %v, want ErrUnsafe", err)
	}
	if _, err := os.Stat(filepath.Join(victim, "PARENT")); err != nil {
		t.Errorf("a directory behind the swapped parent was removed: %v", err)
	}

	// Gone already: not an error.
	must(t, os.Remove(parent))
	must(t, os.Rename(parent+".old", parent))
	d, _ = c.Create("GONE", "")
	must(t, os.Remove(d.Path))
	if err := d.Remove(); err != nil {
		t.Errorf("Remove of a directory already gone: %v", err)
	}
}

// setACL gives dir an access ACL with write for the named uids (and
// r-x for its group), as setfacl -m u:UID:rwx would; the kernel checks
// the value and makes the mode's group bits the mask.
func setACL(t *testing.T, dir string, uids ...uint32) {
	t.Helper()
	slices.Sort(uids) // the kernel wants named users in ascending order
	ents := []aclEntry{{tag: aclUserObj, perm: 7}}
	for _, u := range uids {
		ents = append(ents, aclEntry{tag: aclUser, perm: 7, id: u})
	}
	ents = append(ents, aclEntry{tag: aclGroupObj, perm: 5}, aclEntry{tag: aclMask, perm: 7}, aclEntry{tag: aclOther, perm: 0})
	if err := unix.Setxattr(dir, "system.posix_acl_access", aclBytes(ents...), 0); err != nil {
		t.Skipf("cannot set a POSIX ACL on %s: %v", dir, err)
	}
	st, err := os.Stat(dir)
	must(t, err)
	if st.Mode().Perm()&0o020 == 0 {
		t.Fatalf("%s: mode %v after setting an ACL with a rwx mask", dir, st.Mode())
	}
}

// TestCreateRefusesSharedACL (review S5): a root-owned /media/USER whose
// ACL lets another user (nobody) write is not used: that user could swap
// the mountpoint. One whose ACL grants write to the user alone is.
func TestCreateRefusesSharedACL(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: /media/USER must be root's for its ACL to count")
	}
	c := testConfig(t)
	ud := filepath.Join(c.MediaDir, c.User)
	must(t, os.Chmod(ud, 0o750))
	setACL(t, ud, uint32(c.UID), 65534)
	d, err := c.Create("DEMO", "")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.RuntimeDir, RuntimeSubdir, "DEMO"); d.Path != want {
		t.Errorf("mountpoint %s, want %s: a directory the user nobody (65534) may write to was used", d.Path, want)
	}
	if left := entries(t, ud); len(left) != 0 {
		t.Errorf("created in %s: %q", ud, left)
	}

	// checkDir on its own: the user alone (uid 54321 here) passes; the
	// user and nobody do not.
	for _, tc := range []struct {
		uids []uint32
		ok   bool
	}{{[]uint32{54321}, true}, {[]uint32{54321, 0}, true}, {[]uint32{54321, 65534}, false}} {
		dir := filepath.Join(t.TempDir(), "alice")
		must(t, os.Mkdir(dir, 0o750))
		setACL(t, dir, tc.uids...)
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		err = Config{UID: 54321}.checkDir(fd, dir, true)
		unix.Close(fd)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrUnsafe) {
			t.Errorf("ACL granting write to %v: %v (want ok=%v)", tc.uids, err, tc.ok)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
