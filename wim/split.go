package wim

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"
)

// Part sizes.
const (
	// FAT32MaxFile is the largest file FAT32 can hold.
	FAT32MaxFile = 4<<30 - 1
	// DefaultPartSize is the part size Microsoft advises for FAT32 media
	// (DISM /Split-Image /FileSize:3800): well under FAT32's limit.
	DefaultPartSize = 3800 << 20
	// integrityChunk is the span each integrity-table hash covers, as
	// wimlib and imagex write it.
	integrityChunk = 10 << 20
	// maxParts is what the 16-bit part number can count.
	maxParts = 1<<16 - 1
)

// Split is a plan for cutting a WIM into a spanned set. Its parts are
// produced on demand by Part.Open.
type Split struct {
	Parts []*Part
	// Duplicates counts blob table entries dropped because an earlier one
	// has the same hash (wimlib drops them the same way when reading).
	Duplicates int
}

// Part is one file of a split set.
type Part struct {
	// Number is the part number, from 1.
	Number int
	// Size is the exact size of the part file.
	Size int64
	// Header is the part's header.
	Header Header
	// Blobs are the part's blob table entries as written.
	Blobs []Blob

	w       *WIM
	pieces  []piece
	tableAt int64 // where the blob table ends: the integrity table covers [HeaderSize, tableAt)
}

// piece is one run of a part: literal bytes, a range of the source WIM,
// or the integrity table (computed while the part is read).
type piece struct {
	data      []byte
	src, n    int64
	integrity bool
}

func (p piece) size() int64 {
	if p.data != nil {
		return int64(len(p.data))
	}
	return p.n
}

// PartName names part n of a set whose first part is first, the way
// Windows Setup looks for them: install.swm, install2.swm, install3.swm…
func PartName(first string, n int) string {
	if n <= 1 {
		return first
	}
	ext := path.Ext(first)
	return strings.TrimSuffix(first, ext) + fmt.Sprint(n) + ext
}

// integritySize is the size of an integrity table covering n bytes.
func integritySize(n int64) int64 {
	return 12 + 20*((n+integrityChunk-1)/integrityChunk)
}

// Split plans cutting w into parts of at most maxPart bytes each (the
// whole part file: header, resources, blob table, XML and integrity
// table). Metadata resources go to part 1; file resources follow in the
// order of their offsets in w, a new part starting when the next one
// would not fit. A resource too large for any part is an error naming it.
func (w *WIM) Split(maxPart int64) (*Split, error) {
	h := w.Header
	switch {
	case h.TotalParts != 1:
		return nil, errorf("header", 40, ErrUnsupported, "the WIM is already part %d of a %d-part set", h.PartNumber, h.TotalParts)
	case h.Flags&(FlagResourceOnly|FlagMetadataOnly) != 0:
		return nil, errorf("header", 16, ErrUnsupported, "resource-only or metadata-only WIM (flags %#x)", h.Flags)
	case h.Flags&FlagWriteInProgress != 0:
		return nil, errorf("header", 16, ErrCorrupt, "the WIM was not finished (write-in-progress flag set)")
	case maxPart < HeaderSize+blobEntrySize:
		return nil, fmt.Errorf("wim: part size %d is too small", maxPart)
	}
	all, err := w.Blobs()
	if err != nil {
		return nil, err
	}
	sp := &Split{}
	seen := make(map[[20]byte]bool, len(all))
	var meta, data []Blob
	for _, b := range all {
		if b.Flags&ResSolid != 0 {
			return nil, errorf("blob table", h.BlobTable.Offset, ErrUnsupported, "solid (LZMS/ESD) resources cannot be split, as in wimlib; export the image to a non-solid WIM first")
		}
		if b.IsMetadata() {
			meta = append(meta, b)
			continue
		}
		if seen[b.Hash] {
			sp.Duplicates++
			continue
		}
		seen[b.Hash] = true
		data = append(data, b)
	}
	if len(meta) != int(h.ImageCount) {
		return nil, errorf("blob table", h.BlobTable.Offset, ErrCorrupt, "%d metadata resources for %d images", len(meta), h.ImageCount)
	}
	if err := w.checkLayout(append(append([]Blob(nil), meta...), data...)); err != nil {
		return nil, err
	}
	// Stable by offset: the original order, which is the order of the
	// directory walk that wrote them, keeps reads sequential.
	sortBlobsByOffset(data)

	var metaBytes int64
	for _, m := range meta {
		metaBytes += m.StoredSize
	}
	xmlSize := h.XML.StoredSize
	withIntegrity := !h.Integrity.IsZero()
	sizeOf := func(first bool, n int, dataBytes int64) int64 {
		entries := int64(n)
		body := dataBytes
		if first {
			entries += int64(len(meta))
			body += metaBytes
		}
		covered := body + entries*blobEntrySize
		s := HeaderSize + covered + xmlSize
		if withIntegrity {
			s += integritySize(covered)
		}
		return s
	}

	type group struct {
		blobs []Blob
		bytes int64
	}
	groups := []*group{{}}
	for _, b := range data {
		cur := groups[len(groups)-1]
		first := len(groups) == 1
		empty := len(cur.blobs) == 0 && (!first || metaBytes == 0)
		if !empty && sizeOf(first, len(cur.blobs)+1, cur.bytes+b.StoredSize) > maxPart {
			if len(groups) == maxParts {
				return nil, fmt.Errorf("wim: more than %d parts of %d bytes would be needed", maxParts, maxPart)
			}
			cur = &group{}
			groups = append(groups, cur)
		}
		cur.blobs = append(cur.blobs, b)
		cur.bytes += b.StoredSize
	}
	total := len(groups)
	for i, g := range groups {
		first := i == 0
		if s := sizeOf(first, len(g.blobs), g.bytes); s > maxPart {
			why := largest(g.blobs, meta, first)
			if fixed := sizeOf(first, 0, 0) - metaBytesIf(first, metaBytes); fixed > maxPart/2 {
				why = fmt.Sprintf("its header, XML data and tables alone take %d bytes", fixed)
			}
			return nil, fmt.Errorf("wim: part %d would be %d bytes, more than %d: %s", i+1, s, maxPart, why)
		}
		var pm []Blob
		if first {
			pm = meta
		}
		sp.Parts = append(sp.Parts, w.layoutPart(i+1, total, g.blobs, pm, withIntegrity))
	}
	return sp, nil
}

