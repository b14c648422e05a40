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

	"github.com/isofsd/isofsd/internal/safetext"
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
// manager, or "" when nothing usable is left: safetext.Name's rule (the
// one carve's output names follow too) with the MaxName cap — control and
// format characters, invalid UTF-8 and separators become "_", blanks at
// either end go, a leading "." becomes "_" (GIO does not show mounts
// whose path has a dot component).
func Sanitize(label string) string { return safetext.Name(label, MaxName) }
