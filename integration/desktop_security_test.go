//go:build linux

package integration

import (
	"bytes"
	"context"
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
	"time"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// The tests below replay review 1's S1 and S2 with a real second user
// (prefix isoxk): what root does with a desktop installation must never
// be steered by files that user controls.

// rootRun runs isofsd (bin) as root with exactly env (plus PATH) and
// returns its combined output and exit code.
func rootRun(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "ISOFSD_NOTIFY=never", "LANG=C"}, env...)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return out.String(), 0
}

// victims makes root-owned files the attacker aims at and returns a
// check that they are unchanged.
func victims(t *testing.T, dir string, names ...string) (paths []string, unchanged func()) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(dir, n)
		must(t, os.WriteFile(p, []byte("root's "+n+"\n"), 0o644))
		paths = append(paths, p)
	}
	return paths, func() {
		t.Helper()
		for i, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil || string(b) != "root's "+names[i]+"\n" {
				t.Errorf("%s changed: %q %v", p, b, err)
			}
		}
	}
}

// treeList lists every path under dir.
func treeList(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		out = append(out, p)
		return nil
	})
	return out
}

// TestDesktopRootIgnoresUserFiles (review S1): root running `desktop
// uninstall` or `desktop install --user --default` with a user's HOME or
// XDG directories (sudo -E, su without "-") refuses, exit 2, instead of
// deleting and restoring the files the user's forged manifest names, or
// writing through the user's symlinked mimeapps.list.
func TestDesktopRootIgnoresUserFiles(t *testing.T) {
	u := isotest.NewUser(t, deskUserPrefix)
	dir := sharedDir(t)
	vs, unchanged := victims(t, dir, "victim", "victim2", "victim3")
	// The user's forged manifest: remove victim, "restore" victim2 to
	// the attacker's text (After is victim2's hash, so that the old code
	// believed the file was still what it had left).
	cur, err := os.ReadFile(vs[1])
	must(t, err)
	h := sha256.Sum256(cur)
	manifest, err := json.Marshal(map[string]any{"version": 1, "files": []string{vs[0]},
		"edits": []map[string]any{{"kind": "uca", "path": vs[1], "existed": true, "before": []byte("attacker's text\n"), "after": hex.EncodeToString(h[:])}}})
	must(t, err)
	script := fmt.Sprintf(`set -e
mkdir -p ~/.local/share/isofsd ~/.config
cat > ~/.local/share/isofsd/desktop-install.json <<'EOF'
%s
EOF
chmod 600 ~/.local/share/isofsd/desktop-install.json
ln -s %s ~/.config/mimeapps.list
`, manifest, vs[2])
	if out, code := u.Run(t, "sh", "-c", script); code != 0 {
		t.Fatalf("the user's set-up: exit %d\n%s", code, out)
	}
	rootHome := filepath.Join(dir, "roothome")
	must(t, os.Mkdir(rootHome, 0o700))
	userData, userConf := filepath.Join(u.Home, ".local", "share"), filepath.Join(u.Home, ".config")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"uninstall, HOME=user's", []string{"HOME=" + u.Home}, []string{"desktop", "uninstall"}, "belongs to uid"},
		{"uninstall, XDG_DATA_HOME=user's", []string{"HOME=" + rootHome, "XDG_DATA_HOME=" + userData}, []string{"desktop", "uninstall"}, "belongs to uid"},
		{"install --default, HOME=user's", []string{"HOME=" + u.Home}, []string{"desktop", "install", "--user", "--default"}, "belongs to uid"},
		{"install --default, XDG_CONFIG_HOME=user's", []string{"HOME=" + rootHome, "XDG_CONFIG_HOME=" + userConf},
			[]string{"desktop", "install", "--user", "--default"}, "belongs to uid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := treeList(t, rootHome)
			out, code := rootRun(t, tc.env, isofsdBin, tc.args...)
			t.Logf("isofsd %s: exit %d\n%s", strings.Join(tc.args, " "), code, out)
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want 2 with %q:\n%s", code, tc.want, out)
			}
			unchanged()
			if after := treeList(t, rootHome); !slices.Equal(after, before) {
				t.Errorf("root's home after a refused run: %q, before %q", after, before)
			}
		})
	}
	// The user's own files are the user's: untouched as well.
	if target, err := os.Readlink(filepath.Join(userConf, "mimeapps.list")); err != nil || target != vs[2] {
		t.Errorf("the user's link: %q %v", target, err)
	}
}

