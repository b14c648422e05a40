package writer

import (
	"bytes"
	"fmt"
	"os"

	"github.com/isofsd/isofsd/internal/diskio"
)

// sink is where one target's bytes go. The engine writes and reads it at
// block-aligned offsets from aligned buffers; tests wrap it to inject faults.
type sink interface {
	WriteAt(p []byte, off int64) (int, error)
	ReadAt(p []byte, off int64) (int, error)
	// Sync pushes written data to the medium (fdatasync).
	Sync() error
	// DropCache evicts cached pages so that reads come from the medium.
	DropCache()
	// Direct reports whether I/O bypasses the page cache; then offsets
	// and lengths must be multiples of BlockSize.
	Direct() bool
	// BlockSize is the logical block size (the unit of direct I/O).
	BlockSize() int
	// Truncate sets a file target's final size; devices ignore it.
	Truncate(size int64) error
	Close() error
}

// osSink is a target opened through the operating system.
type osSink struct {
	f      *os.File
	direct bool
	lbs    int
	isDev  bool
}

func (s *osSink) WriteAt(p []byte, off int64) (int, error) { return s.f.WriteAt(p, off) }
func (s *osSink) ReadAt(p []byte, off int64) (int, error)  { return s.f.ReadAt(p, off) }
func (s *osSink) Direct() bool                             { return s.direct }
func (s *osSink) BlockSize() int                           { return s.lbs }
func (s *osSink) Close() error                             { return s.f.Close() }
func (s *osSink) Truncate(size int64) error {
	if s.isDev {
		return nil
	}
	return s.f.Truncate(size)
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

func roundUp64(n, m int64) int64 { return (n + m - 1) / m * m }

// zeroPage is compared against to find all-zero blocks.
var zeroPage = make([]byte, 64<<10)

// allZero reports whether b holds only zeros; it stops at the first
// 64 KiB piece that does not, so data blocks cost almost nothing.
func allZero(b []byte) bool {
	for len(b) > 0 {
		k := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:k], zeroPage[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

func checkBlockSize(bs, lbs int) error {
	if bs <= 0 || bs%diskio.Align != 0 || bs%lbs != 0 {
		return fmt.Errorf("block size %d: want a positive multiple of %d and of the device block size %d", bs, diskio.Align, lbs)
	}
	if bs > maxBlockSize {
		return fmt.Errorf("block size %d: at most %d", bs, maxBlockSize)
	}
	return nil
}

// maxBlockSize caps --bs: several buffers of this size are in flight.
const maxBlockSize = 256 << 20
