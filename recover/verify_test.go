package recover

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/extract"
	"github.com/isofsd/isofsd/isofmt"
	"github.com/isofsd/isofsd/isofmt/isotest"
)

// testTree is the content of the images built by these tests.
func testTree() map[string][]byte {
	return map[string][]byte{
		"big.bin":         randomData(3<<20+123, 10),
		"docs/a.txt":      []byte("hello, world\n"),
		"docs/b.bin":      randomData(500_000, 11),
		"deep/er/c.bin":   randomData(70_000, 12),
		"zz/last.bin":     randomData(1<<20, 13),
		"empty/empty.txt": nil,
	}
}

// buildISO writes files with xorriso (Rock Ridge + Joliet); lists adds
// md5sum.txt and SHA256SUMS as distributions do; implant runs implantisomd5.
func buildISO(t *testing.T, files map[string][]byte, lists, implant bool) string {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	var names []string
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	if lists {
		var m, s strings.Builder
		for _, n := range names {
			ms, ss := md5.Sum(files[n]), sha256.Sum256(files[n])
			fmt.Fprintf(&m, "%s  ./%s\n", hex.EncodeToString(ms[:]), n)
			fmt.Fprintf(&s, "%s *%s\n", hex.EncodeToString(ss[:]), n)
		}
		os.WriteFile(filepath.Join(root, "md5sum.txt"), []byte(m.String()), 0o644)
		os.WriteFile(filepath.Join(root, "SHA256SUMS"), []byte(s.String()), 0o644)
	}
	iso := filepath.Join(dir, "test.iso")
	if out, err := exec.Command("xorriso", "-as", "mkisofs", "-R", "-J", "-V", "RECOVERTEST", "-o", iso, root).CombinedOutput(); err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	if implant {
		isotest.RequireTool(t, "implantisomd5")
		if out, err := exec.Command("implantisomd5", "--force", iso).CombinedOutput(); err != nil {
			t.Fatalf("implantisomd5: %v\n%s", err, out)
		}
	}
	return iso
}

// isoFileOffset returns the image offset of a file's first byte.
func isoFileOffset(t *testing.T, iso, name string) int64 {
	t.Helper()
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fi, err := img.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*isofmt.Stat).Extents[0].Offset
}

