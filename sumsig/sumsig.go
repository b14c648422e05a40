// Package sumsig checks the OpenPGP signature of a published checksum
// list — a detached SHA256SUMS.gpg / .sign / .asc / .sig beside it
// (Ubuntu, Debian), or a clearsigned list (Fedora's CHECKSUM files) —
// against a keyring the user names, with ProtonMail's go-crypto (the
// maintained fork of golang.org/x/crypto/openpgp). A checksum list proves
// integrity; only its signature by a key the user trusts proves the image
// is the publisher's.
package sumsig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/isofsd/isofsd/internal/diskio"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrBadSignature means the signature does not match the list: the
	// list (or the signature) was altered.
	ErrBadSignature = errors.New("sumsig: BAD signature")
	// ErrUnknownKey means the list is signed, but by no key of the
	// keyring.
	ErrUnknownKey = errors.New("sumsig: signed by a key not in the keyring")
	// ErrKeyring means the keyring could not be read.
	ErrKeyring = errors.New("sumsig: unusable keyring")
)

// MaxKeyring and MaxSignature bound what is read: real keyrings are a
// few KiB to a few MiB, signatures a few hundred bytes per signer.
const (
	MaxKeyring   = 64 << 20
	MaxSignature = 1 << 20
)

// SignatureSuffixes are the names detached signatures of a list go by,
// in the order they are looked for.
var SignatureSuffixes = []string{".gpg", ".sign", ".asc", ".sig"}

// Keyring holds the public keys a signature must come from.
type Keyring struct {
	keys openpgp.EntityList
}

// LoadKeyring reads an OpenPGP keyring: binary (gpg --export) or ASCII
// armoured (gpg --export --armor, a distribution's published KEYS file).
// The path is vetted like an image (diskio.OpenInput: a FIFO would block).
func LoadKeyring(path string) (*Keyring, error) {
	f, err := diskio.OpenInput(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyring, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxKeyring+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyring, path, err)
	}
	if len(b) > MaxKeyring {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKeyring, path, MaxKeyring)
	}
	k, err := ParseKeyring(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ParseKeyring reads a keyring from memory.
func ParseKeyring(b []byte) (*Keyring, error) {
	var list openpgp.EntityList
	var err error
	if isArmored(b) {
		list, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		if bytes.HasPrefix(b[min(len(b), 8):], []byte("KBXf")) {
			return nil, fmt.Errorf("%w: a GnuPG keybox (pubring.kbx); export the keys with `gpg --export KEYID > keyring.gpg`", ErrKeyring)
		}
		list, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeyring, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: no public keys in it", ErrKeyring)
	}
	return &Keyring{keys: list}, nil
}

func isArmored(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("-----BEGIN PGP"))
}

// Signer names the key a good signature was made with.
type Signer struct {
	// Fingerprint is the primary key's fingerprint in upper-case hex.
	Fingerprint string
	// KeyID is the signing (sub)key's 64-bit ID in upper-case hex.
	KeyID string
	// Identity is the key's primary user ID ("Name <email>").
	Identity string
	// Created is when the signature was made.
	Created time.Time
}

func (s *Signer) String() string {
	if s.Identity != "" {
		return fmt.Sprintf("%s (%s)", s.Fingerprint, s.Identity)
	}
	return s.Fingerprint
}

// IsClearsigned reports whether b is a clearsigned message (the list and
// its signature in one file).
func IsClearsigned(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("-----BEGIN PGP SIGNED MESSAGE-----"))
}

// VerifyDetached checks sig (binary or armoured, one or more signature
// packets) over data and returns who signed it.
func (k *Keyring) VerifyDetached(data, sig []byte) (*Signer, error) {
	if len(sig) > MaxSignature {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(sig))
	}
	r := io.Reader(bytes.NewReader(sig))
	if isArmored(sig) {
		blk, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return nil, fmt.Errorf("%w: armour: %v", ErrBadSignature, err)
		}
		if blk.Type != openpgp.SignatureType {
			return nil, fmt.Errorf("%w: armour holds a %q, not a signature", ErrBadSignature, blk.Type)
		}
		r = blk.Body
	}
	s, e, err := openpgp.VerifyDetachedSignature(k.keys, bytes.NewReader(data), r, nil)
	return signerOf(s, e, err)
}

