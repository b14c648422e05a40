package writer

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/isofsd/isofsd/internal/diskio"
)

// Compression is the container format a source was recognised as.
type Compression string

// Compressions recognised by their magic bytes.
const (
	CompressionNone  Compression = ""
	CompressionGzip  Compression = "gzip"
	CompressionBzip2 Compression = "bzip2"
	CompressionXz    Compression = "xz"
	CompressionZstd  Compression = "zstd"
)

// magics maps leading bytes to compression formats. The content decides,
// not the file name: browsers sometimes decompress a download but keep its
// ".gz" name, and a renamed file must not be written compressed.
var magics = []struct {
	magic []byte
	c     Compression
}{
	{[]byte{0x1f, 0x8b}, CompressionGzip},
	{[]byte("BZh"), CompressionBzip2},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, CompressionXz},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, CompressionZstd},
}

// DetectCompression names the format whose magic starts head.
func DetectCompression(head []byte) Compression {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return CompressionNone
}

// extCompression names the format a file name suggests.
func extCompression(name string) Compression {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".gz", ".gzip":
		return CompressionGzip
	case ".bz2":
		return CompressionBzip2
	case ".xz":
		return CompressionXz
	case ".zst", ".zstd":
		return CompressionZstd
	}
	return CompressionNone
}

// inspectPrefix is how much of a stream (stdin, compressed file) is held
// in memory so that the image can be inspected before anything is written.
// Directory structures of installation media sit near the start.
const inspectPrefix = 32 << 20

// Source is the image to write.
type Source struct {
	// Name is the path given, or "-" for stdin.
	Name string
	// Compression is how the input is compressed.
	Compression Compression
	// Size is the number of image bytes, or -1 when unknown until the
	// stream ends (stdin, compressed input).
	Size int64
	// InputSize is the size of the input file (compressed bytes), or -1.
	InputSize int64
	// Warnings collects notes about the input (e.g. a misleading name).
	Warnings []string

	file     *os.File      // the input file, nil for stdin
	ra       io.ReaderAt   // random access to image bytes; nil for streams
	stream   io.Reader     // the image bytes from offset 0
	prefix   []byte        // buffered head of a stream, for inspection
	consumed *atomic.Int64 // input bytes read so far
	closers  []io.Closer
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// OpenSource opens name ("-" for stdin, read from stdin) and recognises
// compression by magic bytes.
func OpenSource(name string, stdin io.Reader) (*Source, error) {
	s := &Source{Name: name, Size: -1, InputSize: -1, consumed: new(atomic.Int64)}
	var in io.Reader
	if name == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		in = stdin
	} else {
		// Only files and block devices: a FIFO or /dev/zero would be
		// written without end.
		fin, err := diskio.OpenInput(name)
		if err != nil {
			return nil, err
		}
		s.file, s.InputSize = fin.File, fin.Size
		s.closers = append(s.closers, fin.File)
		in = fin.File
	}
	br := bufio.NewReaderSize(countingReader{in, s.consumed}, 1<<20)
	head, err := br.Peek(8)
	if err != nil && !errors.Is(err, io.EOF) {
		s.Close()
		return nil, fmt.Errorf("%s: reading: %w", name, err)
	}
	s.Compression = DetectCompression(head)
	if ext := extCompression(name); ext != CompressionNone && ext != s.Compression {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s: the name suggests %s but the content is not %s-compressed; writing it as it is", name, ext, ext))
	}
	switch s.Compression {
	case CompressionNone:
		if s.file != nil {
			// Plain file or device: random access for inspection and for
			// locating a verify mismatch to the byte.
			s.ra, s.Size = s.file, s.InputSize
			// Read the file directly: through the bufio.Reader, pieces
			// smaller than its buffer would be copied twice.
			if _, err := s.file.Seek(0, io.SeekStart); err != nil {
				s.Close()
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			s.consumed.Store(0)
			s.stream = countingReader{s.file, s.consumed}
			return s, nil
		}
		s.stream = br
	case CompressionGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: gzip: %w", name, err)
		}
		s.closers = append(s.closers, zr)
		s.stream = zr
	case CompressionBzip2:
		s.stream = bzip2.NewReader(br)
	case CompressionXz:
		xr, err := xz.NewReader(br)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: xz: %w", name, err)
		}
		s.stream = xr
	case CompressionZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<31))
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("%s: zstd: %w", name, err)
		}
		s.closers = append(s.closers, closerFunc(func() error { zr.Close(); return nil }))
		s.stream = zr
	}
	// A stream: hold its head for inspection, then replay it.
	s.prefix = make([]byte, inspectPrefix)
	n, err := io.ReadFull(s.stream, s.prefix)
	s.prefix = s.prefix[:n]
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.Size = int64(n) // the whole image fit in the prefix
		s.stream = bytes.NewReader(s.prefix)
	case err != nil:
		s.Close()
		return nil, fmt.Errorf("%s: reading %s stream: %w", name, orRaw(s.Compression), err)
	default:
		s.stream = io.MultiReader(bytes.NewReader(s.prefix), s.stream)
	}
	return s, nil
}

func orRaw(c Compression) string {
	if c == CompressionNone {
		return "raw"
	}
	return string(c)
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// Consumed is the number of input bytes (compressed, for compressed
// sources) read so far; progress uses it when Size is unknown.
func (s *Source) Consumed() int64 { return s.consumed.Load() }

// Seekable reports whether the image bytes can be re-read at random
// offsets (plain files and devices).
func (s *Source) Seekable() bool { return s.ra != nil }

// Close releases the input.
func (s *Source) Close() error {
	var first error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	s.closers = nil
	return first
}

// fillPiece is the unit fill reads (and hands to the checksum) at a time:
// small enough that the checksum finds the piece in the CPU cache right
// after the copy, large enough that the extra read calls cost nothing
// (whole blocks checksummed after reading were slower: docs/benchmarks.md).
const fillPiece = 256 << 10

// fill reads the next image bytes (up to bs of them) into c's own aligned
// buffer and passes each piece read, in order, to piece (if not nil). It
// returns io.EOF, or io.ErrUnexpectedEOF with n > 0, at the end of the
// image.
//
// Plain reads, not a mapping of the source: page faults cost what the
// copy saves (docs/benchmarks.md), and a mapped file that shrinks turns
// into SIGBUS.
func (s *Source) fill(c *chunk, bs int, piece func([]byte)) (int, error) {
	if c.own == nil {
		c.own = diskio.AlignedBuffer(bs)
	}
	c.buf = c.own[:bs]
	n := 0
	for n < bs {
		m, err := io.ReadFull(s.stream, c.buf[n:min(n+fillPiece, bs)])
		if m > 0 && piece != nil {
			piece(c.buf[n : n+m])
		}
		n += m
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || (errors.Is(err, io.EOF) && n > 0) {
				return n, io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}
