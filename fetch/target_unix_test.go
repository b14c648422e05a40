//go:build unix

package fetch

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/recover/ddmap"
)

// TestDownloadRefusesUnsafeTarget (REVIEW-2 #2): what sits at FILE or
// FILE.map in a directory others can write is never written through
// nor resumed onto: a symbolic link (to a file, or dangling into a
// directory of ours), a hard link, a mapfile that is a link or that
// others can write. Each is ErrUnsafe naming the path, and the file the
// link leads to is untouched (or not created). The planted-by-another-
// user case is TestFetchPlantedByAnotherUser (cmd/isofsd).
func TestDownloadRefusesUnsafeTarget(t *testing.T) {
	www := t.TempDir()
	image := randomFile(t, filepath.Join(www, "image.iso"), 1<<20, 1)
	srv := nginxtest.Start(t, www)
	// A map of an interrupted download of this very object: a planted
	// pair would make fetch resume.
	src := open(t, srv.URL("image.iso"))
	pinned := ddmap.New(src.Size())
	pinned.CommandLine = pinLine(src)
	pinned.Set(0, 1<<19, ddmap.Finished)

	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, out, victim string)
		why   string
	}{
		{"FILE links to a file, junk FILE.map", func(t *testing.T, out, victim string) {
			os.Symlink(victim, out)
			os.WriteFile(out+MapSuffix, []byte("junk\n"), 0o644)
		}, "symbolic link"},
		{"FILE links to a file, no FILE.map", func(t *testing.T, out, victim string) {
			os.Symlink(victim, out)
		}, "symbolic link"},
		{"FILE dangles into another directory", func(t *testing.T, out, victim string) {
			os.Remove(victim)
			os.Symlink(victim, out)
		}, "symbolic link"},
		{"FILE is a hard link", func(t *testing.T, out, victim string) {
			if err := os.Link(victim, out); err != nil {
				t.Skipf("no hard links here: %v", err)
			}
			pinned.Save(out + MapSuffix)
		}, "hard links"},
		{"FILE.map is a symbolic link", func(t *testing.T, out, victim string) {
			os.WriteFile(out, bytes.Repeat([]byte{1}, 1<<20), 0o644)
			m := filepath.Join(filepath.Dir(victim), "real.map")
			pinned.Save(m)
			os.Symlink(m, out+MapSuffix)
		}, "symbolic link"},
		{"FILE.map is writable by others", func(t *testing.T, out, victim string) {
			os.WriteFile(out, bytes.Repeat([]byte{1}, 1<<20), 0o644)
			pinned.Save(out + MapSuffix)
			os.Chmod(out+MapSuffix, 0o666)
		}, "writable by group or others"},
		{"FILE is writable by others", func(t *testing.T, out, victim string) {
			os.WriteFile(out, bytes.Repeat([]byte{1}, 1<<20), 0o644)
			os.Chmod(out, 0o666)
			pinned.Save(out + MapSuffix)
		}, "writable by group or others"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			shared, private := t.TempDir(), t.TempDir()
			victim := filepath.Join(private, "victim.txt")
			if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(shared, "image.iso")
			tc.plant(t, out, victim)
			_, err := Download(context.Background(), open(t, srv.URL("image.iso")), out, Options{Force: true})
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Download: %v, want ErrUnsafe saying %q", err, tc.why)
			}
			if b, err := os.ReadFile(victim); err == nil && !bytes.Equal(b, []byte("precious")) {
				t.Errorf("the link's target was written (%d bytes, image %v)", len(b), bytes.Equal(b, image))
			} else if errors.Is(err, fs.ErrNotExist) && tc.name != "FILE dangles into another directory" {
				t.Error("the victim file is gone")
			} else if err == nil && tc.name == "FILE dangles into another directory" {
				t.Error("a file was created where the dangling link points")
			}
		})
	}
}
