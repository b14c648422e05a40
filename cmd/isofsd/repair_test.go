package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
	"github.com/isofsd/isofsd/isofmt/isotest/nginxtest"
	"github.com/isofsd/isofsd/sumsig/gpgtest"
)

// TestRepairUnchangedNeedsPublished: a copy altered where neither the
// image's own sums nor an (unsigned, server-made) zsync control file
// look — 4 bytes in the tail the implanted MD5 skips, and in the system
// area — is
// never called "unchanged" while a signed SHA256SUMS says otherwise: by
// the image's own sums, the ranges md5sum.txt does not vouch for are
// fetched again (not the whole image); with a control file made from the
// altered copy (zsyncmake -u), the whole image is; both end as the
// published image, checked against the signed list. With --keyring and a
// signed list whose entry does not match, the verdict is never
// "unchanged" or "repaired" and FILE stays as it was.
func TestRepairUnchangedNeedsPublished(t *testing.T) {
	isotest.RequireTool(t, "zsyncmake")
	www := t.TempDir()
	want := publishedImage(t, www, "distro.iso")
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.gpg"), false)
	sums := filepath.Join(www, "SHA256SUMS")
	key.SignDetached(sums, sums+".gpg", true)
	srv := nginxtest.Start(t, www)
	tampered := bytes.Clone(want)
	copy(tampered[100:], "EVIL")
	copy(tampered[len(tampered)-100:], "EVIL")
	copyPath := filepath.Join(t.TempDir(), "distro.iso")
	fetched := regexp.MustCompile(`(\d+) fetched`)
	verdict := regexp.MustCompile(`(?m)^(unchanged|repaired):`)

	// By the image's own sums: they all pass on the altered copy (the
	// tail is outside the implanted MD5, the system area in it).
	tailOnly := bytes.Clone(want)
	copy(tailOnly[len(tailOnly)-100:], "EVIL")
	for _, alt := range []struct {
		name string
		data []byte
	}{{"tail", tailOnly}, {"system area and tail", tampered}} {
		os.WriteFile(copyPath, alt.data, 0o644)
		o, e, code := cliRun(t, "repair", copyPath, "--from", srv.URL("distro.iso"), "--no-zsync", "--keyring", keyring)
		got, _ := os.ReadFile(copyPath)
		m := fetched.FindStringSubmatch(o)
		if code != 0 || !strings.Contains(o, "repaired:") || !bytes.Equal(got, want) || m == nil {
			t.Errorf("own sums, %s altered: exit %d, repaired %v\n%s%s", alt.name, code, bytes.Equal(got, want), o, e)
		} else if n, _ := strconv.Atoi(m[1]); n >= len(want)/2 {
			t.Errorf("own sums, %s altered: fetched %d of %d bytes: the files md5sum.txt vouches for were fetched too", alt.name, n, len(want))
		} else {
			t.Logf("own sums, %s altered: fetched %d of %d bytes", alt.name, n, len(want))
		}
	}

	// By a control file made from the altered copy.
	tamperedPath := filepath.Join(t.TempDir(), "distro.iso")
	os.WriteFile(tamperedPath, tampered, 0o644)
	isotest.Run(t, "zsyncmake", "-b", "2048", "-u", "distro.iso", "-o", filepath.Join(www, "distro.iso.zsync"), tamperedPath)
	os.WriteFile(copyPath, tampered, 0o644)
	o, e, code := cliRun(t, "repair", copyPath, "--from", srv.URL("distro.iso"), "--keyring", keyring)
	got, _ := os.ReadFile(copyPath)
	if code != 0 || !strings.Contains(o, "repaired:") || !bytes.Equal(got, want) || !strings.Contains(o, "signed by "+key.Fingerprint) {
		t.Errorf("zsync from the altered copy: exit %d, repaired %v\n%s%s", code, bytes.Equal(got, want), o, e)
	}
	os.Remove(filepath.Join(www, "distro.iso.zsync"))

	// The current image, but the signed list's entry for it does not
	// match (another release's sum): not unchanged, not repaired.
	os.WriteFile(copyPath, want, 0o644)
	other := sha256.Sum256(append(bytes.Clone(want), 0))
	os.WriteFile(sums, fmt.Appendf(nil, "%s *distro.iso\n", hex.EncodeToString(other[:])), 0o644)
	key.SignDetached(sums, sums+".gpg", true)
	for _, args := range [][]string{{"--no-zsync"}, {"--zsync", filepath.Join(www, "none.zsync")}} {
		if args[0] == "--zsync" {
			isotest.Run(t, "zsyncmake", "-b", "2048", "-u", "distro.iso", "-o", args[1], filepath.Join(www, "distro.iso"))
		}
		o, e, code = cliRun(t, append([]string{"repair", copyPath, "--from", srv.URL("distro.iso"), "--keyring", keyring}, args...)...)
		got, _ = os.ReadFile(copyPath)
		if code != 1 || verdict.MatchString(o) || !bytes.Equal(got, want) {
			t.Errorf("signed entry not matching (%s): exit %d, copy untouched %v\n%s%s", args[0], code, bytes.Equal(got, want), o, e)
		}
	}
}

// TestRepairKeyringNotAuthentic: with --keyring, a checksum list that is
// not signed, or a signed list with no entry for the image, ends the
// repair with exit 1 before any of the image is downloaded (no download
// could make it verify), FILE untouched — by zsync and by the image's
// own sums.
func TestRepairKeyringNotAuthentic(t *testing.T) {
	isotest.RequireTool(t, "zsyncmake")
	www := t.TempDir()
	want := publishedImage(t, www, "distro.iso")
	isotest.Run(t, "zsyncmake", "-b", "2048", "-u", "distro.iso", "-o", filepath.Join(www, "distro.iso.zsync"), filepath.Join(www, "distro.iso"))
	key := gpgtest.NewKey(t, "Distro Release <release@distro.example>")
	keyring := key.Export(filepath.Join(t.TempDir(), "distro.gpg"), false)
	sums := filepath.Join(www, "SHA256SUMS")
	srv := nginxtest.Start(t, www)
	damaged := bytes.Clone(want)
	for i := range 1000 {
		damaged[1<<20+i] ^= 0x77
	}
	copyPath := filepath.Join(t.TempDir(), "distro.iso")
	good, _ := os.ReadFile(sums)
	for _, tc := range []struct{ name, list string }{
		{"unsigned list", string(good)},
		{"signed list without the image", strings.Repeat("ab", 32) + " *other.iso\n"},
	} {
		os.WriteFile(sums, []byte(tc.list), 0o644)
		os.Remove(sums + ".gpg")
		if tc.name != "unsigned list" {
			key.SignDetached(sums, sums+".gpg", true)
		}
		for _, mode := range []string{"--no-zsync", "--workers=4"} {
			os.WriteFile(copyPath, damaged, 0o644)
			mark := len(srv.Log())
			o, e, code := cliRun(t, "repair", copyPath, "--from", srv.URL("distro.iso"), "--keyring", keyring, mode)
			var body int64
			for _, l := range srv.Log()[mark:] {
				if l.Path == "/distro.iso" {
					body += l.BodyBytes
				}
			}
			got, _ := os.ReadFile(copyPath)
			if code != 1 || !strings.Contains(o, "NOT AUTHENTIC") || !bytes.Equal(got, damaged) || body > 64<<10 {
				t.Errorf("%s (%s): exit %d, copy untouched %v, %d bytes of the image fetched\n%s%s", tc.name, mode, code, bytes.Equal(got, damaged), body, o, e)
			}
		}
	}
}
