package writer

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Identity is what tells a drive from another that took its place under
// the same name: its device number and size, what it reports itself to
// be (vendor, model, serial), and for a loop device the file behind it.
// Between the moment a drive is picked and the moment it is written, a
// stick may be pulled and another plugged in; writing checks the
// identity again just before it opens the drive (Plan.open), and a
// picker in another process (desktop write-usb) passes the identity of
// the drive the user chose, so that `write` refuses any other
// (Options.Expect).
type Identity struct {
	Num         DevNum `json:"devnum"`
	Size        int64  `json:"size"`
	Vendor      string `json:"vendor,omitempty"`
	Model       string `json:"model,omitempty"`
	Serial      string `json:"serial,omitempty"`
	BackingFile string `json:"backing_file,omitempty"`
}

// Identity is the drive's identity as probed.
func (d *Device) Identity() Identity {
	return Identity{Num: d.Num, Size: d.Size, Vendor: d.Vendor, Model: d.Model, Serial: d.Serial, BackingFile: d.BackingFile}
}

// identityPrefix starts the text form of an identity (its version).
const identityPrefix = "drive1."

// String is the identity as one command-line word (what `write
// --expect-drive PATH=ID` takes): a versioned, URL-safe base64 of its
// JSON, since vendors' strings may hold anything.
func (id Identity) String() string {
	b, _ := json.Marshal(id)
	return identityPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// maxIdentity caps the text form read back (a few hundred bytes in
// practice).
const maxIdentity = 4096

// ParseIdentity reads what Identity.String wrote.
func ParseIdentity(s string) (Identity, error) {
	var id Identity
	rest, ok := strings.CutPrefix(s, identityPrefix)
	if !ok || len(s) > maxIdentity {
		return id, fmt.Errorf("drive identity %q: not one isofsd made (want %s…)", s, identityPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return id, fmt.Errorf("drive identity %q: %w", s, err)
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("drive identity %q: %w", s, err)
	}
	return id, nil
}

// Mismatch says how now differs from id, as "it is now …, was …", or
// returns "" when it is the same drive.
func (id Identity) Mismatch(now Identity) string {
	switch {
	case now.Num != id.Num:
		return fmt.Sprintf("it is now device %s, was %s", now.Num, id.Num)
	case now.Size != id.Size:
		return fmt.Sprintf("its size is now %d bytes, was %d", now.Size, id.Size)
	case now.Vendor != id.Vendor || now.Model != id.Model || now.Serial != id.Serial:
		return fmt.Sprintf("it now reports %q %q serial %q, was %q %q serial %q", now.Vendor, now.Model, now.Serial, id.Vendor, id.Model, id.Serial)
	case now.BackingFile != id.BackingFile:
		return fmt.Sprintf("it is now backed by %q, was %q", now.BackingFile, id.BackingFile)
	}
	return ""
}
