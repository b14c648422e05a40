package burn

import (
	"io"

	"github.com/isofsd/isofsd/recover"
)

// openReadback opens a drive's device for reading the disc back, with
// O_DIRECT where the device allows it, so that what is compared comes
// from the disc and not from the page cache.
func openReadback(path string) (io.ReaderAt, io.Closer, error) {
	s, err := recover.OpenSource(path)
	if err != nil {
		return nil, nil, err
	}
	return s, s, nil
}
