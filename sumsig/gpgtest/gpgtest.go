// Package gpgtest makes OpenPGP keys and signatures for tests with the
// real GnuPG (gpg), so that signature checks are proven against what
// publishers' tools produce, not against signatures made by the library
// under test.
package gpgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/isofsd/isofsd/isofmt/isotest"
)

// Key is a signing key in a GnuPG home of its own.
type Key struct {
	t    testing.TB
	home string
	// UID is the key's user ID.
	UID string
	// Fingerprint is the primary key's fingerprint (upper-case hex).
	Fingerprint string
}

// NewKey generates an Ed25519 signing key for uid ("Name <email>") in a
// fresh GnuPG home; its agent is stopped when the test ends.
func NewKey(t testing.TB, uid string) *Key {
	t.Helper()
	isotest.RequireTool(t, "gpg")
	// gpg-agent's socket path must fit in 108 bytes: keep the home short.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(home, 0o700)
	k := &Key{t: t, home: home, UID: uid}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	k.gpg("--passphrase", "", "--quick-generate-key", uid, "ed25519", "sign", "never")
	for _, line := range strings.Split(k.gpg("--with-colons", "--fingerprint", uid), "\n") {
		if f := strings.Split(line, ":"); len(f) > 9 && f[0] == "fpr" {
			k.Fingerprint = strings.ToUpper(f[9])
			break
		}
	}
	if k.Fingerprint == "" {
		t.Fatalf("gpg: no fingerprint for %s", uid)
	}
	return k
}

func (k *Key) gpg(args ...string) string {
	k.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", k.home, "--batch", "--yes", "--pinentry-mode", "loopback", "--no-tty"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		k.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Export writes the public key to path, ASCII armoured or binary.
func (k *Key) Export(path string, armored bool) string {
	k.t.Helper()
	args := []string{"--output", path}
	if armored {
		args = append(args, "--armor")
	}
	k.gpg(append(args, "--export", k.Fingerprint)...)
	return path
}

// SignDetached writes a detached signature of file to sig (armoured or
// binary), as publishers make SHA256SUMS.gpg.
func (k *Key) SignDetached(file, sig string, armored bool) {
	k.t.Helper()
	args := []string{"--local-user", k.Fingerprint, "--output", sig}
	if armored {
		args = append(args, "--armor")
	}
	k.gpg(append(args, "--detach-sign", file)...)
}

// ClearSign writes file clearsigned to out, as Fedora signs its CHECKSUM
// files.
func (k *Key) ClearSign(file, out string) {
	k.t.Helper()
	k.gpg("--local-user", k.Fingerprint, "--output", out, "--clearsign", file)
}
