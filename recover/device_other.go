//go:build !unix

package recover

// CheckOutputDevice cannot compare devices here; carving raw devices is
// only supported on Unix systems, so nothing is refused for image files.
func CheckOutputDevice(source, outdir string) error { return nil }
