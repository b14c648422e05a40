package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/sumsig/gpgtest"
)

// publishedImage builds an image with an implanted isomd5sum and an
// md5sum.txt inside, publishes it under www as name with a SHA256SUMS
// list, and returns its bytes.
func publishedImage(t *testing.T, www, name string) []byte {
	t.Helper()
	isotest.RequireTool(t, "xorriso", "implantisomd5")
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "docs"), 0o755)
	var md5txt strings.Builder
	for i, size := range []int{1000, 300 << 10, 2 << 20} {
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		rel := fmt.Sprintf("docs/f%d.bin", i)
		os.WriteFile(filepath.Join(src, rel), b, 0o644)
		fmt.Fprintf(&md5txt, "%x  ./%s\n", md5.Sum(b), rel)
	}
	os.WriteFile(filepath.Join(src, "md5sum.txt"), []byte(md5txt.String()), 0o644)
	img := filepath.Join(www, name)
	isotest.Run(t, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "PUBLISHED", "-o", img, src)
	isotest.Run(t, "implantisomd5", "--force", img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	list := fmt.Sprintf("%s *%s\n%s *other.iso\n", hex.EncodeToString(sum[:]), name, strings.Repeat("ab", 32))
	if err := os.WriteFile(filepath.Join(www, "SHA256SUMS"), []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFetchVerified downloads an image from nginx and checks it against
// the SHA256SUMS beside it, its signature (made by gpg with a key made in
// the test) and its implanted MD5: a good signature names the key; an
// unsigned list, a list signed by another key or altered after signing
// are not authentic with --keyring (exit 1); an image that does not match
// its list is damaged (exit 1); --sha256 replaces the list.
func TestFetchVerified(t *testing.T) {
	www := t.TempDir()
	want := publishedImage(t, www, "distro.iso")
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	other := gpgtest.NewKey(t, "Mallory <mallory@example.org>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.gpg"), false)
	sums := filepath.Join(www, "SHA256SUMS")
	key.SignDetached(sums, sums+".gpg", true)
	srv := nginxtest.Start(t, www)
	url := srv.URL("distro.iso")
	dir := t.TempDir()
	n := 0
	fetchTo := func(args ...string) (string, string, int) {
		n++
		out := filepath.Join(dir, fmt.Sprintf("d%d.iso", n))
		o, e, code := cliRun(t, append([]string{"fetch", url, "-o", out}, args...)...)
		if code != 2 {
			if got, err := os.ReadFile(out); err != nil || sha256.Sum256(got) != sha256.Sum256(want) {
				t.Errorf("fetch %v: the file differs from the published image (%v)", args, err)
			}
		}
		return o, e, code
	}

	o, e, code := fetchTo("--keyring", keyring)
	t.Logf("fetch output:\n%s", o)
	for _, s := range []string{"signed by " + key.Fingerprint, "Distro Release", "SHA256SUMS.gpg", "sha256 (SHA256SUMS)", "implanted md5", "/md5sum.txt", "verdict:   verified"} {
		if !strings.Contains(o, s) {
			t.Errorf("signed, good image: output lacks %q:\n%s%s", s, o, e)
		}
	}
	if code != 0 || strings.Contains(o, "damaged") {
		t.Errorf("signed, good image: exit %d\n%s%s", code, o, e)
	}

	// Without a keyring the signature is seen but not trusted.
	if o, e, code := fetchTo(); code != 0 || !strings.Contains(o, "not checked") {
		t.Errorf("no keyring: exit %d\n%s%s", code, o, e)
	}
	// Signed by a key outside the keyring.
	other.SignDetached(sums, sums+".gpg", true)
	if o, e, code := fetchTo("--keyring", keyring); code != 1 || !strings.Contains(o, "not in the keyring") || !strings.Contains(o, "NOT AUTHENTIC") {
		t.Errorf("other key: exit %d\n%s%s", code, o, e)
	}
	// The list altered after it was signed.
	key.SignDetached(sums, sums+".gpg", true)
	good, _ := os.ReadFile(sums)
	os.WriteFile(sums, append(good, []byte(strings.Repeat("cd", 32)+" *extra.iso\n")...), 0o644)
	if o, e, code := fetchTo("--keyring", keyring); code != 1 || !strings.Contains(o, "BAD signature") {
		t.Errorf("altered list: exit %d\n%s%s", code, o, e)
	}
	// No signature at all.
	os.WriteFile(sums, good, 0o644)
	os.Remove(sums + ".gpg")
	if o, e, code := fetchTo("--keyring", keyring); code != 1 || !strings.Contains(o, "signature: not signed") {
		t.Errorf("unsigned list: exit %d\n%s%s", code, o, e)
	}
	// A wrong checksum: the download is kept, the verdict is damaged.
	bad := sha256.Sum256([]byte("not the image"))
	if o, e, code := fetchTo("--sha256", hex.EncodeToString(bad[:])); code != 1 || !strings.Contains(o, "DAMAGED") {
		t.Errorf("--sha256 mismatch: exit %d\n%s%s", code, o, e)
	}
	if _, e, code := fetchTo("--sha256", "xyz"); code != 2 || !strings.Contains(e, "64 hex digits") {
		t.Errorf("bad --sha256: exit %d %s", code, e)
	}
	// -o DIR saves under the URL's name.
	into := t.TempDir()
	if _, e, code := cliRun(t, "fetch", url, "-o", into, "--no-verify"); code != 0 {
		t.Errorf("-o DIR: exit %d %s", code, e)
	} else if got, err := os.ReadFile(filepath.Join(into, "distro.iso")); err != nil || !bytes.Equal(got, want) {
		t.Errorf("-o DIR: %v", err)
	}
	if _, e, code := cliRun(t, "fetch", srv.URL("none.iso"), "-o", filepath.Join(dir, "none.iso")); code != 2 || !strings.Contains(e, "404") {
		t.Errorf("missing object: exit %d %s", code, e)
	}
}

// TestVerifySumsSigned: verify --sums with --keyring says who signed the
// list, and fails a list not signed by the keyring.
func TestVerifySumsSigned(t *testing.T) {
	www := t.TempDir()
	publishedImage(t, www, "distro.iso")
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.asc"), true)
	sums := filepath.Join(www, "SHA256SUMS")
	img := filepath.Join(www, "distro.iso")
	key.SignDetached(sums, sums+".sign", false)
	o, e, code := cliRun(t, "verify", img, "--sums", sums, "--keyring", keyring)
	if code != 0 || !strings.Contains(o, "signature: signed by "+key.Fingerprint) {
		t.Errorf("signed list: exit %d\n%s%s", code, o, e)
	}
	os.Remove(sums + ".sign")
	o, e, code = cliRun(t, "verify", img, "--sums", sums, "--keyring", keyring)
	if code != 1 || !strings.Contains(o, "signature: not signed") {
		t.Errorf("unsigned list with --keyring: exit %d\n%s%s", code, o, e)
	}
	// A clearsigned list works as it is.
	key.ClearSign(sums, sums+".clear")
	if o, e, code := cliRun(t, "verify", img, "--sums", sums+".clear", "--keyring", keyring); code != 0 || !strings.Contains(o, "clearsigned") {
		t.Errorf("clearsigned list: exit %d\n%s%s", code, o, e)
	}
	if _, e, code := cliRun(t, "verify", img, "--keyring", keyring); code != 2 || !strings.Contains(e, "--sums") {
		t.Errorf("--keyring without --sums: exit %d %s", code, e)
	}
}

// TestRepairCLI repairs a damaged copy through the command line: by the
// zsync control file beside the image (named by --from URL or URL.zsync),
// then by the image's own checksums (--no-zsync); each result is checked
// against the signed SHA256SUMS before it replaces the copy, and a
// result that does not match the published list leaves the copy as it
// was.
func TestRepairCLI(t *testing.T) {
	isotest.RequireTool(t, "zsyncmake")
	www := t.TempDir()
	want := publishedImage(t, www, "distro.iso")
	isotest.Run(t, "zsyncmake", "-b", "2048", "-u", "distro.iso", "-o", filepath.Join(www, "distro.iso.zsync"), filepath.Join(www, "distro.iso"))
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.gpg"), false)
	sums := filepath.Join(www, "SHA256SUMS")
	key.SignDetached(sums, sums+".gpg", true)
	srv := nginxtest.Start(t, www)
	damaged := append([]byte(nil), want...)
	for _, off := range []int{40 << 10, 1 << 20, 2<<20 + 5} {
		for i := range 1000 {
			damaged[off+i] ^= 0x77
		}
	}
	copyPath := filepath.Join(t.TempDir(), "distro.iso")
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"zsync beside the image", []string{"--from", srv.URL("distro.iso"), "--keyring", keyring}, "by zsync"},
		{"control file as --from", []string{"--from", srv.URL("distro.iso.zsync")}, "by zsync"},
		{"own checksums", []string{"--from", srv.URL("distro.iso"), "--no-zsync", "--keyring", keyring}, "by checksums"},
	} {
		os.WriteFile(copyPath, damaged, 0o644)
		o, e, code := cliRun(t, append([]string{"repair", copyPath}, tc.args...)...)
		got, _ := os.ReadFile(copyPath)
		if code != 0 || !strings.Contains(o, tc.says) || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("%s: exit %d, repaired %v\n%s%s", tc.name, code, sha256.Sum256(got) == sha256.Sum256(want), o, e)
		}
		if tc.args[len(tc.args)-1] == keyring && !strings.Contains(o, "signed by "+key.Fingerprint) {
			t.Errorf("%s: the published list's signature was not checked:\n%s", tc.name, o)
		}
	}
	// Already current: nothing to do.
	if o, e, code := cliRun(t, "repair", copyPath, "--from", srv.URL("distro.iso")); code != 0 || !strings.Contains(o, "unchanged") {
		t.Errorf("current copy: exit %d\n%s%s", code, o, e)
	}
	// The published list disagrees: the repaired file is not put in place.
	os.WriteFile(copyPath, damaged, 0o644)
	os.WriteFile(sums, []byte(strings.Repeat("00", 32)+" *distro.iso\n"), 0o644)
	o, e, code := cliRun(t, "repair", copyPath, "--from", srv.URL("distro.iso"))
	if got, _ := os.ReadFile(copyPath); code != 1 || !bytes.Equal(got, damaged) || !strings.Contains(e, "unchanged") {
		t.Errorf("mismatching SHA256SUMS: exit %d, copy untouched %v\n%s%s", code, bytes.Equal(got, damaged), o, e)
	}
	if _, e, code := cliRun(t, "repair", copyPath); code != 2 || !strings.Contains(e, "--from") {
		t.Errorf("no --from: exit %d %s", code, e)
	}
}