// VerifyClearsigned checks a clearsigned message and returns its text
// (the checksum list) and who signed it. The text is returned only when
// the signature is good.
func (k *Keyring) VerifyClearsigned(msg []byte) ([]byte, *Signer, error) {
	if len(msg) > MaxKeyring {
		return nil, nil, fmt.Errorf("%w: message of %d bytes", ErrBadSignature, len(msg))
	}
	blk, _ := clearsign.Decode(msg)
	if blk == nil {
		return nil, nil, fmt.Errorf("%w: not a well-formed clearsigned message", ErrBadSignature)
	}
	if blk.ArmoredSignature == nil {
		return nil, nil, fmt.Errorf("%w: clearsigned message without a signature block", ErrBadSignature)
	}
	s, e, err := openpgp.VerifyDetachedSignature(k.keys, bytes.NewReader(blk.Bytes), blk.ArmoredSignature.Body, nil)
	signer, err := signerOf(s, e, err)
	if err != nil {
		return nil, nil, err
	}
	return blk.Plaintext, signer, nil
}

// ClearsignedText returns the text of a clearsigned message without
// checking it (to read a signed list when no keyring was given), or nil.
func ClearsignedText(msg []byte) []byte {
	blk, _ := clearsign.Decode(msg)
	if blk == nil {
		return nil
	}
	return blk.Plaintext
}

// signerOf turns go-crypto's verdict into ours.
func signerOf(sig *packet.Signature, e *openpgp.Entity, err error) (*Signer, error) {
	switch {
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		id := ""
		if sig != nil && sig.IssuerKeyId != nil {
			id = fmt.Sprintf(" %016X", *sig.IssuerKeyId)
		}
		return nil, fmt.Errorf("%w%s", ErrUnknownKey, id)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	case e == nil || e.PrimaryKey == nil:
		return nil, fmt.Errorf("%w: no signer", ErrBadSignature)
	}
	s := &Signer{Fingerprint: strings.ToUpper(fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))}
	if sig != nil {
		s.Created = sig.CreationTime
		if sig.IssuerKeyId != nil {
			s.KeyID = fmt.Sprintf("%016X", *sig.IssuerKeyId)
		}
	}
	if id := e.PrimaryIdentity(); id != nil {
		s.Identity = id.Name
	}
	return s, nil
}

// Result is the verdict on a checksum list's signature.
type Result struct {
	// Text is the list itself (a clearsigned message's text).
	Text []byte
	// SigName names the signature found: a file beside the list, or
	// "clearsigned"; "" when the list is not signed.
	SigName string
	// Signer is set when the signature is good and made by a key of the
	// keyring.
	Signer *Signer
	// Err says why a signature found is not trusted: ErrBadSignature,
	// ErrUnknownKey (wrapped).
	Err error
	// Unchecked is set when a signature exists but no keyring was given.
	Unchecked bool
}

// Trusted reports whether the list is signed by a key of the keyring.
func (r *Result) Trusted() bool { return r.Signer != nil && r.Err == nil }

// String is the verdict for people: "signed by FPR (uid)", "not signed",
// "BAD signature …", or that a signature was not checked.
func (r *Result) String() string {
	switch {
	case r.Trusted():
		return fmt.Sprintf("signed by %s (%s)", r.Signer, r.SigName)
	case r.Err != nil:
		return fmt.Sprintf("%v (%s)", r.Err, r.SigName)
	case r.Unchecked:
		return fmt.Sprintf("signature %s present, not checked (no --keyring given)", r.SigName)
	}
	return "not signed"
}

// Getter reads a file published beside the list by name; an absent one
// returns an error wrapping fs.ErrNotExist.
type Getter func(name string) ([]byte, error)

// Check finds and checks the signature of the list called name with
// content data: data itself when it is clearsigned, else the first of
// name + SignatureSuffixes that get finds. With kr nil, signatures are
// found but not checked. Errors of get other than "not there" are
// returned.
func Check(name string, data []byte, get Getter, kr *Keyring) (*Result, error) {
	r := &Result{Text: data}
	if IsClearsigned(data) {
		r.SigName = "clearsigned"
		if kr == nil {
			r.Unchecked = true
			r.Text = ClearsignedText(data)
			if r.Text == nil {
				r.Text = data
			}
			return r, nil
		}
		text, s, err := kr.VerifyClearsigned(data)
		if err != nil {
			// The text of a message whose signature fails is not trusted,
			// but it is still what the list says.
			r.Err = err
			if t := ClearsignedText(data); t != nil {
				r.Text = t
			}
			return r, nil
		}
		r.Text, r.Signer = text, s
		return r, nil
	}
	for _, suf := range SignatureSuffixes {
		sig, err := get(name + suf)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return r, fmt.Errorf("sumsig: %s%s: %w", name, suf, err)
		}
		r.SigName = name + suf
		if kr == nil {
			r.Unchecked = true
			return r, nil
		}
		r.Signer, r.Err = kr.VerifyDetached(data, sig)
		return r, nil
	}
	return r, nil
}
