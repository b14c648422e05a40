package wim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/isofsd/isofsd/internal/formaterr"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNotWIM means the file does not start with a WIM header.
	ErrNotWIM = errors.New("wim: not a WIM file")
	// ErrCorrupt means a structure is damaged or inconsistent.
	ErrCorrupt = errors.New("wim: corrupt WIM")
	// ErrUnsupported means a valid WIM uses something this package does
	// not handle (solid resources in a split, a compressed blob table,
	// pipable WIMs, a WIM that is already split).
	ErrUnsupported = errors.New("wim: unsupported")
)

// FormatError names the structure that failed and its byte offset.
type FormatError = formaterr.Error

func errorf(structure string, off int64, sentinel error, format string, args ...any) error {
	return formaterr.Errorf("wim", structure, off, sentinel, format, args...)
}

// HeaderSize is the size of the on-disk WIM header.
const HeaderSize = 208

var (
	magicWIM = [8]byte{'M', 'S', 'W', 'I', 'M', 0, 0, 0}
	// magicPipable marks wimlib's pipable WIMs, whose resources are laid
	// out for streaming; they are not what Windows media carry.
	magicPipable = [8]byte{'W', 'L', 'P', 'W', 'M', 0, 0, 0}
)

// Header flags (WIM_HDR_FLAG_*).
const (
	FlagCompression     = 0x00000002
	FlagReadOnly        = 0x00000004
	FlagSpanned         = 0x00000008
	FlagResourceOnly    = 0x00000010
	FlagMetadataOnly    = 0x00000020
	FlagWriteInProgress = 0x00000040
	FlagRPFix           = 0x00000080
	FlagCompressXpress  = 0x00020000
	FlagCompressLZX     = 0x00040000
	FlagCompressLZMS    = 0x00080000
	FlagCompressXpress2 = 0x00200000

	compressionFlags = FlagCompression | FlagCompressXpress | FlagCompressLZX | FlagCompressLZMS | FlagCompressXpress2
)

// Resource header flags (WIM_RESHDR_FLAG_*).
const (
	ResFree       = 0x01
	ResMetadata   = 0x02
	ResCompressed = 0x04
	ResSpanned    = 0x08
	ResSolid      = 0x10
)

// Resource locates one resource: StoredSize bytes at Offset in the file,
// OriginalSize bytes once decompressed.
type Resource struct {
	StoredSize   int64 `json:"stored_size"` // 56 bits on disk
	Flags        uint8 `json:"flags"`
	Offset       int64 `json:"offset"`
	OriginalSize int64 `json:"original_size"`
}

// End is the byte just past the stored resource.
func (r Resource) End() int64 { return r.Offset + r.StoredSize }

// IsZero reports an absent resource (all fields zero).
func (r Resource) IsZero() bool { return r == Resource{} }

const resourceSize = 24

func parseResource(b []byte) Resource {
	v := binary.LittleEndian.Uint64(b[0:8])
	return Resource{
		StoredSize:   int64(v & (1<<56 - 1)),
		Flags:        uint8(v >> 56),
		Offset:       int64(binary.LittleEndian.Uint64(b[8:16])),
		OriginalSize: int64(binary.LittleEndian.Uint64(b[16:24])),
	}
}

func (r Resource) put(b []byte) {
	binary.LittleEndian.PutUint64(b[0:8], uint64(r.StoredSize)&(1<<56-1)|uint64(r.Flags)<<56)
	binary.LittleEndian.PutUint64(b[8:16], uint64(r.Offset))
	binary.LittleEndian.PutUint64(b[16:24], uint64(r.OriginalSize))
}

// Header is the WIM header (WIMHEADER_V1_PACKED).
type Header struct {
	Version    uint32   `json:"version"`
	Flags      uint32   `json:"flags"`
	ChunkSize  uint32   `json:"chunk_size"`
	GUID       [16]byte `json:"guid"`
	PartNumber uint16   `json:"part_number"`
	TotalParts uint16   `json:"total_parts"`
	ImageCount uint32   `json:"image_count"`
	BlobTable  Resource `json:"blob_table"`
	XML        Resource `json:"xml"`
	// BootMetadata repeats the metadata resource of image BootIndex.
	BootMetadata Resource `json:"boot_metadata"`
	BootIndex    uint32   `json:"boot_index"`
	Integrity    Resource `json:"integrity"`
}

// Versions seen in the wild: 1.13 for ordinary WIMs, 1.14 (0xE00) for
// solid (LZMS, ESD) ones, and the older 1.11 of early Vista betas.
const (
	VersionDefault = 0x10d00
	VersionSolid   = 0xe00
	versionOld     = 0x10b00
)

// Maximum image count: Windows media carry a dozen editions; a header that
// claims millions is hostile.
const MaxImages = 1 << 16