// inPrivateSystemDirs runs argv as root in a mount namespace of its own
// where /usr/local/share and /etc/xdg are empty tmpfs, so that a system
// installation — wrongly accepted by old code, or accepted rightly —
// never reaches the machine's; it returns the output, the exit code and
// what was written there.
func inPrivateSystemDirs(t *testing.T, argv ...string) (string, int, []string) {
	t.Helper()
	isotest.RequireTool(t, "unshare")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := `set -e
mount -t tmpfs isofsd-test /usr/local/share
mount -t tmpfs isofsd-test /etc/xdg
set +e
"$@"
code=$?
echo "@@written"
find /usr/local/share /etc/xdg -mindepth 1 -type f
exit $code`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh"}, argv...)...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "ISOFSD_NOTIFY=never", "LANG=C"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	text, written, _ := strings.Cut(out.String(), "@@written\n")
	return text, code, strings.Fields(written)
}

// TestSystemInstallRefusesUserBinary (review S2): a system-wide desktop
// entry or systemd unit runs its binary for everyone (the unit as root),
// so a binary a user can replace is refused, exit 2 with the reason and
// the way out, whether it is the binary running or one --binary names.
// Root's binary is accepted, and so is the user's for the user's own
// units.
func TestSystemInstallRefusesUserBinary(t *testing.T) {
	u := isotest.NewUser(t, deskUserPrefix)
	userBin := filepath.Join(u.Home, "isofsd")
	copyFile(t, isofsdBin, userBin, 0o755)
	must(t, os.Chown(userBin, int(u.UID), int(u.GID)))
	units := sharedDir(t)
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"desktop install --system by the user's binary", []string{userBin, "desktop", "install", "--system"}},
		{"desktop install --system --binary user's", []string{isofsdBin, "desktop", "install", "--system", "--binary", userBin}},
		{"service install --systemd by the user's binary", []string{userBin, "service", "install", "--systemd", "--dir", filepath.Join(units, "a")}},
		{"service install --systemd --binary user's", []string{isofsdBin, "service", "install", "--systemd", "--binary", userBin, "--dir", filepath.Join(units, "b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, written := inPrivateSystemDirs(t, tc.argv...)
			t.Logf("exit %d\n%s", code, out)
			if code != 2 || !strings.Contains(out, userBin) || !strings.Contains(out, "belongs to uid") || !strings.Contains(out, "install -m755") {
				t.Errorf("exit %d, want 2 naming %s, its owner and the way out:\n%s", code, userBin, out)
			}
			if len(written) > 0 {
				t.Errorf("written anyway: %q", written)
			}
		})
	}
	if ents, _ := os.ReadDir(units); len(ents) > 0 {
		t.Errorf("units written for the user's binary: %v", ents)
	}
	// Root's binary (in a root-owned directory of the sticky /tmp) is
	// fine for both; the user's is fine for the user's own units.
	if out, code, written := inPrivateSystemDirs(t, isofsdBin, "desktop", "install", "--system"); code != 0 || !slices.Contains(written, "/usr/local/share/applications/isofsd.desktop") {
		t.Errorf("desktop install --system with root's binary: exit %d, wrote %q\n%s", code, written, out)
	}
	if out, code := rootRun(t, nil, isofsdBin, "service", "install", "--systemd", "--dir", filepath.Join(units, "root")); code != 0 {
		t.Errorf("service install --systemd with root's binary: exit %d\n%s", code, out)
	}
	if out, code := rootRun(t, []string{"HOME=/root"}, isofsdBin, "service", "install", "--systemd", "--user", "--binary", userBin, "--dir", filepath.Join(units, "user")); code != 0 {
		t.Errorf("service install --systemd --user with the user's binary: exit %d\n%s", code, out)
	}
}
