package sumsig_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/sumsig"
	"github.com/isofsd/isofsd/sumsig/gpgtest"
)

const list = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef *image.iso\n"

// TestSignatures checks lists signed by GnuPG itself: a good detached
// signature (armoured or binary) or clearsigned list names its signer; a
// list altered after signing is a BAD signature; a signature by a key
// outside the keyring is not trusted; an armoured keyring reads like a
// binary one.
func TestSignatures(t *testing.T) {
	dir := t.TempDir()
	pub := gpgtest.NewKey(t, "Release Team <release@example.org>")
	other := gpgtest.NewKey(t, "Mallory <mallory@example.org>")
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	pub.SignDetached(sums, sums+".gpg", true)
	pub.SignDetached(sums, sums+".sig", false)
	other.SignDetached(sums, sums+".other", true)
	pub.ClearSign(sums, filepath.Join(dir, "CHECKSUM"))
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, armored := range []bool{true, false} {
		kr, err := sumsig.LoadKeyring(pub.Export(filepath.Join(dir, "keyring"), armored))
		if err != nil {
			t.Fatal(err)
		}
		for _, sig := range []string{"SHA256SUMS.gpg", "SHA256SUMS.sig"} {
			s, err := kr.VerifyDetached([]byte(list), read(sig))
			if err != nil || s.Fingerprint != pub.Fingerprint || !strings.Contains(s.String(), "Release Team") {
				t.Errorf("keyring armoured=%v, %s: %v %v", armored, sig, s, err)
			}
		}
		altered := strings.Replace(list, "0123", "9123", 1)
		if _, err := kr.VerifyDetached([]byte(altered), read("SHA256SUMS.gpg")); !errors.Is(err, sumsig.ErrBadSignature) {
			t.Errorf("altered list: %v, want ErrBadSignature", err)
		}
		if _, err := kr.VerifyDetached([]byte(list), read("SHA256SUMS.other")); !errors.Is(err, sumsig.ErrUnknownKey) {
			t.Errorf("signed by another key: %v, want ErrUnknownKey", err)
		}
		text, s, err := kr.VerifyClearsigned(read("CHECKSUM"))
		if err != nil || s.Fingerprint != pub.Fingerprint || !bytes.Equal(bytes.TrimSpace(text), bytes.TrimSpace([]byte(list))) {
			t.Errorf("clearsigned: %q %v %v", text, s, err)
		}
		forged := bytes.Replace(read("CHECKSUM"), []byte("0123"), []byte("9123"), 1)
		if _, _, err := kr.VerifyClearsigned(forged); !errors.Is(err, sumsig.ErrBadSignature) {
			t.Errorf("altered clearsigned list: %v, want ErrBadSignature", err)
		}
	}
	if !sumsig.IsClearsigned(read("CHECKSUM")) || sumsig.IsClearsigned([]byte(list)) {
		t.Error("IsClearsigned")
	}
}