// ParseHeader decodes and checks the first HeaderSize bytes of a WIM
// that is size bytes long.
func ParseHeader(b []byte, size int64) (*Header, error) {
	if len(b) < HeaderSize {
		return nil, errorf("header", 0, ErrNotWIM, "%d bytes, want %d", len(b), HeaderSize)
	}
	var magic [8]byte
	copy(magic[:], b)
	if magic == magicPipable {
		return nil, errorf("header", 0, ErrUnsupported, "pipable WIM (wimlib --pipable); convert it with wimlib-imagex optimize --not-pipable")
	}
	if magic != magicWIM {
		return nil, errorf("header", 0, ErrNotWIM, "no MSWIM magic")
	}
	if hs := binary.LittleEndian.Uint32(b[8:]); hs != HeaderSize {
		return nil, errorf("header", 8, ErrCorrupt, "header size %d, want %d", hs, HeaderSize)
	}
	h := &Header{
		Version:      binary.LittleEndian.Uint32(b[12:]),
		Flags:        binary.LittleEndian.Uint32(b[16:]),
		ChunkSize:    binary.LittleEndian.Uint32(b[20:]),
		PartNumber:   binary.LittleEndian.Uint16(b[40:]),
		TotalParts:   binary.LittleEndian.Uint16(b[42:]),
		ImageCount:   binary.LittleEndian.Uint32(b[44:]),
		BlobTable:    parseResource(b[48:]),
		XML:          parseResource(b[72:]),
		BootMetadata: parseResource(b[96:]),
		BootIndex:    binary.LittleEndian.Uint32(b[120:]),
		Integrity:    parseResource(b[124:]),
	}
	copy(h.GUID[:], b[24:40])
	switch {
	case h.Version != VersionDefault && h.Version != VersionSolid && h.Version != versionOld:
		return nil, errorf("header", 12, ErrUnsupported, "version %#x", h.Version)
	case h.TotalParts == 0 || h.PartNumber == 0 || h.PartNumber > h.TotalParts:
		return nil, errorf("header", 40, ErrCorrupt, "part %d of %d", h.PartNumber, h.TotalParts)
	case h.ImageCount > MaxImages:
		return nil, errorf("header", 44, ErrCorrupt, "%d images (at most %d)", h.ImageCount, MaxImages)
	case h.BootIndex > h.ImageCount:
		return nil, errorf("header", 120, ErrCorrupt, "boot index %d of %d images", h.BootIndex, h.ImageCount)
	case h.Flags&FlagCompression != 0 && (h.ChunkSize == 0 || h.ChunkSize&(h.ChunkSize-1) != 0 || h.ChunkSize > 1<<26):
		return nil, errorf("header", 20, ErrCorrupt, "chunk size %d", h.ChunkSize)
	}
	for _, r := range []struct {
		name string
		off  int64
		res  Resource
	}{{"blob table", 48, h.BlobTable}, {"XML data", 72, h.XML}, {"boot metadata", 96, h.BootMetadata}, {"integrity table", 124, h.Integrity}} {
		if err := checkResource(r.res, size); err != nil {
			return nil, errorf("header: "+r.name+" resource", r.off, ErrCorrupt, "%v", err)
		}
	}
	return h, nil
}

// checkResource checks that r lies inside a file of size bytes, after
// the header (an absent resource is all zeros).
func checkResource(r Resource, size int64) error {
	if r.IsZero() {
		return nil
	}
	if r.Offset < HeaderSize || r.StoredSize < 0 || r.Offset > size || r.StoredSize > size-r.Offset {
		return fmt.Errorf("%d bytes at byte %d lie outside the %d-byte file", r.StoredSize, r.Offset, size)
	}
	if r.OriginalSize < 0 {
		return fmt.Errorf("original size %d", r.OriginalSize)
	}
	return nil
}

// Bytes encodes h as the on-disk header.
func (h *Header) Bytes() []byte {
	b := make([]byte, HeaderSize)
	copy(b, magicWIM[:])
	binary.LittleEndian.PutUint32(b[8:], HeaderSize)
	binary.LittleEndian.PutUint32(b[12:], h.Version)
	binary.LittleEndian.PutUint32(b[16:], h.Flags)
	binary.LittleEndian.PutUint32(b[20:], h.ChunkSize)
	copy(b[24:40], h.GUID[:])
	binary.LittleEndian.PutUint16(b[40:], h.PartNumber)
	binary.LittleEndian.PutUint16(b[42:], h.TotalParts)
	binary.LittleEndian.PutUint32(b[44:], h.ImageCount)
	h.BlobTable.put(b[48:])
	h.XML.put(b[72:])
	h.BootMetadata.put(b[96:])
	binary.LittleEndian.PutUint32(b[120:], h.BootIndex)
	h.Integrity.put(b[124:])
	return b
}

// Compression names the compression the header announces.
func (h *Header) Compression() string {
	switch {
	case h.Flags&FlagCompression == 0:
		return "none"
	case h.Flags&FlagCompressLZX != 0:
		return "LZX"
	case h.Flags&FlagCompressXpress != 0:
		return "XPRESS"
	case h.Flags&FlagCompressLZMS != 0:
		return "LZMS"
	case h.Flags&FlagCompressXpress2 != 0:
		return "XPRESS2"
	}
	return "unknown"
}

// GUIDString formats the GUID as wimlib-imagex info does (hex bytes).
func (h *Header) GUIDString() string { return fmt.Sprintf("%x", h.GUID[:]) }

// readFull reads len(b) bytes at off, turning a short read into an error
// that names what was being read.
func readFull(r io.ReaderAt, b []byte, off int64, what string) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &FormatError{Structure: what, Offset: off, Err: err}
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool { return len(bytes.TrimLeft(b, "\x00")) == 0 }
