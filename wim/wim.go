package wim

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"sync"
)

// Blob is one entry of the blob table: a resource and what the WIM knows
// about it.
type Blob struct {
	Resource
	PartNumber uint16   `json:"part_number"`
	RefCount   uint32   `json:"ref_count"`
	Hash       [20]byte `json:"sha1"`
}

// IsMetadata reports a metadata resource (an image's directory tree).
func (b *Blob) IsMetadata() bool { return b.Flags&ResMetadata != 0 }

const blobEntrySize = 50

// Limits on what a WIM may make this package allocate or do.
const (
	// MaxBlobs caps the blob table: Windows 11's install.wim lists about
	// 100 000 blobs per edition set; 4 Mi entries is 200 MiB of table.
	MaxBlobs = 4 << 20
	// MaxXMLSize caps the XML data read (Windows media carry tens of KiB).
	MaxXMLSize = 16 << 20
)

// WIM is an opened WIM file. It is safe for concurrent use.
type WIM struct {
	r      io.ReaderAt
	size   int64
	Header *Header

	blobsOnce sync.Once
	blobs     []Blob
	blobsErr  error

	xmlOnce sync.Once
	xml     []byte
	xmlErr  error
}

// Open reads the header of the WIM in r (size bytes). The blob table and
// the XML are read on first use.
func Open(r io.ReaderAt, size int64) (*WIM, error) {
	if size < HeaderSize {
		return nil, errorf("header", 0, ErrNotWIM, "file is %d bytes, shorter than a WIM header", size)
	}
	b := make([]byte, HeaderSize)
	if err := readFull(r, b, 0, "header"); err != nil {
		return nil, err
	}
	h, err := ParseHeader(b, size)
	if err != nil {
		return nil, err
	}
	return &WIM{r: r, size: size, Header: h}, nil
}

// Size is the file size the WIM was opened with.
func (w *WIM) Size() int64 { return w.size }

// ReaderAt is the WIM's bytes.
func (w *WIM) ReaderAt() io.ReaderAt { return w.r }

// Blobs returns the blob table, in on-disk order. Entries are checked
// against the file: every resource lies inside it, part numbers are
// within the set, and sizes are sane.
func (w *WIM) Blobs() ([]Blob, error) {
	w.blobsOnce.Do(func() { w.blobs, w.blobsErr = w.readBlobs() })
	return w.blobs, w.blobsErr
}

func (w *WIM) readBlobs() ([]Blob, error) {
	t := w.Header.BlobTable
	if t.IsZero() {
		return nil, nil
	}
	if t.Flags&ResCompressed != 0 {
		return nil, errorf("blob table", t.Offset, ErrUnsupported, "compressed blob table")
	}
	if t.StoredSize != t.OriginalSize {
		return nil, errorf("blob table", t.Offset, ErrCorrupt, "stored size %d differs from size %d in an uncompressed table", t.StoredSize, t.OriginalSize)
	}
	if t.StoredSize%blobEntrySize != 0 {
		return nil, errorf("blob table", t.Offset, ErrCorrupt, "size %d is not a multiple of %d", t.StoredSize, blobEntrySize)
	}
	n := t.StoredSize / blobEntrySize
	if n > MaxBlobs {
		return nil, errorf("blob table", t.Offset, ErrCorrupt, "%d entries (at most %d)", n, MaxBlobs)
	}
	// The table lies inside the file (ParseHeader checked it), so its
	// size is backed by real bytes; read it in pieces all the same.
	out := make([]Blob, 0, min(n, 1<<16))
	buf := make([]byte, 64<<10/blobEntrySize*blobEntrySize)
	for off := int64(0); off < t.StoredSize; {
		m := min(int64(len(buf)), t.StoredSize-off)
		if err := readFull(w.r, buf[:m], t.Offset+off, "blob table"); err != nil {
			return nil, err
		}
		for i := int64(0); i < m; i += blobEntrySize {
			e := buf[i : i+blobEntrySize]
			b := Blob{
				Resource:   parseResource(e),
				PartNumber: binary.LittleEndian.Uint16(e[24:]),
				RefCount:   binary.LittleEndian.Uint32(e[26:]),
			}
			copy(b.Hash[:], e[30:50])
			at := t.Offset + off + i
			if b.PartNumber == 0 || b.PartNumber > w.Header.TotalParts {
				return nil, errorf("blob table entry", at, ErrCorrupt, "part number %d of a %d-part set", b.PartNumber, w.Header.TotalParts)
			}
			// Resources of other parts live in other files: only this
			// part's can be checked against this file's size.
			if b.PartNumber == w.Header.PartNumber && b.Flags&ResSolid == 0 {
				if err := checkResource(b.Resource, w.size); err != nil {
					return nil, errorf("blob table entry", at, ErrCorrupt, "%v", err)
				}
			}
			if b.Flags&ResCompressed == 0 && b.Flags&ResSolid == 0 && b.StoredSize != b.OriginalSize {
				return nil, errorf("blob table entry", at, ErrCorrupt, "uncompressed resource of %d bytes stored in %d", b.OriginalSize, b.StoredSize)
			}
			out = append(out, b)
		}
		off += m
	}
	return out, nil
}