func metaBytesIf(first bool, n int64) int64 {
	if first {
		return n
	}
	return 0
}

// largest describes the biggest resource of a part that does not fit.
func largest(data, meta []Blob, first bool) string {
	var big Blob
	what := "file resource"
	for _, b := range data {
		if b.StoredSize > big.StoredSize {
			big = b
		}
	}
	if first {
		for _, m := range meta {
			if m.StoredSize > big.StoredSize {
				big, what = m, "metadata resource"
			}
		}
	}
	return fmt.Sprintf("its largest %s (sha1 %x, %d bytes at byte %d) cannot be split further", what, big.Hash, big.StoredSize, big.Offset)
}

func sortBlobsByOffset(b []Blob) {
	// Stable: empty resources share an offset and keep table order.
	sort.SliceStable(b, func(i, j int) bool { return b[i].Offset < b[j].Offset })
}

// layoutPart places a part's resources and builds its header and tables.
func (w *WIM) layoutPart(n, total int, data, meta []Blob, withIntegrity bool) *Part {
	h := w.Header
	p := &Part{Number: n, w: w}
	off := int64(HeaderSize)
	p.pieces = append(p.pieces, piece{}) // the header, filled in below
	place := func(b Blob) Blob {
		out := b
		out.Offset = off
		out.PartNumber = uint16(n)
		p.pieces = append(p.pieces, piece{src: b.Offset, n: b.StoredSize})
		off += b.StoredSize
		return out
	}
	var placedData, placedMeta []Blob
	// As wimlib writes a part: file resources, then metadata resources.
	for _, b := range data {
		placedData = append(placedData, place(b))
	}
	for _, m := range meta {
		placedMeta = append(placedMeta, place(m))
	}
	// The blob table lists metadata first (in image order: that is how a
	// reader pairs them with images), then the rest by offset.
	p.Blobs = append(placedMeta, placedData...)
	table := make([]byte, len(p.Blobs)*blobEntrySize)
	for i, b := range p.Blobs {
		e := table[i*blobEntrySize:]
		b.Resource.put(e)
		binary.LittleEndian.PutUint16(e[24:], b.PartNumber)
		binary.LittleEndian.PutUint32(e[26:], b.RefCount)
		copy(e[30:50], b.Hash[:])
	}
	out := Header{
		Version:    h.Version,
		Flags:      h.Flags & (FlagRPFix | FlagReadOnly | compressionFlags),
		ChunkSize:  h.ChunkSize,
		GUID:       h.GUID,
		PartNumber: uint16(n),
		TotalParts: uint16(total),
		ImageCount: h.ImageCount,
	}
	if total != 1 {
		out.Flags |= FlagSpanned
	} else if h.BootIndex > 0 && int(h.BootIndex) <= len(placedMeta) {
		out.BootIndex = h.BootIndex
		out.BootMetadata = placedMeta[h.BootIndex-1].Resource
	}
	// Tables are uncompressed; wimlib and imagex flag them as metadata.
	out.BlobTable = Resource{StoredSize: int64(len(table)), Flags: ResMetadata, Offset: off, OriginalSize: int64(len(table))}
	p.pieces = append(p.pieces, piece{data: table})
	off += int64(len(table))
	p.tableAt = off
	out.XML = h.XML
	out.XML.Offset = off
	p.pieces = append(p.pieces, piece{src: h.XML.Offset, n: h.XML.StoredSize})
	off += h.XML.StoredSize
	if withIntegrity {
		size := integritySize(p.tableAt - HeaderSize)
		out.Integrity = Resource{StoredSize: size, Offset: off, OriginalSize: size}
		p.pieces = append(p.pieces, piece{n: size, integrity: true})
		off += size
	}
	p.Header = out
	p.pieces[0] = piece{data: out.Bytes()}
	p.Size = off
	return p
}

