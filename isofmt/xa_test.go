package isofmt

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// TestRockRidgeAfterXA reads Rock Ridge from a CD-XA image whose records
// carry the 14-byte XA field before the SUSP entries (genisoimage -XA -R),
// as Linux (RR_REGARD_XA) and 7-Zip do; 7-Zip's listing is the oracle.
// Before, such images showed only the plain 8.3 tree (issue 21 §2.11).
func TestRockRidgeAfterXA(t *testing.T) {
	isotest.RequireTool(t, "genisoimage", "7zz")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for name, mode := range map[string]os.FileMode{
		"LongFileName_with.Mixed.txt": 0o644, "sub/another long name.txt": 0o600,
		"sub/deeper/Readme.Markdown": 0o755,
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	if err := os.Symlink("../LongFileName_with.Mixed.txt", filepath.Join(src, "sub", "link")); err != nil {
		t.Fatal(err)
	}
	build := func(name string, xa bool) *Image {
		img := filepath.Join(dir, name)
		args := []string{"-quiet", "-R", "-o", img}
		if xa {
			args = append(args, "-XA")
		}
		isotest.Run(t, "genisoimage", append(args, src)...)
		im, err := OpenFile(img, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { im.Close() })
		return im
	}
	img := build("xa.iso", true)
	raw, _ := os.ReadFile(filepath.Join(dir, "xa.iso"))
	if root := rootDotSystemUse(t, raw); rootSUSPStart(root) != xaFieldLen {
		t.Fatalf("genisoimage -XA did not put the XA field before SP (root system use % x): the test image is not what it should be", root[:min(len(root), 24)])
	}
	if img.Tree() != TreeRockRidge || !img.Info().RockRidgeAfterXA {
		t.Fatalf("tree %q, after XA %v; want rockridge found after the XA field", img.Tree(), img.Info().RockRidgeAfterXA)
	}
	var got []string
	if err := fs.WalkDir(img, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." {
			got = append(got, p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("7zz", "l", "-slt", filepath.Join(dir, "xa.iso")).Output()
	if err != nil {
		t.Fatalf("7zz: %v", err)
	}
	var want []string
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if p, ok := strings.CutPrefix(line, "Path = "); ok && !strings.HasPrefix(p, "/") {
			want = append(want, p)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("names:\n got  %q\n want %q (7-Zip)", got, want)
	}
	if fi, err := img.Stat("sub/another long name.txt"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode from PX after the XA field: %v %v, want 0600", fi, err)
	}
	if target, err := img.ReadLink("sub/link"); err != nil || target != "../LongFileName_with.Mixed.txt" {
		t.Errorf("symlink: %q %v", target, err)
	}
	root, _ := img.Root()
	if root.Stat.Mode.Perm() != 0o755 {
		t.Errorf("root mode %v: the root's own PX (after SP in the XA record) was not read", root.Stat.Mode)
	}

	// The same tree without -XA: Rock Ridge at its usual place, no note.
	if plain := build("plain.iso", false); plain.Tree() != TreeRockRidge || plain.Info().RockRidgeAfterXA {
		t.Errorf("plain -R image: tree %q, after XA %v", plain.Tree(), plain.Info().RockRidgeAfterXA)
	}
}

// rootDotSystemUse returns the system use area of the root's "." record.
func rootDotSystemUse(t *testing.T, img []byte) []byte {
	t.Helper()
	pvd := img[16*SectorSize:]
	lba := int(pvd[156+2]) | int(pvd[156+3])<<8 | int(pvd[156+4])<<16 | int(pvd[156+5])<<24
	rec := img[lba*SectorSize:]
	nameLen := int(rec[32])
	start := 33 + nameLen + (1 - nameLen%2)
	return rec[start:rec[0]]
}

func TestRootSUSPStartHostile(t *testing.T) {
	sp := []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 14}
	xa := []byte{0, 0, 0, 0, 0x8d, 0x55, 'X', 'A', 0, 0, 0, 0, 0, 0}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	for _, c := range []struct {
		name string
		su   []byte
		want int
	}{
		{"empty", nil, 0},
		{"SP first", cat(sp, xa), 0},
		{"XA then SP", cat(xa, sp), xaFieldLen},
		{"XA alone", xa, 0},
		{"XA then a cut SP", cat(xa, sp[:5]), 0},
		{"XA then SP with a bad check", cat(xa, []byte{'S', 'P', 7, 1, 0xBE, 0xEE, 14}), 0},
		{"XA then SP claiming length 3", cat(xa, []byte{'S', 'P', 3, 1, 0xBE, 0xEF, 14}), 0},
		{"no XA signature then SP", cat(make([]byte, 14), sp), 0},
		{"13 bytes", xa[:13], 0},
	} {
		if got := rootSUSPStart(c.su); got != c.want {
			t.Errorf("%s: rootSUSPStart = %d, want %d", c.name, got, c.want)
		}
	}
}
