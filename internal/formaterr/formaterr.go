// Package formaterr is the error type the readers of on-disk formats outside
// isofmt (fatfs, wim) report damage with: which format, which structure, and
// at which byte, wrapping a sentinel the caller branches on with errors.Is.
// isofmt keeps its own (core.FormatError) because its message also names the
// 2 KiB sector, which is how ISO tools address an image.
package formaterr

import "fmt"

// Error names the structure of a format that failed and its byte offset.
type Error struct {
	Format    string // package-style prefix, e.g. "fatfs", "wim"
	Structure string // e.g. "boot sector", "blob table entry 3"
	Offset    int64  // -1 when unknown
	Err       error
}

func (e *Error) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("%s: %s at byte %d: %v", e.Format, e.Structure, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Format, e.Structure, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error whose Err wraps sentinel with a formatted detail.
func Errorf(format, structure string, off int64, sentinel error, detail string, args ...any) error {
	return &Error{Format: format, Structure: structure, Offset: off, Err: fmt.Errorf("%w: "+detail, append([]any{sentinel}, args...)...)}
}