// Open returns a reader of the part's bytes. Resources are read from the
// source WIM straight into the caller's buffer.
func (p *Part) Open() io.Reader { return &partReader{p: p} }

// partReader produces a part sequentially.
type partReader struct {
	p   *Part
	i   int   // current piece
	in  int64 // offset inside the current piece
	pos int64 // offset in the part

	// The integrity table is the SHA-1 of every integrityChunk bytes of
	// [HeaderSize, tableAt), taken as those bytes go by.
	h     hash.Hash
	hn    int64
	sums  []byte
	table []byte
}

func (r *partReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if r.i >= len(r.p.pieces) {
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		}
		pc := r.p.pieces[r.i]
		left := pc.size() - r.in
		if left == 0 {
			r.i++
			r.in = 0
			continue
		}
		dst := b[n:min(int64(len(b)), int64(n)+left)]
		switch {
		case pc.data != nil:
			copy(dst, pc.data[r.in:])
		case pc.integrity:
			if r.table == nil {
				r.table = r.integrityTable()
			}
			copy(dst, r.table[r.in:])
		default:
			if err := readFull(r.p.w.r, dst, pc.src+r.in, "resource"); err != nil {
				return n, err
			}
		}
		if r.p.Header.Integrity.StoredSize > 0 {
			r.tap(dst)
		}
		r.in += int64(len(dst))
		r.pos += int64(len(dst))
		n += len(dst)
	}
	return n, nil
}

// tap feeds the bytes the integrity table covers to its hashes; b was
// just produced at r.pos.
func (r *partReader) tap(b []byte) {
	start, end := r.pos, r.pos+int64(len(b))
	lo, hi := max(start, HeaderSize), min(end, r.p.tableAt)
	if lo >= hi {
		return
	}
	b = b[lo-start : hi-start]
	if r.h == nil {
		r.h = sha1.New()
	}
	for len(b) > 0 {
		take := min(int64(len(b)), integrityChunk-r.hn)
		r.h.Write(b[:take])
		r.hn += take
		b = b[take:]
		if r.hn == integrityChunk {
			r.sums = r.h.Sum(r.sums)
			r.h.Reset()
			r.hn = 0
		}
	}
}

func (r *partReader) integrityTable() []byte {
	if r.hn > 0 {
		r.sums = r.h.Sum(r.sums)
		r.h.Reset()
		r.hn = 0
	}
	size := r.p.Header.Integrity.StoredSize
	t := make([]byte, size)
	binary.LittleEndian.PutUint32(t[0:], uint32(size))
	binary.LittleEndian.PutUint32(t[4:], uint32(len(r.sums)/20))
	binary.LittleEndian.PutUint32(t[8:], integrityChunk)
	copy(t[12:], r.sums)
	return t
}
