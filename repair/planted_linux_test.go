package repair

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
)

// TestRepairIgnoresPlantedNames: in a directory another user can write
// (mode 0777 without the sticky bit, so fs.protected_symlinks does not
// apply), a real second user plants FILE.repair — as a symlink to a file
// of root's they cannot touch, then as a file of their own, as a killed
// repair would leave it. Root's repair (by zsync and by the image's own
// sums) never writes through the link, never renames the planted file
// into place: the victim keeps its bytes and mode, FILE ends up the image
// and owned by root, and the planted names are left as they were.
func TestRepairIgnoresPlantedNames(t *testing.T) {
	attacker := isotest.NewUser(t, "isoxz")
	srv := nginxtest.Start(t, t.TempDir())
	small := map[string]int{"casper/filesystem.squashfs": 2 << 20, "docs/README": 5000}
	good := image(t, filepath.Join(t.TempDir(), "good.iso"), small, 4)
	url := publish(t, srv, good, true)
	ctl := control(t, srv)
	bad := bytes.Clone(good)
	for i := range 3000 {
		bad[1<<20+i] ^= 0x5a
	}

	victim := filepath.Join(t.TempDir(), "victim.txt") // root's 0700 temp dir
	secret := []byte("root's secret\n")
	if err := os.WriteFile(victim, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	shared, err := os.MkdirTemp("", "isoxz-shared-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shared, "local.iso")
	planted := path + Suffix

	for _, method := range []string{"zsync", "checksums"} {
		for _, plant := range []string{"symlink", "leftover"} {
			name := method + "/" + plant
			os.Remove(victim)
			os.WriteFile(victim, secret, 0o600)
			os.Remove(planted)
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			if plant == "symlink" {
				if out, code := attacker.Run(t, "ln", "-s", victim, planted); code != 0 {
					t.Fatalf("%s: planting the link: %s", name, out)
				}
			} else if out, code := attacker.Run(t, "sh", "-c", `umask 0; echo stale > "$1"`, "sh", planted); code != 0 {
				t.Fatalf("%s: planting the file: %s", name, out)
			}
			var err error
			if method == "zsync" {
				_, err = Zsync(context.Background(), path, ctl, source(t, url), Options{})
			} else {
				_, err = Checksums(context.Background(), path, source(t, url), Options{})
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if got, _ := os.ReadFile(victim); !bytes.Equal(got, secret) {
				t.Errorf("%s: the repair wrote through the planted link into %s (%d bytes)", name, victim, len(got))
			}
			if st, err := os.Stat(victim); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("%s: victim's mode changed: %v %v", name, st.Mode(), err)
			}
			st, err := os.Lstat(path)
			if err != nil || !st.Mode().IsRegular() {
				t.Errorf("%s: %s is no longer a regular file: %v %v", name, path, st.Mode(), err)
				os.Remove(path)
				continue
			}
			if uid := st.Sys().(*syscall.Stat_t).Uid; uid != uint32(os.Geteuid()) {
				t.Errorf("%s: %s is now owned by uid %d (the planted file was renamed into place)", name, path, uid)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, good) {
				t.Errorf("%s: %s is not the image", name, path)
			}
			pst, err := os.Lstat(planted)
			switch {
			case err != nil:
				t.Errorf("%s: the planted %s was removed or renamed: %v", name, plant, err)
			case plant == "symlink" && pst.Mode()&os.ModeSymlink == 0:
				t.Errorf("%s: the planted link is now %v", name, pst.Mode())
			case plant == "leftover" && pst.Size() != int64(len("stale\n")):
				t.Errorf("%s: the planted file was written (%d bytes)", name, pst.Size())
			}
			if m, _ := filepath.Glob(path + Suffix + "-*"); len(m) > 0 {
				t.Errorf("%s: assembly left behind: %v", name, m)
			}
		}
	}
}
