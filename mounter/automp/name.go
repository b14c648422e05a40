// Package automp makes the automatic mountpoints of `isofsd mount IMAGE`
// (given no MOUNTPOINT) and `isofsd open`, the way udisks does for
// removable media: a directory named after the volume label under
// /media/USER when the user may create one there, else under
// $XDG_RUNTIME_DIR/isofsd.
//
// The label comes from the image, so it is hostile input: Name turns any
// label into one harmless path element. The directory is created with
// mkdirat relative to a parent opened without following a symlink in the
// part of the path a user can write, and the parent's owner and mode are
// checked first; Remove deletes it again only while it is still the empty
// directory Create made (same device and inode, reached the same way).
// The empty directory a crashed mount left is reused (see Create for the
// rule), under a lock that keeps concurrent mounts of one label apart.
package automp

import (
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxName caps a mountpoint name in bytes, before a "-N" suffix: long
// enough for any real volume label (ISO 9660 allows 32 characters, UDF
// 126), far below NAME_MAX (255) with the suffix added.
const MaxName = 64

// DefaultName is used when neither the label nor the image's file name
// leaves anything usable.
const DefaultName = "image"

// Name returns the mountpoint name for an image: its sanitized volume
// label, else its sanitized file name without the extension, else
// DefaultName.
func Name(label, imagePath string) string {
	if n := Sanitize(label); n != "" {
		return n
	}
	base := filepath.Base(imagePath)
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	if n := Sanitize(base); n != "" && imagePath != "" {
		return n
	}
	return DefaultName
}

// Sanitize makes label one path element that shows well in a file
// manager, or "" when nothing usable is left:
//   - invalid UTF-8, control characters (C0, DEL, C1), invisible format
//     characters (bidirectional overrides, zero-width joiners) and "/"
//     become "_", other blanks a space;
//   - blanks at either end are trimmed, and a label with nothing else
//     left gives "";
//   - a leading "." becomes "_", so that no name is ".", ".." or hidden
//     (GIO does not show mounts whose path has a dot component);
//   - the result is cut to MaxName bytes on a character boundary.
func Sanitize(label string) string {
	var b strings.Builder
	visible := false
	for i := 0; i < len(label); {
		r, size := utf8.DecodeRuneInString(label[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1, r == '/', r < 0x20, r >= 0x7f && r < 0xa0,
			unicode.Is(unicode.Cf, r), r == 0xfffe || r == 0xffff:
			b.WriteByte('_')
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
			visible = true
		}
	}
	if !visible {
		// Nothing but replacements: a name like "___" says nothing
		// about the image; let the caller fall back to its file name.
		return ""
	}
	s := strings.TrimSpace(b.String())
	if strings.HasPrefix(s, ".") {
		s = "_" + s[1:]
	}
	if len(s) > MaxName {
		cut := MaxName
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = strings.TrimSpace(s[:cut])
	}
	return s
}