// TestFetchHostileSignerName: a key's user ID is text its owner chose
// (gpg accepts escape sequences and bidi overrides in it); fetch prints it
// quoted, never raw on the operator's terminal.
func TestFetchHostileSignerName(t *testing.T) {
	www := t.TempDir()
	publishedImage(t, www, "distro.iso")
	uid := "Evil\x1b]0;pwned\a\x1b[2J\u202eosi <evil@example.org>"
	key := gpgtest.NewKey(t, uid)
	keyring := key.Export(filepath.Join(t.TempDir(), "evil.gpg"), false)
	sums := filepath.Join(www, "SHA256SUMS")
	key.SignDetached(sums, sums+".gpg", true)
	srv := nginxtest.Start(t, www)
	o, e, code := cliRun(t, "fetch", srv.URL("distro.iso"), "-o", filepath.Join(t.TempDir(), "d.iso"), "--keyring", keyring)
	if code != 0 || !strings.Contains(o, key.Fingerprint) {
		t.Fatalf("fetch: exit %d\n%s%s", code, o, e)
	}
	for _, bad := range []string{"\x1b", "\a", "\u202e"} {
		if strings.Contains(o+e, bad) {
			t.Errorf("output holds %q raw:\n%q", bad, o+e)
		}
	}
	if !strings.Contains(o, `\x1b]0;pwned\a`) {
		t.Errorf("the signer's name is not shown quoted:\n%s", o)
	}
}

