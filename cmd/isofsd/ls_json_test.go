//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isofsd/isofsd/internal/units"
	"github.com/isofsd/isofsd/isofmt/isotest/udfbuild"
)

// TestLsJSON compares `ls -R --json` of a rich Rock Ridge image with the
// source tree it was made from (lstat is the oracle): every entry once,
// with its type, permissions, size, link count, owner, mtime and target.
func TestLsJSON(t *testing.T) {
	_, src, iso := richImage(t)
	stdout, stderr, code := cliRun(t, "ls", "-R", "-a", "--json", iso)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []lsJSONEntry
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, stdout)
	}
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.Path] {
			t.Errorf("%s listed twice", e.Path)
		}
		seen[e.Path] = true
		fi, err := os.Lstat(filepath.Join(src, e.Path))
		if err != nil {
			t.Errorf("%s: listed but not in the source: %v", e.Path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		wantType := map[fs.FileMode]string{0: "file", fs.ModeDir: "dir", fs.ModeSymlink: "symlink", fs.ModeNamedPipe: "fifo"}[fi.Mode().Type()]
		if e.Type != wantType || e.Name != fi.Name() || e.Perm != uint32(st.Mode&0o7777) || e.Mode != lsMode(fi.Mode()) {
			t.Errorf("%s: type %s name %q perm %o mode %s, want %s %q %o %s", e.Path, e.Type, e.Name, e.Perm, e.Mode, wantType, fi.Name(), st.Mode&0o7777, lsMode(fi.Mode()))
		}
		if e.UID != st.Uid || e.GID != st.Gid || !e.OwnerFromImage {
			t.Errorf("%s: owner %d:%d (from image %v), want %d:%d", e.Path, e.UID, e.GID, e.OwnerFromImage, st.Uid, st.Gid)
		}
		if e.ModTime == nil || !e.ModTime.Equal(fi.ModTime().Truncate(time.Second)) {
			t.Errorf("%s: mtime %v, want %v", e.Path, e.ModTime, fi.ModTime())
		}
		switch wantType {
		case "file":
			if e.Size != fi.Size() || e.Nlink != uint32(st.Nlink) {
				t.Errorf("%s: size %d nlink %d, want %d %d", e.Path, e.Size, e.Nlink, fi.Size(), st.Nlink)
			}
			if (fi.Size() > 0) != (e.Sector != nil) {
				t.Errorf("%s: sector %v for a %d-byte file", e.Path, e.Sector, fi.Size())
			}
		case "symlink":
			if target, _ := os.Readlink(filepath.Join(src, e.Path)); e.Target != target {
				t.Errorf("%s: target %q, want %q", e.Path, e.Target, target)
			}
		}
	}
	n := 0
	filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if p != src {
			n++
			if rel, _ := filepath.Rel(src, p); !seen["/"+filepath.ToSlash(rel)] {
				t.Errorf("/%s: in the source, not in ls --json", rel)
			}
		}
		return nil
	})
	if len(got) != n {
		t.Errorf("%d entries listed, the source has %d", len(got), n)
	}

	// An empty directory is an empty array, still valid JSON.
	stdout, _, code = cliRun(t, "ls", "--json", iso, "emptydir")
	if code != 0 || strings.TrimSpace(stdout) != "[]" {
		t.Errorf("empty directory: exit %d, %q, want []", code, stdout)
	}
}

// TestLsHuman: -h shows the sizes units.Bytes formats, other columns as -l.
func TestLsHuman(t *testing.T) {
	_, src, iso := richImage(t)
	long, _, code := cliRun(t, "ls", "-l", iso, "big")
	human, _, code2 := cliRun(t, "ls", "-lh", iso, "big")
	if code != 0 || code2 != 0 {
		t.Fatalf("exit %d %d", code, code2)
	}
	fi, _ := os.Stat(filepath.Join(src, "big", "big.bin"))
	want := units.Bytes(fi.Size())
	if !strings.Contains(human, " "+want+" ") || strings.Contains(human, fmt.Sprint(fi.Size())) {
		t.Errorf("ls -lh: %q, want the size as %q", human, want)
	}
	if strings.Replace(long, fmt.Sprintf("%10d", fi.Size()), fmt.Sprintf("%10s", want), 1) != human {
		t.Errorf("ls -lh differs from ls -l beyond the size:\n%s%s", long, human)
	}
}

// TestOwnerRule: an entry whose image records no owner (UDF's 0xFFFFFFFF,
// as Windows writes it) is shown as the listing user's, as mount and
// extract present it, never as 4294967295 (issue 21 §2.10).
func TestOwnerRule(t *testing.T) {
	b, err := udfbuild.Build(udfbuild.Options{}, []udfbuild.Entry{
		{Path: "unowned.txt", Data: []byte("x"), Perm: 0o644, UID: 0xFFFFFFFF, GID: 0xFFFFFFFF},
		{Path: "owned.txt", Data: []byte("y"), Perm: 0o644, UID: 1234, GID: 5678},
	})
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "udf.iso")
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliRun(t, "ls", "-l", img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	uid, gid := currentOwner()
	for _, c := range []struct {
		name     string
		uid, gid uint32
	}{{"unowned.txt", uid, gid}, {"owned.txt", 1234, 5678}} {
		var line string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasSuffix(l, " "+c.name) {
				line = l
			}
		}
		f := strings.Fields(line)
		if len(f) < 4 || f[2] != fmt.Sprint(c.uid) || f[3] != fmt.Sprint(c.gid) {
			t.Errorf("%s: %q, want owner %d:%d", c.name, line, c.uid, c.gid)
		}
	}
	if strings.Contains(stdout, "4294967295") {
		t.Errorf("the unset id leaks:\n%s", stdout)
	}
	js, _, _ := cliRun(t, "ls", "--json", img)
	var got []lsJSONEntry
	json.Unmarshal([]byte(js), &got)
	for _, e := range got {
		if e.Name == "unowned.txt" && (e.OwnerFromImage || e.UID != uid) {
			t.Errorf("--json: %+v, want the user's ids, not from the image", e)
		}
	}
}