// checkisomd5Verdict runs the reference tool: true for PASS.
func checkisomd5Verdict(t *testing.T, iso string) bool {
	t.Helper()
	isotest.RequireTool(t, "checkisomd5")
	err := exec.Command("checkisomd5", iso).Run()
	if err == nil {
		return true
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	t.Fatalf("checkisomd5: %v", err)
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	f.ReadAt(b[:], off)
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func verifyFile(t *testing.T, path string, o VerifyOptions) *VerifyReport {
	t.Helper()
	img, err := isofmt.OpenFile(path, nil)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer img.Close()
	rep, err := Verify(context.Background(), img, o)
	if err != nil {
		t.Fatalf("verify %s: %v", path, err)
	}
	return rep
}

// damagedPaths lists the damaged files; confirmedOnly leaves out the
// suspects (files merely sharing a failed MD5 fragment).
func damagedPaths(rep *VerifyReport, confirmedOnly bool) []string {
	var out []string
	if rep.Files != nil {
		for _, f := range rep.Files.Damaged {
			if !confirmedOnly || !f.Suspect {
				out = append(out, f.Path)
			}
		}
	}
	sort.Strings(out)
	return out
}

func checkResult(rep *VerifyReport, name string) string {
	for _, c := range rep.Checks {
		if c.Name == name {
			return c.Result
		}
	}
	return ""
}

// TestVerifyImplantedMD5 builds images with implantisomd5, damages copies
// (a byte flipped inside a file, the image truncated) and checks that the
// implanted-MD5 verdict agrees with checkisomd5 and the damaged file is
// named.
func TestVerifyImplantedMD5(t *testing.T) {
	files := testTree()
	for _, lists := range []bool{false, true} {
		t.Run(fmt.Sprintf("lists=%v", lists), func(t *testing.T) {
			iso := buildISO(t, files, lists, true)
			dir := t.TempDir()
			size := func() int64 { st, _ := os.Stat(iso); return st.Size() }()
			cases := []struct {
				name        string
				damage      func(p string)
				wantVerdict string
				wantFile    string // must be among the damaged files
				exactFiles  bool   // damaged files must be exactly [wantFile]
			}{
				{"good", func(string) {}, VerdictOK, "", true},
				{"flip in b.bin", func(p string) { flipByte(t, p, isoFileOffset(t, p, "docs/b.bin")+1000) }, VerdictDamaged, "/docs/b.bin", lists},
				{"flip in last.bin", func(p string) { flipByte(t, p, isoFileOffset(t, p, "zz/last.bin")+77777) }, VerdictDamaged, "/zz/last.bin", lists},
				{"truncated", func(p string) { os.Truncate(p, size-300_000) }, VerdictDamaged, "", false},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".iso")
					copyFile(t, iso, p)
					tc.damage(p)
					ref := checkisomd5Verdict(t, p)
					rep := verifyFile(t, p, VerifyOptions{})
					md5ok := checkResult(rep, "implanted md5") == CheckOK
					if md5ok != ref {
						t.Errorf("implanted md5 check %q, checkisomd5 says pass=%v", checkResult(rep, "implanted md5"), ref)
					}
					if rep.Verdict != tc.wantVerdict {
						t.Errorf("verdict %q, want %q (checks %+v)", rep.Verdict, tc.wantVerdict, rep.Checks)
					}
					got := damagedPaths(rep, false)
					if tc.wantFile != "" && !contains(got, tc.wantFile) {
						t.Errorf("damaged files %v do not name %s", got, tc.wantFile)
					}
					if confirmed := damagedPaths(rep, true); tc.exactFiles && tc.wantFile != "" && (len(confirmed) != 1 || confirmed[0] != tc.wantFile) {
						t.Errorf("confirmed damaged files %v, want only %s", confirmed, tc.wantFile)
					}
					if tc.wantVerdict == VerdictOK && len(got) != 0 {
						t.Errorf("good image has damaged files %v", got)
					}
					if tc.name == "truncated" {
						if checkResult(rep, "truncation") != CheckDamaged {
							t.Errorf("truncation not reported: %+v", rep.Checks)
						}
						// Every file whose extent passes the new end is named.
						img, _ := isofmt.OpenFile(p, nil)
						defer img.Close()
						fs.WalkDir(img, ".", func(name string, d fs.DirEntry, err error) error {
							if err != nil || !d.Type().IsRegular() {
								return nil
							}
							fi, _ := d.Info()
							st := fi.Sys().(*isofmt.Stat)
							for _, e := range st.Extents {
								if e.Offset+e.Length > size-300_000 && !contains(got, "/"+name) {
									t.Errorf("%s runs past the end but is not named damaged", name)
								}
							}
							return nil
						})
					}
				})
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestVerifyWithoutChecksums: an intact image with nothing to check
// against is "cannot tell", never "ok"; a truncated one is damaged.
func TestVerifyWithoutChecksums(t *testing.T) {
	iso := buildISO(t, testTree(), false, false)
	rep := verifyFile(t, iso, VerifyOptions{})
	if rep.Verdict != VerdictUnknown {
		t.Errorf("verdict %q, want %q", rep.Verdict, VerdictUnknown)
	}
	st, _ := os.Stat(iso)
	os.Truncate(iso, st.Size()-4096)
	rep = verifyFile(t, iso, VerifyOptions{})
	if rep.Verdict != VerdictDamaged {
		t.Errorf("truncated: verdict %q, want damaged", rep.Verdict)
	}
}

// TestVerifyExternalSums checks a sha256sum-format file that names the image.
func TestVerifyExternalSums(t *testing.T) {
	iso := buildISO(t, testTree(), false, false)
	data, _ := os.ReadFile(iso)
	sum := sha256.Sum256(data)
	list := fmt.Sprintf("%s  other.iso\n%s *%s\n", strings.Repeat("0", 64), hex.EncodeToString(sum[:]), filepath.Base(iso))
	ext, err := ParseSums(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	o := VerifyOptions{ImageName: filepath.Base(iso), External: ext}
	if rep := verifyFile(t, iso, o); rep.Verdict != VerdictOK {
		t.Errorf("verdict %q, want ok: %+v", rep.Verdict, rep.Checks)
	}
	flipByte(t, iso, int64(len(data))-5000)
	if rep := verifyFile(t, iso, o); rep.Verdict != VerdictDamaged {
		t.Errorf("flipped: verdict %q, want damaged", rep.Verdict)
	}
	o.ImageName = "unrelated.iso"
	if rep := verifyFile(t, iso, o); rep.Verdict != VerdictUnknown || checkResult(rep, "external checksum") != CheckUnknown {
		t.Errorf("no matching entry: verdict %q, checks %+v", rep.Verdict, rep.Checks)
	}
}

func TestParseSums(t *testing.T) {
	text := "# comment\n" +
		"d41d8cd98f00b204e9800998ecf8427e  ./empty\n" +
		"\\d41d8cd98f00b204e9800998ecf8427e  back\\\\slash\n" +
		"SHA256 (pool/x.deb) = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"da39a3ee5e6b4b0d3255bfef95601890afd80709 *bin.dat\n" +
		"not a checksum line\n" +
		"-----BEGIN PGP SIGNATURE-----\n"
	got, err := ParseSums(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ algo, name string }{{"md5", "./empty"}, {"md5", `back\slash`}, {"sha256", "pool/x.deb"}, {"sha1", "bin.dat"}}
	if len(got) != len(want) {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Algo != w.algo || got[i].Name != w.name {
			t.Errorf("entry %d: %s %q, want %s %q", i, got[i].Algo, got[i].Name, w.algo, w.name)
		}
	}
	if _, err := ParseSums(strings.NewReader("nothing here\n")); err == nil {
		t.Error("a list without checksums parsed")
	}
}

// TestSalvage extracts from a damaged and a truncated image: every file
// not named damaged comes out byte-exact, the damaged ones are listed and
// not written, and nothing lands outside the target directory.
func TestSalvage(t *testing.T) {
	files := testTree()
	iso := buildISO(t, files, true, true)
	st, _ := os.Stat(iso)
	cases := []struct {
		name     string
		damage   func(p string)
		wantSkip []string
	}{
		{"intact", func(string) {}, nil},
		{"flip", func(p string) { flipByte(t, p, isoFileOffset(t, p, "deep/er/c.bin")+5) }, []string{"/deep/er/c.bin"}},
		{"truncated", func(p string) { os.Truncate(p, st.Size()-400_000) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "img.iso")
			copyFile(t, iso, p)
			tc.damage(p)
			rep := verifyFile(t, p, VerifyOptions{})
			img, err := isofmt.OpenFile(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			out := filepath.Join(dir, "out")
			res, err := Salvage(context.Background(), img, out, SalvageOptions{Report: rep})
			if err != nil {
				t.Fatal(err)
			}
			skipped := map[string]bool{}
			for _, s := range res.Skipped {
				skipped[s.Path] = true
			}
			for _, w := range tc.wantSkip {
				if !skipped[w] {
					t.Errorf("%s not skipped; skipped: %+v", w, res.Skipped)
				}
			}
			if tc.name == "intact" && len(res.Skipped) != 0 {
				t.Errorf("intact image: skipped %+v", res.Skipped)
			}
			if tc.name == "truncated" && len(res.Skipped) == 0 {
				t.Error("truncated image: nothing skipped")
			}
			partial := map[string]PartialFile{}
			for _, p := range res.Partial {
				partial[p.Path] = p
			}
			for name, data := range files {
				got, err := os.ReadFile(filepath.Join(out, name))
				if skipped["/"+name] {
					if err == nil {
						t.Errorf("%s was skipped but written", name)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s not extracted: %v", name, err)
					continue
				}
				if p, ok := partial["/"+name]; ok {
					// Written in part (issue 21): the good ranges as in
					// the source, the rest holes reading as zeros.
					checkPartial(t, name, got, data, p)
					continue
				}
				if !bytes.Equal(got, data) {
					t.Errorf("%s extracted with wrong content", name)
				}
			}
			// Nothing outside out: the directory holds only img.iso and out.
			ents, _ := os.ReadDir(dir)
			if len(ents) != 2 {
				t.Errorf("salvage wrote outside its directory: %v", ents)
			}
		})
	}
}

// checkPartial checks a file salvage wrote in part: the size of the
// original, its written ranges equal to the original, zeros elsewhere.
func checkPartial(t *testing.T, name string, got, want []byte, p PartialFile) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: partial file has %d bytes, want %d", name, len(got), len(want))
		return
	}
	var n int64
	for _, r := range p.Written {
		n += r.Length
		if !bytes.Equal(got[r.Offset:r.End()], want[r.Offset:r.End()]) {
			t.Errorf("%s: written range %d+%d differs from the original", name, r.Offset, r.Length)
		}
	}
	for _, r := range p.Missing {
		n += r.Length
		if !bytes.Equal(got[r.Offset:r.End()], make([]byte, r.Length)) {
			t.Errorf("%s: missing range %d+%d is not a hole of zeros", name, r.Offset, r.Length)
		}
	}
	if n != int64(len(want)) || len(p.Missing) == 0 {
		t.Errorf("%s: written %v and missing %v do not make up the %d bytes", name, p.Written, p.Missing, len(want))
	}
}

// TestSalvageStaysInside crafts an image (by patching a Rock Ridge name)
// where a symlink pointing outside the target directory and a directory
// share one name: extracting the directory's file must never follow the
// link out of the target directory.
func TestSalvageStaysInside(t *testing.T) {
	isotest.RequireTool(t, "xorriso")
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	os.Mkdir(outside, 0o755)
	root := filepath.Join(dir, "root")
	os.MkdirAll(filepath.Join(root, "aaab"), 0o755)
	os.WriteFile(filepath.Join(root, "aaab", "f"), []byte("payload"), 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "aaaa")); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "evil.iso")
	run(t, "xorriso", "-as", "mkisofs", "-R", "-o", iso, root)
	b, _ := os.ReadFile(iso)
	nm := []byte("NM\x09\x01\x00aaab")
	if bytes.Count(b, nm) != 1 {
		t.Fatalf("found %d NM entries for aaab", bytes.Count(b, nm))
	}
	b = bytes.Replace(b, nm, []byte("NM\x09\x01\x00aaaa"), 1)
	os.WriteFile(iso, b, 0o644)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	res, err := Salvage(context.Background(), img, filepath.Join(dir, "out"), SalvageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("salvage wrote outside its directory: %v (result %+v)", ents, res)
	}
	// isofmt renames the second entry ("aaaa_"); were it not to, os.Root
	// would refuse to create the directory through the symlink.
	if _, err := os.Lstat(filepath.Join(dir, "out", "aaaa")); err != nil {
		t.Errorf("the symlink itself was not recreated: %v (skipped %+v)", err, res.Skipped)
	}
}

// TestSalvageRefusesSymlinkedTarget: a symlink already inside the target
// directory (e.g. left by an earlier extraction of a hostile image) that
// points outside it is not followed when the image has a directory of
// that name.
func TestSalvageRefusesSymlinkedTarget(t *testing.T) {
	iso := buildISO(t, testTree(), false, false)
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	out := filepath.Join(dir, "out")
	os.Mkdir(outside, 0o755)
	os.Mkdir(out, 0o755)
	if err := os.Symlink(outside, filepath.Join(out, "docs")); err != nil {
		t.Fatal(err)
	}
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	res, err := Salvage(context.Background(), img, out, SalvageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("salvage wrote through the symlink: %v", ents)
	}
	skipped := map[string]bool{}
	for _, s := range res.Skipped {
		skipped[s.Path] = true
	}
	if !skipped["/docs/a.txt"] || !skipped["/docs/b.bin"] {
		t.Errorf("files under the symlinked directory not reported: %+v", res.Skipped)
	}
}

// TestVerifyListedButMissing: a checksum list naming files the image does
// not have reports them as missing, apart from the files present, so the
// counts never go negative (issue 21 §2.2 printed "-3 whole").
func TestVerifyListedButMissing(t *testing.T) {
	files := map[string][]byte{"a.txt": []byte("a\n"), "b.txt": []byte("b\n")}
	list := ""
	for _, n := range []string{"a.txt", "gone1", "gone2", "dir/gone3", "gone4", "gone5"} {
		sum := md5.Sum(files[n])
		list += hex.EncodeToString(sum[:]) + "  ./" + n + "\n"
	}
	files["md5sum.txt"] = []byte(list)
	rep := verifyFile(t, buildISO(t, files, false, false), VerifyOptions{})
	d := rep.Files
	if d.Files != 3 || d.Whole != 3 || len(d.Damaged) != 0 || len(d.Missing) != 5 {
		t.Errorf("files %d whole %d damaged %d missing %d; want 3 3 0 5", d.Files, d.Whole, len(d.Damaged), len(d.Missing))
	}
	if rep.Verdict != VerdictDamaged || checkResult(rep, "/md5sum.txt") != CheckDamaged {
		t.Errorf("verdict %s, list check %s; want damaged for both", rep.Verdict, checkResult(rep, "/md5sum.txt"))
	}
	for _, m := range d.Missing {
		if !strings.HasPrefix(m.Path, "/gone") && m.Path != "/dir/gone3" {
			t.Errorf("missing entry %+v", m)
		}
	}
}

// salvageTree builds an image of a 0600 file, a 0755 script and a file
// named "dummy", and opens it.
func salvageTree(t *testing.T) *isofmt.Image {
	t.Helper()
	isotest.RequireTool(t, "xorriso")
	root := filepath.Join(t.TempDir(), "root")
	for name, c := range map[string]struct {
		data string
		mode os.FileMode
	}{"private.key": {"private", 0o600}, "run.sh": {"#!/bin/sh\n", 0o755}, "dummy": {"from the image", 0o644}} {
		p := filepath.Join(root, name)
		os.MkdirAll(root, 0o755)
		if err := os.WriteFile(p, []byte(c.data), c.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, c.mode)
	}
	iso := filepath.Join(t.TempDir(), "s.iso")
	run(t, "xorriso", "-as", "mkisofs", "-R", "-o", iso, root)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

// TestSalvageKeepsModes (issue 16 item 9): salvage wrote every file 0644,
// so a 0600 file became world-readable. It now writes as extract does.
func TestSalvageKeepsModes(t *testing.T) {
	img := salvageTree(t)
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Salvage(context.Background(), img, out, SalvageOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"private.key": 0o600, "run.sh": 0o755} {
		if fi, err := os.Stat(filepath.Join(out, name)); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", name, fi, err, want)
		}
	}
}

// TestSalvageNoOverwrite (issue 16 item 9): salvage opened files with
// O_TRUNC, replacing whatever DIR held. Now an existing file is left
// alone and listed, unless Replace (--overwrite/--force) is asked for.
func TestSalvageNoOverwrite(t *testing.T) {
	img := salvageTree(t)
	out := t.TempDir()
	keep := filepath.Join(out, "private.key")
	os.WriteFile(keep, []byte("mine"), 0o600)
	res, err := Salvage(context.Background(), img, out, SalvageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Errorf("existing file replaced without --force: %q", b)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].Path != "/private.key" || !strings.Contains(res.Skipped[0].Reason, "exists") {
		t.Errorf("the refusal is not listed: %+v", res.Skipped)
	}
	if _, err := Salvage(context.Background(), img, out, SalvageOptions{Overwrite: extract.Replace}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(keep); string(b) != "private" {
		t.Errorf("Replace did not replace the file: %q", b)
	}
}

// TestSalvageNoFollowInside (issue 16 item 9): a symlink already in DIR
// pointing to another file inside DIR (dummy -> realdir/keep.txt) was
// followed — os.Root allows links that stay inside — and the image's
// "dummy" was written into keep.txt. No symlink is followed now.
func TestSalvageNoFollowInside(t *testing.T) {
	img := salvageTree(t)
	out := t.TempDir()
	os.Mkdir(filepath.Join(out, "realdir"), 0o755)
	keep := filepath.Join(out, "realdir", "keep.txt")
	os.WriteFile(keep, []byte("keep me"), 0o644)
	if err := os.Symlink("realdir/keep.txt", filepath.Join(out, "dummy")); err != nil {
		t.Fatal(err)
	}
	for _, ow := range []extract.Overwrite{extract.Refuse, extract.Replace} {
		if _, err := Salvage(context.Background(), img, out, SalvageOptions{Overwrite: ow}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(keep); string(b) != "keep me" {
			t.Fatalf("%v: written through the symlink: keep.txt holds %q", ow, b)
		}
	}
	// Replace replaced the symlink itself.
	if fi, err := os.Lstat(filepath.Join(out, "dummy")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("dummy after Replace: %v %v", fi, err)
	}
}

// TestSalvagePartial (issue 21 §3): a file partly on an unreadable range
// is written in part, ddrescue style: its readable ranges as in the
// original, the unreadable one a hole of zeros taking no space, the file
// listed as partial with the ranges written and missing. A file wholly on
// the bad range is left out.
func TestSalvagePartial(t *testing.T) {
	files := map[string][]byte{"big.bin": randomData(3<<20, 21), "small.txt": []byte("small")}
	iso := buildISO(t, files, false, false)
	img, err := isofmt.OpenFile(iso, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fi, _ := img.Stat("big.bin")
	bigAt := fi.Sys().(*isofmt.Stat).Extents[0].Offset
	si, _ := img.Stat("small.txt")
	smallAt := si.Sys().(*isofmt.Stat).Extents[0].Offset
	bad := []Range{{bigAt + 1<<20, 64 << 10}, {smallAt, 2048}}
	out := t.TempDir()
	res, err := Salvage(context.Background(), img, out, SalvageOptions{Bad: bad})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Partial) != 1 || res.Partial[0].Path != "/big.bin" {
		t.Fatalf("partial: %+v", res.Partial)
	}
	p := res.Partial[0]
	want := []extract.Range{{Offset: 1 << 20, Length: 64 << 10}}
	if len(p.Missing) != 1 || p.Missing[0] != want[0] || len(p.Written) != 2 {
		t.Errorf("written %v missing %v, want missing %v", p.Written, p.Missing, want)
	}
	got, _ := os.ReadFile(filepath.Join(out, "big.bin"))
	checkPartial(t, "big.bin", got, files["big.bin"], p)
	if len(res.Skipped) != 1 || res.Skipped[0].Path != "/small.txt" || len(res.Skipped[0].Ranges) != 1 {
		t.Errorf("small.txt on the bad range not left out with its range: %+v", res.Skipped)
	}
	if _, err := os.Stat(filepath.Join(out, "small.txt")); err == nil {
		t.Error("small.txt written")
	}
}
