package fatfs

import (
	"errors"

	"github.com/isofsd/isofsd/internal/formaterr"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotFAT means no FAT boot sector was recognised.
	ErrNotFAT = errors.New("fatfs: not a FAT file system")
	// ErrCorrupt means a structure is damaged or inconsistent.
	ErrCorrupt = errors.New("fatfs: corrupt file system")
	// ErrLoop means a cluster chain or a directory comes back onto itself.
	ErrLoop = errors.New("fatfs: loop")
	// ErrLimit means a structure exceeds one of the package's caps.
	ErrLimit = errors.New("fatfs: limit exceeded")
)

// FormatError names the structure that failed and its byte offset.
type FormatError = formaterr.Error

func errorf(structure string, off int64, sentinel error, format string, args ...any) error {
	return formaterr.Errorf("fatfs", structure, off, sentinel, format, args...)
}