// TestHostileSignatures: whatever a server sends as a signature or a
// clearsigned list, the verdict is an error, never a pass or a panic.
func TestHostileSignatures(t *testing.T) {
	dir := t.TempDir()
	pub := gpgtest.NewKey(t, "Release Team <release@example.org>")
	kr, err := sumsig.LoadKeyring(pub.Export(filepath.Join(dir, "k.asc"), true))
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range map[string][]byte{
		"empty":           nil,
		"text":            []byte("this is not a signature\n"),
		"armoured junk":   []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n"),
		"armoured key":    []byte(readFile(t, filepath.Join(dir, "k.asc"))),
		"truncated":       []byte{0xc2, 0x75, 0x04},
		"huge":            make([]byte, sumsig.MaxSignature+1),
		"clear, no sig":   []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nhello\n"),
		"public key only": pubBinary(t, pub, dir),
	} {
		if _, err := kr.VerifyDetached([]byte(list), sig); err == nil {
			t.Errorf("%s: accepted as a signature", name)
		}
		if _, _, err := kr.VerifyClearsigned(sig); err == nil {
			t.Errorf("%s: accepted as a clearsigned message", name)
		}
	}
	for name, ring := range map[string][]byte{
		"empty":  nil,
		"text":   []byte("hello"),
		"keybox": append([]byte{0, 0, 0, 32, 1, 2, 0, 0}, []byte("KBXf")...),
	} {
		if _, err := sumsig.ParseKeyring(ring); !errors.Is(err, sumsig.ErrKeyring) {
			t.Errorf("keyring %s: %v, want ErrKeyring", name, err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func pubBinary(t *testing.T, k *gpgtest.Key, dir string) []byte {
	return []byte(readFile(t, k.Export(filepath.Join(dir, "k.gpg"), false)))
}

// FuzzVerify feeds arbitrary bytes as detached signatures and
// clearsigned lists to a keyring made by GnuPG, seeded with its real
// signatures.
func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	pub := gpgtest.NewKey(f, "Release Team <release@example.org>")
	kr, err := sumsig.LoadKeyring(pub.Export(filepath.Join(dir, "k.gpg"), false))
	if err != nil {
		f.Fatal(err)
	}
	sums := filepath.Join(dir, "SHA256SUMS")
	if err := os.WriteFile(sums, []byte(list), 0o644); err != nil {
		f.Fatal(err)
	}
	pub.SignDetached(sums, sums+".asc", true)
	pub.SignDetached(sums, sums+".sig", false)
	pub.ClearSign(sums, sums+".clear")
	for _, ext := range []string{".asc", ".sig", ".clear"} {
		b, err := os.ReadFile(sums + ext)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc2, 0x75, 0x04, 0x01, 0x16, 0x0a})
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := kr.VerifyDetached([]byte(list), b); err == nil && s.Fingerprint != pub.Fingerprint {
			t.Fatalf("good signature by %s", s)
		}
		if text, s, err := kr.VerifyClearsigned(b); err == nil && (s.Fingerprint != pub.Fingerprint || text == nil) {
			t.Fatalf("good clearsigned message by %s", s)
		}
		sumsig.IsClearsigned(b)
		sumsig.ClearsignedText(b)
	})
}

// FuzzParseKeyring: any keyring file is read or refused cleanly.
func FuzzParseKeyring(f *testing.F) {
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDME\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte{0x98, 0x33, 0x04, 0x65})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := sumsig.ParseKeyring(b); err != nil && !errors.Is(err, sumsig.ErrKeyring) {
			t.Fatalf("error %v does not wrap ErrKeyring", err)
		}
	})
}

// TestCheck: the signature beside a list is found by its usual names and
// judged; a list with none is "not signed"; without a keyring a
// signature is reported but not trusted.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	pub := gpgtest.NewKey(t, "Release Team <release@example.org>")
	kr, err := sumsig.LoadKeyring(pub.Export(filepath.Join(dir, "k.gpg"), false))
	if err != nil {
		t.Fatal(err)
	}
	sums := filepath.Join(dir, "SHA256SUMS")
	os.WriteFile(sums, []byte(list), 0o644)
	pub.SignDetached(sums, sums+".sign", true)
	pub.ClearSign(sums, filepath.Join(dir, "CHECKSUM"))
	files := map[string][]byte{}
	for _, n := range []string{"SHA256SUMS", "SHA256SUMS.sign", "CHECKSUM"} {
		files[n] = []byte(readFile(t, filepath.Join(dir, n)))
	}
	get := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		return nil, fs.ErrNotExist
	}
	for _, tc := range []struct {
		name, list string
		data       []byte
		kr         *sumsig.Keyring
		trusted    bool
		says       string
	}{
		{"detached", "SHA256SUMS", files["SHA256SUMS"], kr, true, "signed by " + pub.Fingerprint},
		{"clearsigned", "CHECKSUM", files["CHECKSUM"], kr, true, "signed by " + pub.Fingerprint},
		{"no keyring", "SHA256SUMS", files["SHA256SUMS"], nil, false, "not checked"},
		{"unsigned", "MD5SUMS", []byte(list), kr, false, "not signed"},
		{"altered", "SHA256SUMS", []byte(strings.Replace(list, "01", "10", 1)), kr, false, "BAD signature"},
	} {
		r, err := sumsig.Check(tc.list, tc.data, get, tc.kr)
		if err != nil || r.Trusted() != tc.trusted || !strings.Contains(r.String(), tc.says) {
			t.Errorf("%s: %v, %q (trusted %v)", tc.name, err, r, r.Trusted())
		}
		if tc.trusted && !bytes.Contains(r.Text, []byte("image.iso")) {
			t.Errorf("%s: text %q", tc.name, r.Text)
		}
	}
}