// TestFetchPublishedEntryMustMatch (REVIEW-2 #1): a published checksum
// that is not compared with the file never lets it pass as verified.
// A signed img.iso.sha256 giving another file's sum under another name
// (no SHA256SUMS) is not the image's entry: fetch --keyring says NOT
// AUTHENTIC / not verified, exit 1 (it said "verified" on the strength of
// the image's own md5sum.txt), and verify --sums --keyring fails the
// same way. Unsigned, such an own list is the image's checksum, so the
// mismatch is damage (exit 1). A signed own list with the right sum and
// name verifies.
func TestFetchPublishedEntryMustMatch(t *testing.T) {
	www := t.TempDir()
	want := publishedImage(t, www, "img.iso")
	os.Remove(filepath.Join(www, "SHA256SUMS"))
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.gpg"), false)
	own := filepath.Join(www, "img.iso.sha256")
	other := sha256.Sum256([]byte("another release"))
	if err := os.WriteFile(own, []byte(fmt.Sprintf("%x  other.iso\n", other)), 0o644); err != nil {
		t.Fatal(err)
	}
	key.SignDetached(own, own+".gpg", false)
	srv := nginxtest.Start(t, www)
	dir := t.TempDir()

	o, e, code := cliRun(t, "fetch", srv.URL("img.iso"), "-o", filepath.Join(dir, "a.iso"), "--keyring", keyring)
	t.Logf("signed list for other.iso:\n%s%s", o, e)
	if code != 1 || strings.Contains(o, "verdict:   verified") || strings.Contains(o, "verdict:   not verified") {
		t.Errorf("fetch --keyring with a signed entry for another file: exit %d\n%s%s", code, o, e)
	}
	o, e, code = cliRun(t, "verify", filepath.Join(www, "img.iso"), "--sums", own, "--keyring", keyring)
	if code != 1 || strings.Contains(o, "verdict:  ok") {
		t.Errorf("verify --sums --keyring with a signed entry for another file: exit %d\n%s%s", code, o, e)
	}

	os.Remove(own + ".gpg")
	o, e, code = cliRun(t, "fetch", srv.URL("img.iso"), "-o", filepath.Join(dir, "b.iso"))
	if code != 1 || !strings.Contains(o, "DAMAGED") {
		t.Errorf("fetch, unsigned img.iso.sha256 naming the file otherwise and not matching: exit %d\n%s%s", code, o, e)
	}

	sum := sha256.Sum256(want)
	os.WriteFile(own, []byte(fmt.Sprintf("%x  img.iso\n", sum)), 0o644)
	key.SignDetached(own, own+".gpg", false)
	o, e, code = cliRun(t, "fetch", srv.URL("img.iso"), "-o", filepath.Join(dir, "c.iso"), "--keyring", keyring)
	if code != 0 || !strings.Contains(o, "verdict:   verified") || !strings.Contains(o, "sha256 (img.iso.sha256)") {
		t.Errorf("fetch --keyring, signed own list with the right entry: exit %d\n%s%s", code, o, e)
	}
	o, e, code = cliRun(t, "verify", filepath.Join(www, "img.iso"), "--sums", own, "--keyring", keyring)
	if code != 0 || !strings.Contains(o, "verdict:  ok") {
		t.Errorf("verify --sums --keyring, the right entry: exit %d\n%s%s", code, o, e)
	}
}
