package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/httpsrc"
	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// TestFetchPlantedByAnotherUser (REVIEW-2 #2): a second user plants in a
// directory everyone can write (not sticky, so fs.protected_symlinks
// does not step in) what root's `fetch -o` would write through or resume
// onto: a symlink to root's 0600 file with a junk mapfile, a dangling
// symlink into root's private directory, and a file + mapfile pair with
// the right pin (every byte "done"). Each is refused with one line,
// exit 2, and root's files are untouched (or not created).
func TestFetchPlantedByAnotherUser(t *testing.T) {
	u := isotest.NewUser(t, "isoxy")
	www := t.TempDir()
	image := bytes.Repeat([]byte("the published image "), 50000)
	if err := os.WriteFile(filepath.Join(www, "img.iso"), image, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Start(t, www)
	url := srv.URL("img.iso")

	base, err := os.MkdirTemp("", "isoxy-fetch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	shared, private, stage := filepath.Join(base, "shared"), filepath.Join(base, "private"), filepath.Join(base, "stage")
	for dir, mode := range map[string]os.FileMode{shared: 0o777, private: 0o700, stage: 0o755} {
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, mode)
	}
	os.Chmod(base, 0o755)
	victim := filepath.Join(private, "victim.txt")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	plant := func(script string) {
		t.Helper()
		if out, code := u.Run(t, "sh", "-c", script); code != 0 {
			t.Fatalf("as %s: %s: exit %d\n%s", u.Name, script, code, out)
		}
	}
	refused := func(what, out, want string) {
		t.Helper()
		o, e, code := cliRun(t, "fetch", url, "-o", out, "--no-verify")
		lines := strings.Split(strings.TrimSpace(e), "\n")
		if code != 2 || !strings.Contains(e, want) || len(lines) != 1 {
			t.Errorf("%s: exit %d, want 2 and one line saying %q\n%s%s", what, code, want, o, e)
		}
	}

	plant(fmt.Sprintf("ln -s %s %s/img.iso && echo junk > %s/img.iso.map", victim, shared, shared))
	refused("symlink to root's file, junk map", shared, fmt.Sprintf("img.iso.map belongs to uid %d", u.UID))
	os.Remove(filepath.Join(shared, "img.iso.map"))
	refused("symlink to root's file", shared, "img.iso is a symbolic link")
	if b, _ := os.ReadFile(victim); !bytes.Equal(b, []byte("precious")) {
		t.Errorf("root's file was written through the planted link (%d bytes)", len(b))
	}

	plant(fmt.Sprintf("ln -s %s/new.iso %s/b.iso", private, shared))
	refused("dangling symlink into root's directory", filepath.Join(shared, "b.iso"), "is a symbolic link")
	if _, err := os.Lstat(filepath.Join(private, "new.iso")); err == nil {
		t.Error("fetch created a file where the dangling link points")
	}

	// The pair: the mapfile has this object's pin and says all is done,
	// so the old fetch "resumed" with nothing left to fetch.
	src, err := httpsrc.Open(context.Background(), url, httpsrc.Options{OpenPrefetch: httpsrc.PinOnly, OpenTail: -1})
	if err != nil {
		t.Fatal(err)
	}
	m := ddmap.New(src.Size())
	m.CommandLine = fmt.Sprintf("isofsd fetch %s (ETag %s, Last-Modified %q, %d bytes)", src.URL(), src.ETag(), src.LastModified(), src.Size())
	src.Close()
	m.Set(0, m.Size(), ddmap.Finished)
	if err := m.Save(filepath.Join(stage, "c.iso.map")); err != nil {
		t.Fatal(err)
	}
	evil := bytes.Repeat([]byte("EVIL"), len(image)/4)
	os.WriteFile(filepath.Join(stage, "c.iso"), evil, 0o644)
	plant(fmt.Sprintf("cp %s/c.iso %s/c.iso.map %s/", stage, stage, shared))
	refused("planted file and mapfile", filepath.Join(shared, "c.iso"), fmt.Sprintf("belongs to uid %d", u.UID))
}
