package fatfs

import (
	"errors"
	"fmt"
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
type FormatError struct {
	Structure string
	Offset    int64 // -1 when unknown
	Err       error
}

func (e *FormatError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("fatfs: %s at byte %d: %v", e.Structure, e.Offset, e.Err)
	}
	return fmt.Sprintf("fatfs: %s: %v", e.Structure, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

func errorf(structure string, off int64, sentinel error, format string, args ...any) error {
	return &FormatError{Structure: structure, Offset: off, Err: fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)}
}
