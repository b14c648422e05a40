//go:build !unix

package diskio

// syncDir does nothing here: Windows cannot open a directory for
// FlushFileBuffers, and MoveFileEx (os.Rename) with write-through is what
// its file systems journal.
func syncDir(string) error { return nil }