// Metadata returns the metadata resources in image order (the order of
// the blob table, which is the image order).
func (w *WIM) Metadata() ([]Blob, error) {
	blobs, err := w.Blobs()
	if err != nil {
		return nil, err
	}
	var md []Blob
	for _, b := range blobs {
		if b.IsMetadata() {
			md = append(md, b)
		}
	}
	return md, nil
}

// XMLData returns the raw XML resource (UTF-16LE with a byte-order mark).
func (w *WIM) XMLData() ([]byte, error) {
	w.xmlOnce.Do(func() { w.xml, w.xmlErr = w.readXML() })
	return w.xml, w.xmlErr
}

func (w *WIM) readXML() ([]byte, error) {
	x := w.Header.XML
	if x.IsZero() {
		return nil, errorf("XML data", -1, ErrCorrupt, "the header names no XML data")
	}
	if x.Flags&ResCompressed != 0 {
		return nil, errorf("XML data", x.Offset, ErrUnsupported, "compressed XML data")
	}
	if x.StoredSize > MaxXMLSize {
		return nil, errorf("XML data", x.Offset, ErrUnsupported, "%d bytes (at most %d)", x.StoredSize, MaxXMLSize)
	}
	b := make([]byte, x.StoredSize)
	if err := readFull(w.r, b, x.Offset, "XML data"); err != nil {
		return nil, err
	}
	return b, nil
}

// checkLayout verifies that the resources this part holds do not
// overlap one another or the header: a split copies them by their
// recorded ranges, and overlapping ranges mean a damaged or hostile file.
func (w *WIM) checkLayout(blobs []Blob) error {
	type span struct {
		off, end int64
		what     string
	}
	spans := make([]span, 0, len(blobs)+3)
	for i := range blobs {
		b := &blobs[i]
		if b.PartNumber != w.Header.PartNumber || b.StoredSize == 0 {
			continue
		}
		spans = append(spans, span{b.Offset, b.End(), fmt.Sprintf("resource %x", b.Hash[:6])})
	}
	for _, r := range []struct {
		res  Resource
		what string
	}{{w.Header.BlobTable, "blob table"}, {w.Header.XML, "XML data"}, {w.Header.Integrity, "integrity table"}} {
		if !r.res.IsZero() && r.res.StoredSize > 0 {
			spans = append(spans, span{r.res.Offset, r.res.End(), r.what})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			return errorf("resources", spans[i].off, ErrCorrupt, "%s (bytes %d-%d) overlaps %s (bytes %d-%d)",
				spans[i].what, spans[i].off, spans[i].end-1, spans[i-1].what, spans[i-1].off, spans[i-1].end-1)
		}
	}
	return nil
}
