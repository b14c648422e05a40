//go:build !linux

package burn

import (
	"io"
	"os"
)

// openReadback opens a drive's device (/dev/rdiskN, \\.\E:) for reading
// the disc back. Reads are sector-aligned, as raw devices require.
func openReadback(path string) (io.ReaderAt, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f, nil
}
