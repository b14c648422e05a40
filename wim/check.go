package wim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// ErrMismatch is wrapped when a split set does not hold what the WIM it
// was made from holds.
var ErrMismatch = errors.New("wim: split set differs from the original")

// SplitCheck is what CheckSplit compared.
type SplitCheck struct {
	Parts     int   `json:"parts"`
	Resources int   `json:"resources"`
	Bytes     int64 `json:"bytes"`
	// SameGUID reports whether the parts carry the original's GUID (a
	// split by wimlib gets a new one; by this package, the original's).
	SameGUID bool `json:"same_guid"`
}

// maxMismatches caps the differences listed in one error.
const maxMismatches = 10

// CheckSplit checks that parts (in any order) are a complete split set
// of orig: one GUID, part numbers 1..N of N, the same images, and every
// resource of orig present in exactly one part with identical stored
// bytes and nothing else. Resource bytes are compared, not just hashes
// recorded in tables, so a part damaged on the medium is found.
func CheckSplit(orig *WIM, parts []*WIM) (*SplitCheck, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no parts", ErrMismatch)
	}
	res := &SplitCheck{Parts: len(parts)}
	var problems []string
	add := func(format string, args ...any) {
		if len(problems) < maxMismatches {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	byNum := make([]*WIM, len(parts)+1)
	guid := parts[0].Header.GUID
	res.SameGUID = guid == orig.Header.GUID
	for _, p := range parts {
		h := p.Header
		switch {
		case int(h.TotalParts) != len(parts):
			add("part %d says the set has %d parts, %d were given", h.PartNumber, h.TotalParts, len(parts))
		case byNum[h.PartNumber] != nil:
			add("part number %d appears twice", h.PartNumber)
		default:
			byNum[h.PartNumber] = p
		}
		if h.GUID != guid {
			add("part %d has GUID %x, part 1 has %x", h.PartNumber, h.GUID, guid)
		}
		if h.ImageCount != orig.Header.ImageCount {
			add("part %d says %d images, the original has %d", h.PartNumber, h.ImageCount, orig.Header.ImageCount)
		}
		if h.Flags&compressionFlags != orig.Header.Flags&compressionFlags || h.ChunkSize != orig.Header.ChunkSize && h.Flags&FlagCompression != 0 {
			add("part %d uses compression %s with %d-byte chunks, the original %s with %d", h.PartNumber, h.Compression(), h.ChunkSize, orig.Header.Compression(), orig.Header.ChunkSize)
		}
	}
	if len(problems) > 0 {
		return res, mismatch(problems)
	}
	// The images the XML describes must be the same (wimlib rewrites the
	// XML text, so its bytes may differ).
	want, err := orig.Images()
	if err != nil {
		return res, err
	}
	for _, p := range parts {
		got, err := p.Images()
		if err != nil {
			return res, fmt.Errorf("part %d: %w", p.Header.PartNumber, err)
		}
		if !slices.EqualFunc(want, got, func(a, b Image) bool {
			return a.Name == b.Name && a.Index == b.Index && a.TotalBytes == b.TotalBytes && a.FileCount == b.FileCount
		}) {
			add("part %d: the XML describes other images than the original's", p.Header.PartNumber)
		}
	}

	type loc struct {
		w *WIM
		b Blob
	}
	found := map[[20]byte]loc{}
	var metaParts []Blob
	for n := 1; n <= len(parts); n++ {
		p := byNum[n]
		blobs, err := p.Blobs()
		if err != nil {
			return res, fmt.Errorf("part %d: %w", n, err)
		}
		for _, b := range blobs {
			if b.PartNumber != uint16(n) {
				add("part %d lists a resource of part %d", n, b.PartNumber)
				continue
			}
			if b.IsMetadata() {
				if n != 1 {
					add("part %d holds a metadata resource (only part 1 may)", n)
				}
				metaParts = append(metaParts, b)
				continue
			}
			if _, dup := found[b.Hash]; dup {
				add("resource %x is in two parts", b.Hash)
				continue
			}
			found[b.Hash] = loc{p, b}
		}
	}
	origBlobs, err := orig.Blobs()
	if err != nil {
		return res, err
	}
	var origMeta []Blob
	wanted := map[[20]byte]bool{}
	for _, b := range origBlobs {
		if b.IsMetadata() {
			origMeta = append(origMeta, b)
			continue
		}
		if wanted[b.Hash] {
			continue
		}
		wanted[b.Hash] = true
		l, ok := found[b.Hash]
		if !ok {
			add("resource %x (%d bytes at byte %d of the original) is in no part", b.Hash, b.StoredSize, b.Offset)
			continue
		}
		if err := sameResource(orig, b, l.w, l.b, &problems); err != nil {
			return res, err
		}
		res.Resources++
		res.Bytes += b.StoredSize
	}
	for h := range found {
		if !wanted[h] {
			add("a part holds resource %x, which the original does not", h)
		}
	}
	if len(origMeta) != len(metaParts) {
		add("part 1 has %d metadata resources, the original %d", len(metaParts), len(origMeta))
	} else {
		for i := range origMeta {
			if err := sameResource(orig, origMeta[i], byNum[1], metaParts[i], &problems); err != nil {
				return res, err
			}
			res.Resources++
			res.Bytes += origMeta[i].StoredSize
		}
	}
	if len(problems) > 0 {
		return res, mismatch(problems)
	}
	return res, nil
}

func mismatch(p []string) error {
	s := p[0]
	for _, q := range p[1:] {
		s += "; " + q
	}
	return fmt.Errorf("%w: %s", ErrMismatch, s)
}

// sameResource compares a resource of the original with its copy in a
// part, byte for byte; differences are added to problems, read errors
// returned.
func sameResource(ow *WIM, o Blob, pw *WIM, p Blob, problems *[]string) error {
	add := func(format string, args ...any) {
		if len(*problems) < maxMismatches {
			*problems = append(*problems, fmt.Sprintf(format, args...))
		}
	}
	if o.StoredSize != p.StoredSize || o.OriginalSize != p.OriginalSize || o.Flags&^ResSpanned != p.Flags&^ResSpanned || o.Hash != p.Hash {
		add("resource %x: part %d records %d/%d bytes flags %#x, the original %d/%d flags %#x", o.Hash, p.PartNumber, p.StoredSize, p.OriginalSize, p.Flags, o.StoredSize, o.OriginalSize, o.Flags)
		return nil
	}
	const step = 1 << 20
	a, b := make([]byte, min(step, o.StoredSize)), make([]byte, min(step, o.StoredSize))
	for off := int64(0); off < o.StoredSize; off += step {
		n := min(step, o.StoredSize-off)
		if err := readFull(ow.r, a[:n], o.Offset+off, "resource"); err != nil {
			return fmt.Errorf("original: %w", err)
		}
		if err := readFull(pw.r, b[:n], p.Offset+off, "resource"); err != nil {
			return fmt.Errorf("part %d: %w", p.PartNumber, err)
		}
		if !bytes.Equal(a[:n], b[:n]) {
			add("resource %x differs in part %d at byte %d of the part", o.Hash, p.PartNumber, p.Offset+off+int64(firstDiff(a[:n], b[:n])))
			return nil
		}
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return len(a)
}
